#!/usr/bin/env python3
"""Validates a Tessera JWT-SVID with PyJWT, as a non-TypeScript relying party would.

Usage: validate_jwt.py ISSUER AUDIENCE < token

Follows OIDC discovery (<ISSUER>/.well-known/openid-configuration -> jwks_uri), fetches the keys with
jwt.PyJWKClient and decodes with the issuer, the audience and the algorithms the discovery document advertises.
Prints the claims as JSON and exits 0 when valid; prints the error and exits 1 when refused, 2 on a usage error.
"""
import json
import sys
import urllib.request

import jwt


def main() -> int:
    if len(sys.argv) != 3:
        print(__doc__, file=sys.stderr)
        return 2
    issuer, audience = sys.argv[1].rstrip("/"), sys.argv[2]
    token = sys.stdin.read().strip()
    with urllib.request.urlopen(f"{issuer}/.well-known/openid-configuration", timeout=10) as res:
        discovery = json.load(res)
    if discovery.get("issuer") != issuer:
        print(f"discovery issuer mismatch: {discovery.get('issuer')!r}", file=sys.stderr)
        return 1
    client = jwt.PyJWKClient(discovery["jwks_uri"])
    try:
        key = client.get_signing_key_from_jwt(token)
        claims = jwt.decode(
            token,
            key,
            algorithms=discovery["id_token_signing_alg_values_supported"],
            audience=audience,
            issuer=issuer,
            options={"require": ["exp", "iat", "iss", "sub", "aud"]},
        )
    except jwt.PyJWTError as err:
        print(f"refused: {type(err).__name__}: {err}", file=sys.stderr)
        return 1
    print(json.dumps({"pyjwt": jwt.__version__, "claims": claims}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
