import * as grpc from '@grpc/grpc-js';
import { loadService } from '../common/grpc/protos.js';
import { describeEndpoint, grpcTarget, type WorkloadEndpoint } from './workload-endpoint.js';
import {
  WorkloadFailure,
  type JwtBundlesResponse,
  type JwtSvidResponse,
  type ValidateJwtSvidResponse,
  type WorkloadCaller,
  type X509BundlesResponse,
  type X509SvidResponse,
} from './workload-messages.js';

/**
 * A small SPIFFE Workload API client, behaving as go-spiffe's workloadapi client does (spiffe-notes.md §9): plaintext
 * gRPC, `workload.spiffe.io: true` on every call, one-shot fetches that open the stream, read ONE message and cancel.
 * The CLI talks to the agent only through this, like any workload. Loaded only when a command calls the API.
 */

export const DEFAULT_DEADLINE_MS = 10_000;
export const SECURITY_HEADER = 'workload.spiffe.io';

export interface WorkloadClientOptions {
  /** Per one-shot call; default 10 s. Watches have no deadline. */
  readonly deadlineMs?: number;
}

type StreamMethod = 'FetchX509SVID' | 'FetchX509Bundles' | 'FetchJWTBundles';
type UnaryMethod = 'FetchJWTSVID' | 'ValidateJWTSVID';

export class WorkloadClient implements WorkloadCaller {
  readonly endpoint: WorkloadEndpoint;
  readonly #deadlineMs: number;
  readonly #client: grpc.Client;

  constructor(endpoint: WorkloadEndpoint, options: WorkloadClientOptions = {}) {
    this.endpoint = endpoint;
    this.#deadlineMs = options.deadlineMs ?? DEFAULT_DEADLINE_MS;
    const { Client } = loadService('spiffe/workload/workload.proto', 'SpiffeWorkloadAPI');
    this.#client = new Client(grpcTarget(endpoint), grpc.credentials.createInsecure(), {
      // Fail at once when nothing listens instead of retrying until the deadline.
      'grpc.enable_retries': 0,
    });
  }

  fetchX509Svid(): Promise<X509SvidResponse> {
    return this.#first<X509SvidResponse>('FetchX509SVID');
  }

  fetchX509Bundles(): Promise<X509BundlesResponse> {
    return this.#first<X509BundlesResponse>('FetchX509Bundles');
  }

  fetchJwtBundles(): Promise<JwtBundlesResponse> {
    return this.#first<JwtBundlesResponse>('FetchJWTBundles');
  }

  fetchJwtSvid(audience: readonly string[], spiffeId = ''): Promise<JwtSvidResponse> {
    return this.#unary<JwtSvidResponse>('FetchJWTSVID', { audience: [...audience], spiffe_id: spiffeId });
  }

  validateJwtSvid(audience: string, token: string): Promise<ValidateJwtSvidResponse> {
    return this.#unary<ValidateJwtSvidResponse>('ValidateJWTSVID', { audience, svid: token });
  }

  watchX509Svid(onMessage: (m: X509SvidResponse) => void, signal: AbortSignal): Promise<'aborted' | 'ended'> {
    return new Promise((resolve, reject) => {
      if (signal.aborted) return resolve('aborted');
      const call = this.#stream('FetchX509SVID', {});
      let aborted = false;
      const onAbort = () => {
        aborted = true;
        call.cancel();
      };
      signal.addEventListener('abort', onAbort, { once: true });
      const done = () => signal.removeEventListener('abort', onAbort);
      call.on('data', (m: X509SvidResponse) => {
        if (!aborted) onMessage(m);
      });
      call.on('error', (err: grpc.ServiceError) => {
        done();
        if (aborted) resolve('aborted');
        else reject(this.#failure(err, 'FetchX509SVID'));
      });
      call.on('status', (s: grpc.StatusObject) => {
        if (s.code === grpc.status.OK) {
          done();
          resolve('ended');
        }
      });
    });
  }

  close(): void {
    this.#client.close();
  }

  #metadata(): grpc.Metadata {
    const md = new grpc.Metadata();
    md.set(SECURITY_HEADER, 'true');
    return md;
  }

  #stream(method: StreamMethod, request: object, deadline?: number): grpc.ClientReadableStream<unknown> {
    const fn = (this.#client as unknown as Record<string, Function>)[method]!;
    return fn.call(this.#client, request, this.#metadata(), deadline === undefined ? {} : { deadline });
  }

  /** Opens the stream, takes the first message and cancels, as go-spiffe's Fetch* one-shots do. */
  #first<T>(method: StreamMethod): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const call = this.#stream(method, {}, Date.now() + this.#deadlineMs);
      let settled = false;
      call.on('data', (m: T) => {
        if (settled) return;
        settled = true;
        resolve(m);
        call.cancel();
      });
      call.on('error', (err: grpc.ServiceError) => {
        if (settled) return; // the CANCELLED that follows our own cancel()
        settled = true;
        reject(this.#failure(err, method));
      });
      call.on('status', (s: grpc.StatusObject) => {
        if (settled || s.code !== grpc.status.OK) return;
        settled = true;
        const message = `the Workload API at ${this.#where()} ended ${method} without sending a message`;
        reject(new WorkloadFailure(message, s.code));
      });
    });
  }

  #unary<T>(method: UnaryMethod, request: object): Promise<T> {
    const fn = (this.#client as unknown as Record<string, Function>)[method]!;
    return new Promise<T>((resolve, reject) => {
      fn.call(
        this.#client,
        request,
        this.#metadata(),
        { deadline: Date.now() + this.#deadlineMs },
        (err: grpc.ServiceError | null, response: T) => {
          if (err) reject(this.#failure(err, method));
          else resolve(response);
        },
      );
    });
  }

  #where(): string {
    return describeEndpoint(this.endpoint);
  }

  #failure(err: grpc.ServiceError, method: string): WorkloadFailure {
    const details = (err.details || err.message || '').split('\n')[0]!.trim();
    const where = this.#where();
    const fail = (message: string) => new WorkloadFailure(message, err.code, details);
    switch (err.code) {
      case grpc.status.UNAVAILABLE:
        if (isConnectionFailure(details)) {
          return fail(`cannot reach the Workload API at ${where}: ${connectReason(details, this.endpoint)}`);
        }
        return fail(`the Workload API at ${where} is unavailable: ${details || 'no reason given'}`);
      case grpc.status.PERMISSION_DENIED:
        return fail(
          `no identity issued for this process (the Workload API at ${where} said ${JSON.stringify(details)}; ` +
            'is there a registration entry whose selectors match this process?)',
        );
      case grpc.status.DEADLINE_EXCEEDED:
        return fail(`the Workload API at ${where} did not answer within ${this.#deadlineMs / 1000} s`);
      case grpc.status.UNIMPLEMENTED:
        return fail(`the Workload API at ${where} does not implement ${method}${details ? ` (${details})` : ''}`);
      case grpc.status.INVALID_ARGUMENT:
        return fail(`the Workload API refused the request: ${details || 'invalid argument'}`);
      default:
        return fail(
          `${method} failed: ${details || grpc.status[err.code]?.toLowerCase().replace(/_/g, ' ') || 'unknown error'}`,
        );
    }
  }
}

/** grpc-js's wording when the channel could not connect (as opposed to a server that answered UNAVAILABLE). */
function isConnectionFailure(details: string): boolean {
  // Anchored: an agent's own UNAVAILABLE message may mention ECONNREFUSED (its server is down), which says nothing
  // about this client's connection to the agent.
  return /^(No connection established|Connection dropped|Failed to connect|connect E[A-Z]+)/.test(details);
}

function connectReason(details: string, endpoint: WorkloadEndpoint): string {
  const code = /\b(E[A-Z]{3,})\b/.exec(details)?.[1];
  switch (code) {
    case 'ENOENT':
      return 'no such socket (is the agent running? pass --socket or set SPIFFE_ENDPOINT_SOCKET)';
    case 'ECONNREFUSED':
      return endpoint.kind === 'unix'
        ? 'connection refused (the socket exists but no agent listens on it)'
        : 'connection refused (is the agent listening there?)';
    case 'EACCES':
    case 'EPERM':
      return 'permission denied (this user may not open the socket)';
    case 'ENOTSOCK':
      return 'not a socket';
    default:
      return (
        details.replace(/^No connection established\. Last error: /, '').replace(/^Error: /, '') || 'unknown reason'
      );
  }
}
