import * as path from 'node:path';

/** Where the admin socket is when neither --socket nor TESSERA_ADMIN_SOCKET says (the server's default data dir). */
export const DEFAULT_ADMIN_SOCKET = './.tessera/server/admin.sock';
export const ADMIN_SOCKET_ENV = 'TESSERA_ADMIN_SOCKET';

/** --socket, else $TESSERA_ADMIN_SOCKET, else the default; made absolute against the working directory. */
export function resolveAdminSocket(flag: string | undefined, env: NodeJS.ProcessEnv = process.env): string {
  const chosen = flag ?? (env[ADMIN_SOCKET_ENV] || undefined) ?? DEFAULT_ADMIN_SOCKET;
  return path.resolve(chosen);
}

/** The admin API services the CLI calls (tessera.admin.v1.<name>). */
export type AdminService =
  | 'EntryService'
  | 'AgentAdminService'
  | 'TokenService'
  | 'BundleService'
  | 'AuditService'
  | 'HealthService'
  | 'AuthorityService'
  | 'FederationService'
  | 'SvidService';

/** What commands use of the admin client: one unary call, failures already turned into one-line CommandFailures. */
export interface AdminCaller {
  readonly socketPath: string;
  call<Res = Record<string, unknown>>(service: AdminService, method: string, request?: object): Promise<Res>;
}

/** gRPC status names by code, for JSON output (without loading grpc-js for it). */
export const STATUS_NAMES: readonly string[] = [
  'OK',
  'CANCELLED',
  'UNKNOWN',
  'INVALID_ARGUMENT',
  'DEADLINE_EXCEEDED',
  'NOT_FOUND',
  'ALREADY_EXISTS',
  'PERMISSION_DENIED',
  'RESOURCE_EXHAUSTED',
  'FAILED_PRECONDITION',
  'ABORTED',
  'OUT_OF_RANGE',
  'UNIMPLEMENTED',
  'INTERNAL',
  'UNAVAILABLE',
  'DATA_LOSS',
  'UNAUTHENTICATED',
];
