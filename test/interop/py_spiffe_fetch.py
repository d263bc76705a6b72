"""py-spiffe (PyPI `spiffe`, unchanged) against a Workload API socket, for test/interop/py-spiffe.test.ts.

Usage: py_spiffe_fetch.py SOCKET_PATH AUDIENCE. Fetches the X.509 context, a JWT-SVID for AUDIENCE, the JWT bundles;
validates the JWT-SVID locally against the fetched bundle of its trust domain and through ValidateJWTSVID; prints one
JSON line of what it received. Any failure: a traceback on stderr, exit 1.
"""
import base64
import json
import sys

from cryptography.hazmat.primitives.serialization import Encoding
from spiffe import JwtSvid, WorkloadApiClient


def main() -> None:
    socket_path, audience = sys.argv[1], sys.argv[2]
    client = WorkloadApiClient(socket_path=f"unix://{socket_path}", default_timeout=30)
    try:
        context = client.fetch_x509_context()
        svid = context.default_svid
        jwt = client.fetch_jwt_svid(audience={audience})
        bundles = client.fetch_jwt_bundles()
        bundle = bundles.get_bundle_for_trust_domain(jwt.spiffe_id.trust_domain)
        if bundle is None:
            raise SystemExit(f"no JWT bundle for {jwt.spiffe_id.trust_domain}")
        parsed = JwtSvid.parse_and_validate(jwt.token, bundle, {audience})
        validated = client.validate_jwt_svid(jwt.token, audience)
        x509_bundle = context.x509_bundle_set.get_bundle_for_trust_domain(svid.spiffe_id.trust_domain)
        print(json.dumps({
            "x509SpiffeId": str(svid.spiffe_id),
            "x509Chain": [base64.b64encode(c.public_bytes(Encoding.DER)).decode() for c in svid.cert_chain],
            "x509BundleAuthorities": len(x509_bundle.x509_authorities) if x509_bundle else 0,
            "jwtSpiffeId": str(parsed.spiffe_id),
            "jwtValidatedSpiffeId": str(validated.spiffe_id),
            "jwtToken": jwt.token,
        }))
    finally:
        client.close()


if __name__ == "__main__":
    main()
