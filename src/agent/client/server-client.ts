import * as grpc from '@grpc/grpc-js';
import { unavailable } from '../../common/errors.js';
import { loadService } from '../../common/grpc/protos.js';
import type { Logger } from '../../common/log.js';
import type { TrustDomain } from '../../spiffe/id/index.js';
import {
  agentChannelCredentials,
  CHANNEL_OPTIONS,
  derSetKey,
  insecureChannelCredentials,
  type AgentTlsIdentity,
} from './credentials.js';
import {
  AGENT_PROTO,
  AGENT_SERVICE,
  type AttestationResultMessage,
  type AttestResponse,
  type AttestStartMessage,
  type SyncResponse,
} from './messages.js';
import { fromServiceError, isConnectivityFailure } from './status.js';

export interface ServerClientOptions {
  /** host:port of the server's agent API. */
  readonly address: string;
  readonly trustDomain: TrustDomain;
  readonly log: Logger;
  /** Told on every change of reachability (true after a call or stream message got through, false when one could not). */
  readonly onReachability?: (reachable: boolean) => void;
  /** Deadline of unary calls. Default 10 000 ms. */
  readonly callTimeoutMs?: number;
  /**
   * Longest wait of a channel between connection attempts while the server is down (grpc-js's own reconnect
   * backoff; calls fail fast meanwhile). Bounds how long after the server is back the agent notices. Default 5 000 ms.
   */
  readonly reconnectMaxMs?: number;
}

export type UnaryMethod = 'RenewAgent' | 'BatchSignX509Svid' | 'MintJwtSvid' | 'ReportWorkloadEvent';

/** How an attestation connection trusts the server. */
export type AttestTrust = { readonly roots: readonly Uint8Array[] } | { readonly insecure: true };

export interface AttestOutcome extends AttestationResultMessage {
  /** The server leaf certificate (DER) seen on the attestation connection, when the transport exposed it. */
  readonly serverLeaf?: Uint8Array;
}

interface Channel {
  readonly client: grpc.Client;
  readonly key: string;
  inFlight: number;
  superseded: boolean;
}

type UnaryFn = (req: unknown, md: grpc.Metadata, opts: grpc.CallOptions, cb: (err: grpc.ServiceError | null, res: unknown) => void) => void;

const DEFAULT_CALL_TIMEOUT_MS = 10_000;

/**
 * The agent's side of tessera.agent.v1: one mTLS channel that presents the agent SVID and trusts only the trust
 * domain's X.509 authorities, checking that the server is spiffe://<td>/tessera/server. {@link setCredentials} builds a
 * new channel whenever the agent SVID or the roots change (a channel's TLS credentials are fixed); the superseded one
 * is closed once its calls are done, and listeners (the sync consumer) are told so they reopen their streams.
 * Failures come back as TesseraErrors (src/agent/client/status.ts).
 */
export class ServerClient {
  readonly address: string;
  readonly serverId: string;
  readonly #log: Logger;
  readonly #Client: grpc.ServiceClientConstructor;
  readonly #callTimeoutMs: number;
  readonly #onReachability: ((reachable: boolean) => void) | undefined;
  readonly #channelOptions: grpc.ChannelOptions;
  readonly #listeners = new Set<() => void>();
  #channel: Channel | undefined;
  #reachable: boolean | undefined;
  #closed = false;

  constructor(options: ServerClientOptions) {
    this.address = options.address;
    this.serverId = `${options.trustDomain.idString()}/tessera/server`;
    this.#log = options.log;
    this.#Client = loadService(AGENT_PROTO, AGENT_SERVICE).Client;
    this.#callTimeoutMs = options.callTimeoutMs ?? DEFAULT_CALL_TIMEOUT_MS;
    this.#onReachability = options.onReachability;
    const reconnectMaxMs = options.reconnectMaxMs ?? 5_000;
    this.#channelOptions = {
      ...CHANNEL_OPTIONS,
      'grpc.max_reconnect_backoff_ms': reconnectMaxMs,
      'grpc.initial_reconnect_backoff_ms': Math.min(500, reconnectMaxMs),
    };
  }

  /** True once credentials with an agent SVID are set. */
  get ready(): boolean {
    return this.#channel !== undefined;
  }

  /** The last known reachability of the server (undefined before any call). */
  get reachable(): boolean | undefined {
    return this.#reachable;
  }

  /** Uses `identity` (the agent SVID) and `roots` for calls from now on; a no-op when neither changed. */
  setCredentials(roots: readonly Uint8Array[], identity: AgentTlsIdentity): void {
    if (this.#closed) return;
    const key = `${derSetKey(roots)}:${derSetKey(identity.chain)}`;
    if (this.#channel?.key === key) return;
    const client = new this.#Client(this.address, agentChannelCredentials(roots, this.serverId, identity), this.#channelOptions);
    const old = this.#channel;
    this.#channel = { client, key, inFlight: 0, superseded: false };
    if (old) {
      old.superseded = true;
      if (old.inFlight === 0) old.client.close();
    }
    for (const l of [...this.#listeners]) l();
  }

  /** Called after every credentials change (new channel). Returns an unsubscribe function. */
  onCredentialsChange(listener: () => void): () => void {
    this.#listeners.add(listener);
    return () => void this.#listeners.delete(listener);
  }

  /** One unary call on the current channel. UNAVAILABLE when no credentials are set yet. */
  unary<Res>(method: UnaryMethod, request: object, timeoutMs = this.#callTimeoutMs): Promise<Res> {
    const channel = this.#acquire();
    if (!channel) return Promise.reject(unavailable('the agent is not attested yet'));
    const fn = (channel.client as unknown as Record<string, UnaryFn>)[method]!;
    return new Promise<Res>((resolve, reject) => {
      fn.call(channel.client, request, new grpc.Metadata(), { deadline: Date.now() + timeoutMs }, (err, res) => {
        this.#release(channel);
        if (err) {
          const e = fromServiceError(err, `${method} failed`);
          if (isConnectivityFailure(e)) this.reportReachable(false, e.message);
          else this.reportReachable(true);
          reject(e);
          return;
        }
        this.reportReachable(true);
        resolve(res as Res);
      });
    });
  }

  /** Opens a Sync stream on the current channel; `release` must be called once the stream is over. */
  openSync(): { stream: grpc.ClientReadableStream<SyncResponse>; release: () => void } | undefined {
    const channel = this.#acquire();
    if (!channel) return undefined;
    const fn = (channel.client as unknown as Record<string, (req: unknown, md: grpc.Metadata, opts: grpc.CallOptions) => grpc.ClientReadableStream<SyncResponse>>)['Sync']!;
    const stream = fn.call(channel.client, {}, new grpc.Metadata(), {});
    let released = false;
    return {
      stream,
      release: () => {
        if (released) return;
        released = true;
        this.#release(channel);
      },
    };
  }

  /**
   * Runs Attest on a separate connection without client certificate: sends `start`, answers each challenge with
   * `answer(nonce)`, resolves with the result (and the server leaf seen on the connection).
   */
  attest(
    start: AttestStartMessage,
    answer: (nonce: Buffer) => Buffer | Promise<Buffer>,
    trust: AttestTrust,
    timeoutMs = 30_000,
  ): Promise<AttestOutcome> {
    if (this.#closed) return Promise.reject(unavailable('the server client is closed'));
    const credentials = 'insecure' in trust ? insecureChannelCredentials() : agentChannelCredentials(trust.roots, this.serverId, null);
    const client = new this.#Client(this.address, credentials, this.#channelOptions);
    return new Promise<AttestOutcome>((resolve, reject) => {
      const fn = (client as unknown as Record<string, (md: grpc.Metadata, opts: grpc.CallOptions) => grpc.ClientDuplexStream<object, AttestResponse>>)['Attest']!;
      const call = fn.call(client, new grpc.Metadata(), { deadline: Date.now() + timeoutMs });
      let result: AttestOutcome | undefined;
      let settled = false;
      const fail = (err: unknown) => {
        if (settled) return;
        settled = true;
        const e = fromServiceError(err, 'attestation failed');
        this.reportReachable(!isConnectivityFailure(e), e.message);
        client.close();
        reject(e);
      };
      call.on('data', (msg: AttestResponse) => {
        if (msg.step === 'challenge' && msg.challenge) {
          Promise.resolve()
            .then(() => answer(msg.challenge!))
            .then(
              (signature) => call.write({ challenge_response: signature }),
              (err: unknown) => {
                call.cancel();
                fail(err);
              },
            );
        } else if (msg.step === 'result' && msg.result) {
          const leaf = call.getAuthContext()?.sslPeerCertificate?.raw;
          result = { ...msg.result, ...(leaf ? { serverLeaf: new Uint8Array(leaf) } : {}) };
          call.end();
        }
      });
      call.on('error', fail);
      call.on('status', (s: grpc.StatusObject) => {
        if (s.code !== grpc.status.OK) return; // 'error' reports it
        if (settled) return;
        settled = true;
        client.close();
        if (result) {
          this.reportReachable(true);
          resolve(result);
        } else {
          reject(unavailable('attestation stream ended without a result'));
        }
      });
      call.write({ start });
    });
  }

  /** Records whether the server answered; logs and reports transitions only. */
  reportReachable(reachable: boolean, reason?: string): void {
    if (this.#reachable === reachable) return;
    const before = this.#reachable;
    this.#reachable = reachable;
    if (reachable) {
      if (before === false) this.#log.info({ server: this.address }, 'Server reachable again');
    } else {
      this.#log.warn({ server: this.address, reason }, 'Server unreachable; serving cached SVIDs and retrying');
    }
    this.#onReachability?.(reachable);
  }

  /** Closes every channel (calls in flight fail with CANCELLED/UNAVAILABLE). */
  close(): void {
    this.#closed = true;
    this.#channel?.client.close();
    this.#channel = undefined;
    this.#listeners.clear();
  }

  #acquire(): Channel | undefined {
    if (this.#closed || !this.#channel) return undefined;
    this.#channel.inFlight++;
    return this.#channel;
  }

  #release(channel: Channel): void {
    channel.inFlight--;
    if (channel.superseded && channel.inFlight === 0) channel.client.close();
  }
}
