/**
 * The SPIFFE Workload API's response messages (proto/spiffe/workload/workload.proto) as proto-loader handles them:
 * keepCase field names, bytes as Buffer. The agent builds them, the CLI reads them; one definition for both.
 * (google.protobuf.Struct differs per side — what a sender may pass vs. what a receiver may get — and stays local.)
 */

export interface X509SvidMessage {
  spiffe_id: string;
  /** Concatenated DER chain, leaf first. */
  x509_svid: Buffer;
  /** PKCS#8 DER. */
  x509_svid_key: Buffer;
  /** Concatenated DER CA certificates of the SVID's trust domain. */
  bundle: Buffer;
  hint: string;
}

export interface X509SvidResponse {
  svids: X509SvidMessage[];
  crl: Buffer[];
  /** `spiffe://td` → concatenated DER CA certificates. */
  federated_bundles: Record<string, Buffer>;
}

export interface X509BundlesResponse {
  crl: Buffer[];
  /** `spiffe://td` → concatenated DER CA certificates. */
  bundles: Record<string, Buffer>;
}

export interface JwtSvidMessage {
  spiffe_id: string;
  svid: string;
  hint: string;
}

export interface JwtSvidResponse {
  svids: JwtSvidMessage[];
}

export interface JwtBundlesResponse {
  /** `spiffe://td` → JWKS JSON bytes. */
  bundles: Record<string, Buffer>;
}
