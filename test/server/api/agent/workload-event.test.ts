import { status } from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { callUnary, statusOf } from '../../../helpers/agent-client.js';
import { startHarness, type AttestedAgent, type Harness } from './harness.js';

const INSTANCE = '0123456789abcdef0123456789abcdef';

describe('AgentService ReportWorkloadEvent', () => {
  let h: Harness;
  let a: AttestedAgent;
  beforeAll(async () => {
    h = await startHarness();
    a = await h.attestAgent();
  });
  afterAll(async () => {
    await h.close();
  });

  it('appends a workload.role_conflict audit event for entries the agent may serve', async () => {
    const sup = await h.createEntry({ spiffeId: 'spiffe://example.org/rc/sup', parentId: a.agentId, role: 'supervisor' });
    const work = await h.createEntry({ spiffeId: 'spiffe://example.org/rc/work', parentId: a.agentId });
    await callUnary(a.client, 'ReportWorkloadEvent', {
      kind: 'WORKLOAD_EVENT_KIND_ROLE_CONFLICT',
      entry_ids: [sup.id, work.id],
      instance_id: INSTANCE,
      pid: 4242,
      message: 'both',
    });
    const [event] = await h.ds.audit.list({ kind: 'workload.role_conflict' });
    expect(event).toMatchObject({ agentId: a.agentId, instanceId: INSTANCE, entryId: sup.id });
    expect(event!.details).toEqual({ entryIds: [sup.id, work.id], pid: 4242, message: 'both' });
  });

  it('refuses foreign entries, unknown kinds, bad instance IDs and unauthenticated callers', async () => {
    const mine = await h.createEntry({ spiffeId: 'spiffe://example.org/rc/mine', parentId: a.agentId });
    const foreign = await h.createEntry({ spiffeId: 'spiffe://example.org/rc/foreign', parentId: 'spiffe://example.org/tessera/agent/join_token/0' });
    const base = { kind: 'WORKLOAD_EVENT_KIND_ROLE_CONFLICT', entry_ids: [mine.id], instance_id: INSTANCE, pid: 1, message: 'x' };
    expect(await statusOf(callUnary(a.client, 'ReportWorkloadEvent', { ...base, entry_ids: [mine.id, foreign.id] }))).toBe(status.PERMISSION_DENIED);
    expect(await statusOf(callUnary(a.client, 'ReportWorkloadEvent', { ...base, kind: 'WORKLOAD_EVENT_KIND_UNSPECIFIED' }))).toBe(status.INVALID_ARGUMENT);
    expect(await statusOf(callUnary(a.client, 'ReportWorkloadEvent', { ...base, instance_id: 'XYZ' }))).toBe(status.INVALID_ARGUMENT);
    expect(await statusOf(callUnary(a.client, 'ReportWorkloadEvent', { ...base, entry_ids: [] }))).toBe(status.INVALID_ARGUMENT);
    expect(await statusOf(callUnary(h.client(), 'ReportWorkloadEvent', base))).not.toBe(status.OK);
    expect(await h.ds.audit.list({ kind: 'workload.role_conflict', instanceId: INSTANCE })).toHaveLength(1);
  });
});
