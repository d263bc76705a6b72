import * as grpc from '@grpc/grpc-js';
import { loadService } from '../common/grpc/protos.js';
import type { AdminCaller, AdminService } from './admin-socket.js';
import { CommandFailure } from './command.js';

/**
 * The CLI's connection to the server's admin API (proto/tessera/admin/v1) over its Unix socket. The CLI never imports
 * server code: it speaks gRPC like any other client, and the server is the real guard of every input. Loaded only
 * when a command calls the server, so usage errors and --help stay quick.
 */

export const DEFAULT_DEADLINE_MS = 10_000;

const PROTO_FILES: Record<AdminService, string> = {
  EntryService: 'tessera/admin/v1/entry.proto',
  AgentAdminService: 'tessera/admin/v1/agent.proto',
  TokenService: 'tessera/admin/v1/token.proto',
  BundleService: 'tessera/admin/v1/bundle.proto',
  AuditService: 'tessera/admin/v1/audit.proto',
  HealthService: 'tessera/admin/v1/health.proto',
  AuthorityService: 'tessera/admin/v1/authority.proto',
  FederationService: 'tessera/admin/v1/federation.proto',
  SvidService: 'tessera/admin/v1/svid.proto',
};

export interface AdminClientOptions {
  /** Per call; default 10 s. */
  readonly deadlineMs?: number;
}

/** One connection (a grpc-js channel per service) to the admin socket. Close it when the command is done. */
export class AdminClient implements AdminCaller {
  readonly socketPath: string;
  readonly #deadlineMs: number;
  readonly #clients = new Map<AdminService, grpc.Client>();

  constructor(socketPath: string, options: AdminClientOptions = {}) {
    this.socketPath = socketPath;
    this.#deadlineMs = options.deadlineMs ?? DEFAULT_DEADLINE_MS;
  }

  /**
   * One unary call. Failures become a {@link CommandFailure} whose message is one line: the server's own message for
   * a refusal, or "cannot reach the server admin socket at <path>: <reason>" when nothing answers.
   */
  call<Res = Record<string, unknown>>(service: AdminService, method: string, request: object = {}): Promise<Res> {
    const client = this.#client(service);
    const fn = (client as unknown as Record<string, unknown>)[method];
    if (typeof fn !== 'function') throw new Error(`${service} has no method ${method}`);
    return new Promise<Res>((resolve, reject) => {
      (fn as (...a: unknown[]) => void).call(
        client,
        request,
        { deadline: Date.now() + this.#deadlineMs },
        (err: grpc.ServiceError | null, response: Res) => {
          if (err) reject(this.#failure(err));
          else resolve(response);
        },
      );
    });
  }

  close(): void {
    for (const client of this.#clients.values()) client.close();
    this.#clients.clear();
  }

  #client(service: AdminService): grpc.Client {
    let client = this.#clients.get(service);
    if (client === undefined) {
      const { Client } = loadService(PROTO_FILES[service], `tessera.admin.v1.${service}`);
      client = new Client(`unix://${this.socketPath}`, grpc.credentials.createInsecure(), {
        // Fail at once when nothing listens instead of retrying until the deadline.
        'grpc.enable_retries': 0,
      });
      this.#clients.set(service, client);
    }
    return client;
  }

  #failure(err: grpc.ServiceError): CommandFailure {
    const details = (err.details || err.message || '').split('\n')[0]!;
    if (err.code === grpc.status.UNAVAILABLE && isConnectionFailure(details)) {
      const message = `cannot reach the server admin socket at ${this.socketPath}: ${connectReason(details)}`;
      return new CommandFailure(message, { status: 'UNAVAILABLE' });
    }
    if (err.code === grpc.status.DEADLINE_EXCEEDED) {
      return new CommandFailure(
        `the server did not answer within ${this.#deadlineMs / 1000} s on the admin socket at ${this.socketPath}`,
        { status: 'DEADLINE_EXCEEDED' },
      );
    }
    const status = grpc.status[err.code] ?? 'UNKNOWN';
    return new CommandFailure(details || status.toLowerCase().replace(/_/g, ' '), { status });
  }
}

/** grpc-js's wording when the channel could not connect (as opposed to a server that answered UNAVAILABLE). */
function isConnectionFailure(details: string): boolean {
  // Anchored: a server's own UNAVAILABLE message may mention ECONNREFUSED (e.g. a federated peer that is down).
  return /^(No connection established|Connection dropped|Failed to connect|connect E[A-Z]+)/.test(details);
}

function connectReason(details: string): string {
  const code = /\b(E[A-Z]{3,})\b/.exec(details)?.[1];
  switch (code) {
    case 'ENOENT':
      return 'no such socket (is the server running? pass --socket or set TESSERA_ADMIN_SOCKET)';
    case 'ECONNREFUSED':
      return 'connection refused (the server is not running)';
    case 'EACCES':
    case 'EPERM':
      return "permission denied (the socket is 0600: run as the server's user)";
    case 'ENOTSOCK':
      return 'not a socket';
    default:
      return details.replace(/^No connection established\. Last error: /, '').replace(/^Error: /, '');
  }
}
