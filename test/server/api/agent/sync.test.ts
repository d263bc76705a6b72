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
  async function until<T>(pick: () => T | undefined, timeoutMs = 1000): Promise<T> {
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
    /** The next message whose entries satisfy `pred`, within `timeoutMs`. */
    waitFor: (pred: (m: SyncMessage) => boolean, timeoutMs = 1000) =>
      until(() => messages.find(pred), timeoutMs),
    /** The stream's error status within `timeoutMs`. */
    ended: (timeoutMs = 2000) => until(() => ended?.code, timeoutMs),
  };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('AgentService.Sync', () => {
  let h: Harness;
  beforeAll(async () => {
    h = await startHarness();
  });
  afterAll(async () => {
    await h.close();
  });

  it('sends the full state at once, pushes a new entry within a second, and never sends other agents\' entries', async () => {
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

    const started = Date.now();
    const later = await h.createEntry({ spiffeId: 'spiffe://example.org/w/later', parentId: a.agentId });
    const second = await sync.waitFor((m) => m.entries.some((e) => e.id === later.id), 1000);
    expect(Date.now() - started).toBeLessThan(1000);
    expect(second.revision).toBeGreaterThan(first.revision);
    expect(second.entries.map((e) => e.spiffe_id)).not.toContain('spiffe://example.org/w/theirs');

    // a change that does not concern this agent sends nothing
    const count = sync.messages.length;
    await h.createEntry({ spiffeId: 'spiffe://example.org/w/theirs-2', parentId: b.agentId });
    await sleep(150);
    expect(sync.messages.length).toBe(count);

    // updates and deletions are pushed too
    await h.ds.entries.delete(mine.id);
    await sync.waitFor((m) => !m.entries.some((e) => e.id === mine.id) && m.entries.length === 1);
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
    await sleep(200);
    const baseIndex = h.index.listenerCount;
    const baseBundle = h.authority.listenerCounts().bundle;
    const a = await h.attestAgent();
    const streams = Array.from({ length: 5 }, () => openSync(a.client));
    await Promise.all(streams.map((s) => s.waitFor(() => true)));
    expect(h.index.listenerCount).toBe(baseIndex + 5);
    expect(h.authority.listenerCounts().bundle).toBe(baseBundle + 5);
    for (const s of streams) s.cancel();
    await sleep(100);
    expect(h.index.listenerCount).toBe(baseIndex);
    expect(h.authority.listenerCounts().bundle).toBe(baseBundle);
  });
});
