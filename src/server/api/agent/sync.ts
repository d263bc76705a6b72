import type * as grpc from '@grpc/grpc-js';
import { unixSeconds } from '../../../common/clock.js';
import { permissionDenied } from '../../../common/errors.js';
import type { SpiffeBundle } from '../../../spiffe/bundle/index.js';
import type { AgentRecord, Entry, Selector } from '../../datastore/index.js';
import type { AgentApiContext } from './context.js';
import { failStream } from './call.js';
import { toProtoEntry, type SyncRequest, type SyncResponse } from './messages.js';

const marshalled = new WeakMap<SpiffeBundle, Buffer>();

function bundleBytes(bundle: SpiffeBundle): Buffer {
  let bytes = marshalled.get(bundle);
  if (!bytes) marshalled.set(bundle, (bytes = Buffer.from(bundle.marshal(), 'utf8')));
  return bytes;
}

/**
 * Sync (server stream): the full state at once, then the full state again within `syncDebounceMs` of any entry or
 * bundle change that alters what this agent receives (identical states are not re-sent). The stream ends with
 * PermissionDenied when the agent is banned or evicted (noticed within agentRecheckMs, or at once with
 * AgentChangeEvents), and releases every listener when it ends or is cancelled.
 */
export function syncHandler(ctx: AgentApiContext): grpc.handleServerStreamingCall<SyncRequest, SyncResponse> {
  return (call) => {
    ctx.authenticate(call).then(
      (caller) => {
        if (call.cancelled) return;
        new SyncStream(ctx, call, caller.agentId, caller.record).start();
        ctx.agents.touch(caller.agentId, unixSeconds(ctx.clock)).catch(() => undefined);
      },
      (err: unknown) => failStream(call, err, ctx.log),
    );
  };
}

class SyncStream {
  readonly #ctx: AgentApiContext;
  readonly #call: grpc.ServerWritableStream<SyncRequest, SyncResponse>;
  readonly #agentId: string;
  #selectors: readonly Selector[];
  #selectorsKey: string;
  #lastKey: string | undefined;
  #lastRevision = 0;
  #timer: NodeJS.Timeout | undefined;
  #closed = false;
  readonly #cleanups: (() => void)[] = [];

  constructor(ctx: AgentApiContext, call: grpc.ServerWritableStream<SyncRequest, SyncResponse>, agentId: string, record: AgentRecord) {
    this.#ctx = ctx;
    this.#call = call;
    this.#agentId = agentId;
    this.#selectors = record.selectors;
    this.#selectorsKey = JSON.stringify(record.selectors);
  }

  start(): void {
    const close = () => this.#close();
    this.#call.on('cancelled', close);
    this.#call.on('close', close);
    this.#call.on('finish', close);
    this.#call.on('error', close);
    this.#cleanups.push(
      () => this.#call.off('cancelled', close),
      () => this.#call.off('close', close),
      () => this.#call.off('finish', close),
      () => this.#call.off('error', close),
      this.#ctx.entries.onChange(() => this.#schedule()),
      this.#ctx.bundle.onBundleChange(() => this.#schedule()),
      this.#ctx.federatedBundles?.onFederatedBundleChange(() => this.#schedule()) ?? (() => undefined),
      this.#ctx.watcher.watch(this.#agentId, (record) => this.#onRecord(record)),
    );
    this.#send();
  }

  #onRecord(record: AgentRecord | null): void {
    if (this.#closed) return;
    if (!record || record.banned) {
      const err = permissionDenied(record ? 'agent is banned' : 'agent is not attested (evicted?)');
      this.#ctx.log.info({ agentId: this.#agentId, banned: record?.banned ?? false }, 'Sync stream ended: agent refused');
      this.#close();
      failStream(this.#call, err, this.#ctx.log);
      return;
    }
    const key = JSON.stringify(record.selectors);
    if (key !== this.#selectorsKey) {
      this.#selectors = record.selectors;
      this.#selectorsKey = key;
      this.#schedule();
    }
  }

  #schedule(): void {
    if (this.#closed || this.#timer) return;
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      this.#send();
    }, this.#ctx.syncDebounceMs);
  }

  #send(): void {
    if (this.#closed) return;
    let entries: readonly Entry[];
    let bundle: Buffer;
    let federated: Record<string, Buffer>;
    try {
      entries = this.#ctx.entries.authorizedFor(this.#agentId, this.#selectors).entries;
      bundle = bundleBytes(this.#ctx.bundle.currentBundle());
      federated = this.#federatedBundles(entries);
    } catch (err) {
      this.#close();
      failStream(this.#call, err, this.#ctx.log);
      return;
    }
    let key = bundle.toString('latin1');
    for (const e of entries) key += `\n${e.id}:${e.revision}`;
    for (const [td, bytes] of Object.entries(federated)) key += `\n${td}=${bytes.toString('latin1')}`;
    if (key === this.#lastKey) return;
    this.#lastKey = key;
    this.#lastRevision = Math.max(this.#lastRevision + 1, this.#ctx.clock.now().getTime());
    this.#call.write({
      entries: entries.map(toProtoEntry),
      bundle,
      federated_bundles: federated,
      revision: this.#lastRevision,
    });
  }

  /**
   * The federated bundles the agent's entries federate with, keyed `spiffe://<td>`, sorted (so equal states give equal
   * keys). A trust domain without a bundle yet is left out; the own trust domain never appears.
   */
  #federatedBundles(entries: readonly Entry[]): Record<string, Buffer> {
    const source = this.#ctx.federatedBundles;
    const out: Record<string, Buffer> = {};
    if (!source) return out;
    const wanted = new Set<string>();
    for (const e of entries) for (const td of e.federatesWith) wanted.add(td);
    wanted.delete(this.#ctx.trustDomain.name);
    for (const td of [...wanted].sort()) {
      const b = source.federatedBundle(td);
      if (b) out[`spiffe://${td}`] = bundleBytes(b);
    }
    return out;
  }

  #close(): void {
    if (this.#closed) return;
    this.#closed = true;
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = undefined;
    for (const cleanup of this.#cleanups.splice(0)) cleanup();
  }
}
