import * as grpc from '@grpc/grpc-js';
import { status } from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SpiffeBundle } from '../../../../src/spiffe/bundle/index.js';
import { callUnary, statusOf, type AgentClient } from '../../../helpers/agent-client.js';
import { newAgentKey } from '../../../helpers/test-authority.js';
import { startHarness, type Harness } from './harness.js';

interface SyncMessage {
  entries: { id: string; spiffe_id: string; parent_id: string; role: string; revision: number; selectors: unknown[] }[];
  bundle: Buffer;
  revision: number;
}

/** An open Sync stream that collects messages and its final status. */
function openSync(client: AgentClient) {
  const messages: SyncMessage[] = [];
  const waiters: (() => void)[] = [];
  let ended: grpc.ServiceError | undefined;
  const call = (client['Sync'] as (req: unknown) => grpc.ClientReadableStream<SyncMessage>)({});
  const wake = () => waiters.splice(0).forEach((w) => w());
  call.on('data', (m: SyncMessage) => {
    messages.push(m);
    wake();
  });
  call.on('error', (err: grpc.ServiceError) => {
    ended = err;
    wake();
  });
  async function until<T>(pick: () => T | undefined, timeoutMs = 10_000): Promise<T> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const v = pick();
      if (v !== undefined) return v;
      const left = deadline - Date.now();
      if (left <= 0) throw new Error('timed out');
      await new Promise<void>((r) => {
        const t = setTimeout(r, left);
        waiters.push(() => {
          clearTimeout(t);
          r();
        });
      });
    }
  }
  return {
    messages,
    cancel: () => call.cancel(),
    /** The next message whose entries satisfy `pred`; `timeoutMs` only bounds a failing wait. */
    waitFor: (pred: (m: SyncMessage) => boolean, timeoutMs = 10_000) =>
      until(() => messages.find(pred), timeoutMs),
    /** The stream's error status; `timeoutMs` only bounds a failing wait. */
    ended: (timeoutMs = 10_000) => until(() => ended?.code, timeoutMs),
  };
}

describe('AgentService.Sync', () => {
  let h: Harness;
  /** Listener counts with no Sync stream open. */
  let idle: { index: number; bundle: number };
  beforeAll(async () => {
    h = await startHarness();
    idle = { index: h.index.listenerCount, bundle: h.authority.listenerCounts().bundle };
  });
  afterAll(async () => {
    await h.close();
  });

  it('sends the full state at once, pushes a new entry on change, and never sends other agents\' entries', async () => {
    const a = await h.attestAgent();
    const b = await h.attestAgent();
    const mine = await h.createEntry({ spiffeId: 'spiffe://example.org/w/mine', parentId: a.agentId, role: 'supervisor' });
    await h.createEntry({ spiffeId: 'spiffe://example.org/w/theirs', parentId: b.agentId });
    const sync = openSync(a.client);
    const first = await sync.waitFor(() => true);
    expect(first.entries.map((e) => e.id)).toEqual([mine.id]);
    expect(first.entries[0]).toMatchObject({ spiffe_id: mine.spiffeId, parent_id: a.agentId, role: 'ROLE_SUPERVISOR', revision: 1 });
    const bundle = SpiffeBundle.parse('example.org', first.bundle);
    expect(bundle.equals(h.authority.currentBundle())).toBe(true);

    const later = await h.createEntry({ spiffeId: 'spiffe://example.org/w/later', parentId: a.agentId });
    const second = await sync.waitFor((m) => m.entries.some((e) => e.id === later.id));
    expect(second.revision).toBeGreaterThan(first.revision);
    expect(second.entries.map((e) => e.spiffe_id)).not.toContain('spiffe://example.org/w/theirs');

    // A change that does not concern this agent sends it nothing. b's stream, opened after a's, is the barrier: both
    // streams schedule their send on the same change with the same debounce, a's first, so once b has the change a's
    // send has run; anything it wrote would arrive on a's stream before the next change below.
    const syncB = openSync(b.client);
    await syncB.waitFor(() => true);
    const count = sync.messages.length;
    const theirs2 = await h.createEntry({ spiffeId: 'spiffe://example.org/w/theirs-2', parentId: b.agentId });
    await syncB.waitFor((m) => m.entries.some((e) => e.id === theirs2.id));
    syncB.cancel();

    // updates and deletions are pushed too
    await h.ds.entries.delete(mine.id);
    await sync.waitFor((m) => !m.entries.some((e) => e.id === mine.id) && m.entries.length === 1);
    expect(sync.messages.slice(count).map((m) => m.entries.map((e) => e.id))).toEqual([[later.id]]);
    sync.cancel();
  });

  it('serves entries under node aliases (and their descendants)', async () => {
    const a = await h.attestAgent();
    const record = await h.ds.agents.get(a.agentId);
    const aliasId = 'spiffe://example.org/nodes/by-token';
    await h.createEntry({ spiffeId: aliasId, parentId: h.serverId, selectors: record!.selectors });
    const viaAlias = await h.createEntry({ spiffeId: 'spiffe://example.org/w/via-alias', parentId: aliasId });
    const below = await h.createEntry({ spiffeId: 'spiffe://example.org/w/below', parentId: viaAlias.spiffeId });
    const sync = openSync(a.client);
    const msg = await sync.waitFor(() => true);
    expect(msg.entries.map((e) => e.id).sort()).toEqual([viaAlias.id, below.id].sort());
    sync.cancel();
  });

  it('pushes a bundle change', async () => {
    const a = await h.attestAgent();
    const sync = openSync(a.client);
    const first = await sync.waitFor(() => true);
    await h.authority.rotate();
    const next = await sync.waitFor((m) => !m.bundle.equals(first.bundle));
    expect(SpiffeBundle.parse('example.org', next.bundle).x509Bundle.x509Authorities).toHaveLength(2);
    sync.cancel();
  });

  it('ends the stream with PermissionDenied when the agent is banned, and refuses its next call', async () => {
    const a = await h.attestAgent();
    const sync = openSync(a.client);
    await sync.waitFor(() => true);
    await h.ds.agents.setBanned(a.agentId, true);
    expect(await sync.ended()).toBe(status.PERMISSION_DENIED);
    expect(await statusOf(callUnary(a.client, 'RenewAgent', { public_key: newAgentKey().spki }))).toBe(
      status.PERMISSION_DENIED,
    );
    expect(await statusOf(callUnary(a.client, 'BatchSignX509Svid', { params: [] }))).toBe(status.PERMISSION_DENIED);
  });

  it('ends the stream and refuses calls when the agent is evicted', async () => {
    const a = await h.attestAgent();
    const sync = openSync(a.client);
    await sync.waitFor(() => true);
    await h.ds.agents.delete(a.agentId);
    expect(await sync.ended()).toBe(status.PERMISSION_DENIED);
    const err = await callUnary(a.client, 'MintJwtSvid', { entry_id: 'x', audience: ['a'] }).catch((e: grpc.ServiceError) => e);
    expect((err as grpc.ServiceError).code).toBe(status.PERMISSION_DENIED);
    expect((err as grpc.ServiceError).details).toBe('agent is not attested (evicted?)');
  });

  it('releases its listeners when the agent cancels', async () => {
    // The earlier tests' streams are cancelled or ended; wait until the server has released them.
    await expect.poll(() => h.index.listenerCount).toBe(idle.index);
    await expect.poll(() => h.authority.listenerCounts().bundle).toBe(idle.bundle);
    const baseIndex = idle.index;
    const baseBundle = idle.bundle;
    const a = await h.attestAgent();
    const streams = Array.from({ length: 5 }, () => openSync(a.client));
    await Promise.all(streams.map((s) => s.waitFor(() => true)));
    expect(h.index.listenerCount).toBe(baseIndex + 5);
    expect(h.authority.listenerCounts().bundle).toBe(baseBundle + 5);
    for (const s of streams) s.cancel();
    await expect.poll(() => h.index.listenerCount).toBe(baseIndex);
    await expect.poll(() => h.authority.listenerCounts().bundle).toBe(baseBundle);
  });
});
