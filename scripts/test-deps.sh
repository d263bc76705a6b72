#!/usr/bin/env bash
# Installs what the test suite needs beyond npm packages (run by `npm test` as its pretest step; idempotent and quick
# once done): the Go modules of the go-spiffe interop harness and of the Kubernetes manifest check (k8s.io/api), PyJWT
# for the Python JWT validator, py-spiffe, and the java-spiffe client of test/interop/java (Maven; its downloads are
# cached in ~/.m2).
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

# py-spiffe (test/interop/py_spiffe_fetch.py) from PyPI into its own venv.
if ! .tessera/py-spiffe-venv/bin/python -c 'import spiffe' 2>/dev/null; then
  python3 -m venv .tessera/py-spiffe-venv
  .tessera/py-spiffe-venv/bin/python -m pip install --quiet --disable-pip-version-check 'spiffe==0.3.2'
fi

# java-spiffe (Maven Central) for test/interop/java-spiffe.test.ts: compile and copy its runtime jars into target/.
# Needs Java >= 17 and Maven; rebuilt only when the pom or the source is newer than the build.
JAVA_DIR=test/interop/java
JAVA_STAMP=$JAVA_DIR/target/lib/java-spiffe-core-0.8.17.jar
if [ ! -f "$JAVA_STAMP" ] || [ -n "$(find "$JAVA_DIR/pom.xml" "$JAVA_DIR/src" -newer "$JAVA_STAMP" -type f)" ]; then
  if ! command -v mvn >/dev/null || ! command -v java >/dev/null; then
    echo "test-deps: Java >= 17 and Maven are needed for test/interop/java (java-spiffe); install them" >&2
    exit 1
  fi
  (cd "$JAVA_DIR" && mvn -B -q package -DskipTests)
  touch "$JAVA_STAMP"
fi
