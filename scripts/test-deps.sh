#!/usr/bin/env bash
# Installs what the test suite needs beyond npm packages (run by `npm test` as its pretest step; idempotent and quick
# once done): the Go modules of the go-spiffe interop harness and of the Kubernetes manifest check (k8s.io/api), and
# PyJWT for the Python JWT validator.
set -euo pipefail
cd "$(dirname "$0")/.."

GO=$(command -v go || echo /usr/local/go/bin/go)
if [ ! -x "$GO" ]; then
  echo "test-deps: Go >= 1.24 is needed for test/interop (go-spiffe); install it or put it on PATH" >&2
  exit 1
fi
(cd test/interop && "$GO" mod download)
(cd test/deploy && "$GO" mod download)

# test/deploy/systemd.test.ts verifies the units with systemd-analyze and runs their readiness checks (/bin/sh, curl).
for tool in /usr/bin/systemd-analyze /usr/bin/curl; do
  if [ ! -x "$tool" ]; then
    echo "test-deps: $tool is needed by test/deploy/systemd.test.ts (Debian: apt-get install systemd curl)" >&2
    exit 1
  fi
done

# PyJWT (test/interop/validate_jwt.py) from PyPI into a venv under the git-ignored .tessera/.
if ! .tessera/pyjwt-venv/bin/python -c 'import jwt, cryptography' 2>/dev/null; then
  python3 -m venv .tessera/pyjwt-venv
  .tessera/pyjwt-venv/bin/python -m pip install --quiet --disable-pip-version-check 'pyjwt[crypto]==2.15.1'
fi
