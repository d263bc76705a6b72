import type {
  JwtBundlesResponse,
  JwtSvidResponse,
  X509BundlesResponse,
  X509SvidResponse,
} from '../common/grpc/workload-messages.js';
import { STATUS_NAMES } from './admin-socket.js';
import { CommandFailure } from './command.js';
import type { WorkloadEndpoint } from './workload-endpoint.js';

/**
 * The Workload API messages as grpc-js hands them to the CLI (proto/spiffe/workload/workload.proto loaded with
 * keepCase, bytes as Buffer, defaults filled), and what commands see of the client. No grpc-js import here, so
 * commands can be loaded (for --help and usage errors) without it.
 */

export type {
  JwtBundlesResponse,
  JwtSvidMessage,
  JwtSvidResponse,
  X509BundlesResponse,
  X509SvidMessage,
  X509SvidResponse,
} from '../common/grpc/workload-messages.js';

/**
 * google.protobuf.Value as grpc-js hands it over. The well-known types come from protobufjs's bundled descriptors,
 * whose field names are camelCase (`stringValue`) whatever keepCase says; `kind` names the member that is set. The
 * snake_case names are read too, in case a loader ever keeps them.
 */
export interface ValueMessage {
  kind?: string;
  nullValue?: unknown;
  numberValue?: number;
  stringValue?: string;
  boolValue?: boolean;
  structValue?: StructMessage | null;
  listValue?: { values?: ValueMessage[] } | null;
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
  /** The server's own status message (first line), when it sent one. */
  readonly details: string;

  constructor(message: string, code: number, details = '') {
    super(message, { status: STATUS_NAMES[code] ?? 'UNAVAILABLE' });
    this.code = code;
    this.details = details;
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

/** Each member of Value's `kind` oneof: [what, camelCase name, snake_case name]. */
const VALUE_KINDS: ReadonlyArray<readonly [string, keyof ValueMessage, keyof ValueMessage]> = [
  ['string', 'stringValue', 'string_value'],
  ['number', 'numberValue', 'number_value'],
  ['bool', 'boolValue', 'bool_value'],
  ['struct', 'structValue', 'struct_value'],
  ['list', 'listValue', 'list_value'],
  ['null', 'nullValue', 'null_value'],
];

function valueToJson(v: ValueMessage | null | undefined): unknown {
  if (v === null || v === undefined) return null;
  const set = VALUE_KINDS.find(
    ([, camel, snake]) =>
      v.kind === camel || v.kind === snake || (v.kind === undefined && (v[camel] ?? v[snake]) !== undefined),
  );
  if (set === undefined) return null;
  const [kind, camel, snake] = set;
  const raw = v[camel] ?? v[snake];
  switch (kind) {
    case 'string':
      return (raw as string | undefined) ?? '';
    case 'number':
      return (raw as number | undefined) ?? 0;
    case 'bool':
      return (raw as boolean | undefined) ?? false;
    case 'struct':
      return structToJson(raw as StructMessage | null | undefined);
    case 'list':
      return ((raw as { values?: ValueMessage[] } | null | undefined)?.values ?? []).map(valueToJson);
    default:
      return null;
  }
}
