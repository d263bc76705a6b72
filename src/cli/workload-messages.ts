import { CommandFailure } from './command.js';
import type { WorkloadEndpoint } from './workload-endpoint.js';

/**
 * The Workload API messages as grpc-js hands them to the CLI (proto/spiffe/workload/workload.proto loaded with
 * keepCase, bytes as Buffer, defaults filled), and what commands see of the client. No grpc-js import here, so
 * commands can be loaded (for --help and usage errors) without it.
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
  /** `spiffe://td` (or `td`) → concatenated DER. */
  federated_bundles: Record<string, Buffer>;
}

export interface X509BundlesResponse {
  crl: Buffer[];
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

/** google.protobuf.Value as loaded with keepCase and oneofs (`kind` names the member that is set). */
export interface ValueMessage {
  kind?: string;
  null_value?: unknown;
  number_value?: number;
  string_value?: string;
  bool_value?: boolean;
  struct_value?: StructMessage | null;
  list_value?: { values?: ValueMessage[] } | null;
}

export interface StructMessage {
  fields?: Record<string, ValueMessage>;
}

export interface ValidateJwtSvidResponse {
  spiffe_id: string;
  claims: StructMessage | null;
}

/** A failed Workload API call: one line for the user, plus the gRPC status code (watch decides on it). */
export class WorkloadFailure extends CommandFailure {
  /** gRPC status code; -1 when the call never reached the server in a way grpc-js reports with a code. */
  readonly code: number;

  constructor(message: string, code: number) {
    super(message);
    this.code = code;
  }
}

/** What commands use of the Workload API client; every failure is a one-line {@link WorkloadFailure}. */
export interface WorkloadCaller {
  readonly endpoint: WorkloadEndpoint;
  /** FetchX509SVID: the first message of the stream (the stream is then cancelled). */
  fetchX509Svid(): Promise<X509SvidResponse>;
  fetchX509Bundles(): Promise<X509BundlesResponse>;
  fetchJwtBundles(): Promise<JwtBundlesResponse>;
  fetchJwtSvid(audience: readonly string[], spiffeId?: string): Promise<JwtSvidResponse>;
  validateJwtSvid(audience: string, token: string): Promise<ValidateJwtSvidResponse>;
  /**
   * Streams FetchX509SVID, calling `onMessage` for each message, until `signal` aborts (resolves `'aborted'`) or the
   * server ends the stream with OK (resolves `'ended'`). A failed stream rejects with a WorkloadFailure.
   */
  watchX509Svid(onMessage: (m: X509SvidResponse) => void, signal: AbortSignal): Promise<'aborted' | 'ended'>;
}

/** google.protobuf.Struct → plain JSON object. */
export function structToJson(struct: StructMessage | null | undefined): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(struct?.fields ?? {})) out[key] = valueToJson(value);
  return out;
}

function valueToJson(v: ValueMessage | null | undefined): unknown {
  if (v === null || v === undefined) return null;
  const kind =
    v.kind ??
    ['string_value', 'number_value', 'bool_value', 'struct_value', 'list_value', 'null_value'].find(
      (k) => (v as Record<string, unknown>)[k] !== undefined,
    );
  switch (kind) {
    case 'string_value':
      return v.string_value ?? '';
    case 'number_value':
      return v.number_value ?? 0;
    case 'bool_value':
      return v.bool_value ?? false;
    case 'struct_value':
      return structToJson(v.struct_value);
    case 'list_value':
      return (v.list_value?.values ?? []).map(valueToJson);
    default:
      return null;
  }
}
