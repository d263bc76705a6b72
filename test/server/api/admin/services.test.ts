import { X509Certificate } from 'node:crypto';
import { status } from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SpiffeBundle } from '../../../../src/spiffe/bundle/index.js';
import type { AgentMessage, AuditEventMessage, EntryMessage } from '../../../../src/server/api/admin/messages.js';
import { joinTokenHash } from '../../../../src/server/datastore/index.js';
import { joinTokenAgentId } from '../../../../src/server/nodeattestation/join-token-id.js';
import { captureLogger } from '../../../helpers/log-capture.js';
import { startAdminTestServer, type AdminTestServer } from '../../../helpers/admin-server.js';

const AGENT_A = 'spiffe://acme.test/tessera/agent/x509pop/node-a';
const AGENT_B = 'spiffe://acme.test/tessera/agent/x509pop/node-b';

let srv: AdminTestServer;
const logs = captureLogger('trace');

beforeAll(async () => {
  srv = await startAdminTestServer({ log: logs.log });
  for (const spiffeId of [AGENT_A, AGENT_B]) {
    await srv.datastore.agents.upsertAttested({
      spiffeId,
      attestor: 'x509pop',
      selectors: [{ type: 'x509pop', value: 'subject:cn:' + spiffeId.slice(-6) }],
      svidSerial: 'abcd',
      svidExpiresAt: 2_000_000_000,
      attestedAt: 1_700_000_000,
    });
  }
});
afterAll(async () => srv?.close());

async function expectStatus(p: Promise<unknown>, code: status): Promise<string> {
  const err = await p.then(
    () => {
      throw new Error(`expected status ${status[code]}, the call succeeded`);
    },
    (e: { code: status; details: string }) => e,
  );
  expect(status[err.code], err.details).toBe(status[code]);
  return err.details;
}

describe('AgentAdminService', () => {
  it('ListAgents and GetAgent', async () => {
    const agents = srv.client('AgentAdminService');
    const { agents: list } = await agents.call<{ agents: AgentMessage[] }>('ListAgents', {});
    expect(list.map((a) => a.spiffe_id)).toEqual([AGENT_A, AGENT_B]);
    const { agent } = await agents.call<{ agent: AgentMessage }>('GetAgent', { spiffe_id: AGENT_A });
    expect(agent).toMatchObject({ spiffe_id: AGENT_A, attestor: 'x509pop', banned: false, svid_serial: 'abcd' });
  });

  it('BanAgent bans and audits; EvictAgent deletes and audits', async () => {
    const agents = srv.client('AgentAdminService');
    await agents.call('BanAgent', { spiffe_id: AGENT_A });
    expect((await srv.datastore.agents.get(AGENT_A))?.banned).toBe(true);
    await agents.call('EvictAgent', { spiffe_id: AGENT_A });
    expect(await srv.datastore.agents.get(AGENT_A)).toBeNull();
    const kinds = (await srv.datastore.audit.list({ spiffeId: AGENT_A })).map((e) => e.kind);
    expect(kinds).toEqual(['agent.banned', 'agent.evicted']);
  });
});

describe('TokenService', () => {
  it('CreateJoinToken: a 256-bit base64url token, stored only as its hash, default TTL 600', async () => {
    const tokens = srv.client('TokenService');
    const before = Date.now() / 1000;
    const r = await tokens.call<{ token: string; expires_at: number; agent_spiffe_id: string }>('CreateJoinToken', {});
    expect(r.token).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(r.expires_at).toBeGreaterThanOrEqual(Math.floor(before) + 600);
    expect(r.expires_at).toBeLessThanOrEqual(Math.ceil(Date.now() / 1000) + 600);
    expect(r.agent_spiffe_id).toBe(joinTokenAgentId(srv.trustDomain, r.token).toString());
    // The token is consumable once.
    expect((await srv.datastore.joinTokens.consume(r.token, Math.floor(Date.now() / 1000))).ok).toBe(true);
    // The audit event and the logs name the agent but never hold the token or its full hash.
    const [event] = (await srv.datastore.audit.list({ kind: 'join_token.created' })).slice(-1);
    expect(event).toMatchObject({ agentId: r.agent_spiffe_id, expiresAt: r.expires_at });
    const trail = JSON.stringify(await srv.datastore.audit.list());
    const logged = JSON.stringify(logs.lines());
    for (const secret of [r.token, joinTokenHash(r.token)]) {
      expect(trail).not.toContain(secret);
      expect(logged).not.toContain(secret);
    }
  });

  it('CreateJoinToken with spiffe_id also creates the node-alias entry', async () => {
    const tokens = srv.client('TokenService');
    const r = await tokens.call<{ token: string; agent_spiffe_id: string; expires_at: number }>('CreateJoinToken', {
      ttl_seconds: 60,
      spiffe_id: 'spiffe://acme.test/nodes/rack-1',
    });
    const [alias] = await srv.datastore.entries.list({ spiffeId: 'spiffe://acme.test/nodes/rack-1' });
    expect(alias).toMatchObject({
      parentId: 'spiffe://acme.test/tessera/server',
      selectors: [{ type: 'join_token', value: r.agent_spiffe_id.split('/').at(-1) }],
      role: 'worker',
    });
    expect(r.expires_at - Math.floor(Date.now() / 1000)).toBeLessThanOrEqual(60);
  });
});

describe('BundleService', () => {
  it('GetBundle returns the SPIFFE bundle JSON, the PEM and the sequence', async () => {
    const r = await srv
      .client('BundleService')
      .call<{ trust_domain: string; spiffe_bundle: Buffer; x509_pem: string; sequence_number: number }>('GetBundle', {});
    expect(r.trust_domain).toBe('acme.test');
    expect(r.sequence_number).toBe(7);
    const bundle = SpiffeBundle.parse('acme.test', r.spiffe_bundle);
    expect(bundle.x509Bundle.x509Authorities).toHaveLength(1);
    expect(bundle.jwtBundle.jwtAuthorities.size).toBe(1);
    expect(new X509Certificate(r.x509_pem).raw.equals(Buffer.from(srv.ca.der))).toBe(true);
  });
});

describe('AuditService', () => {
  it('ListAuditEvents filters by spiffe_id, since_ms, instance_id and limit', async () => {
    await srv.datastore.audit.append({
      atMs: 1_000,
      kind: 'x509_svid.issued',
      spiffeId: 'spiffe://acme.test/w',
      instanceId: 'inst-1',
      serial: '01',
      details: { n: 1 },
    });
    const audit = srv.client('AuditService');
    const byInstance = await audit.call<{ events: AuditEventMessage[] }>('ListAuditEvents', { instance_id: 'inst-1' });
    expect(byInstance.events).toHaveLength(1);
    expect(byInstance.events[0]).toMatchObject({ kind: 'x509_svid.issued', serial: '01', details: '{"n":1}', at_ms: 1000 });
    const since = await audit.call<{ events: AuditEventMessage[] }>('ListAuditEvents', { since_ms: 2_000 });
    expect(since.events.some((e) => e.instance_id === 'inst-1')).toBe(false);
    const limited = await audit.call<{ events: AuditEventMessage[] }>('ListAuditEvents', { limit: 1 });
    expect(limited.events).toHaveLength(1);
    const bySpiffe = await audit.call<{ events: AuditEventMessage[] }>('ListAuditEvents', {
      spiffe_id: 'spiffe://acme.test/w',
    });
    expect(bySpiffe.events.map((e) => e.instance_id)).toEqual(['inst-1']);
  });
});

describe('HealthService', () => {
  it('Check is ready when the datastore answers and the CA signs, and says when not', async () => {
    const health = srv.client('HealthService');
    const ok = await health.call<{ ready: boolean; trust_domain: string; version: string; ca_expires_at: number }>(
      'Check',
      {},
    );
    expect(ok).toMatchObject({ ready: true, trust_domain: 'acme.test', version: '0.0.0-test' });
    expect(ok.ca_expires_at).toBe(Math.floor(srv.ca.activeCaNotAfter().getTime() / 1000));
    srv.ca.setBroken(true);
    try {
      expect((await health.call<{ ready: boolean }>('Check', {})).ready).toBe(false);
    } finally {
      srv.ca.setBroken(false);
    }
  });
});

describe('bad input to every other admin RPC writes nothing', () => {
  let supervisor: EntryMessage;
  beforeAll(async () => {
    const r = await srv.client('EntryService').call<{ results: { entry: EntryMessage }[] }>('BatchCreateEntry', {
      entries: [
        {
          spiffe_id: 'spiffe://acme.test/supervisors/lead',
          parent_id: AGENT_B,
          selectors: [{ type: 'unix', value: 'uid:5' }],
          role: 'ROLE_SUPERVISOR',
        },
      ],
    });
    supervisor = r.results[0]!.entry;
  });

  type Row = [string, string, string, keyof typeof status, () => object];
  const rows: Row[] = [
    ['AgentAdminService', 'GetAgent', 'no spiffe_id', 'INVALID_ARGUMENT', () => ({})],
    ['AgentAdminService', 'GetAgent', 'invalid spiffe_id', 'INVALID_ARGUMENT', () => ({ spiffe_id: 'node-b' })],
    ['AgentAdminService', 'GetAgent', 'foreign trust domain', 'INVALID_ARGUMENT', () => ({ spiffe_id: 'spiffe://x.test/a' })],
    ['AgentAdminService', 'GetAgent', 'unknown agent', 'NOT_FOUND', () => ({ spiffe_id: AGENT_A + '-gone' })],
    ['AgentAdminService', 'BanAgent', 'no spiffe_id', 'INVALID_ARGUMENT', () => ({})],
    ['AgentAdminService', 'BanAgent', 'invalid spiffe_id', 'INVALID_ARGUMENT', () => ({ spiffe_id: 'spiffe://acme.test/../x' })],
    ['AgentAdminService', 'BanAgent', 'unknown agent', 'NOT_FOUND', () => ({ spiffe_id: 'spiffe://acme.test/tessera/agent/x/none' })],
    ['AgentAdminService', 'EvictAgent', 'no spiffe_id', 'INVALID_ARGUMENT', () => ({})],
    ['AgentAdminService', 'EvictAgent', 'template spiffe_id', 'INVALID_ARGUMENT', () => ({ spiffe_id: 'spiffe://acme.test/{instance}' })],
    ['AgentAdminService', 'EvictAgent', 'unknown agent', 'NOT_FOUND', () => ({ spiffe_id: 'spiffe://acme.test/tessera/agent/x/none' })],
    ['TokenService', 'CreateJoinToken', 'negative ttl', 'INVALID_ARGUMENT', () => ({ ttl_seconds: -1 })],
    ['TokenService', 'CreateJoinToken', 'ttl over the maximum', 'INVALID_ARGUMENT', () => ({ ttl_seconds: 86_401 })],
    ['TokenService', 'CreateJoinToken', 'invalid alias', 'INVALID_ARGUMENT', () => ({ spiffe_id: 'spiffe://acme.test/a b' })],
    ['TokenService', 'CreateJoinToken', 'foreign alias', 'INVALID_ARGUMENT', () => ({ spiffe_id: 'spiffe://x.test/a' })],
    ['TokenService', 'CreateJoinToken', 'reserved alias', 'INVALID_ARGUMENT', () => ({ spiffe_id: 'spiffe://acme.test/tessera/server' })],
    ['TokenService', 'CreateJoinToken', 'template alias', 'INVALID_ARGUMENT', () => ({ spiffe_id: 'spiffe://acme.test/n/{instance}' })],
    ['TokenService', 'CreateJoinToken', 'alias = a supervisor identity', 'FAILED_PRECONDITION', () => ({ spiffe_id: supervisor.spiffe_id })],
    ['AuditService', 'ListAuditEvents', 'negative since_ms', 'INVALID_ARGUMENT', () => ({ since_ms: -5 })],
    ['AuditService', 'ListAuditEvents', 'limit over the maximum', 'INVALID_ARGUMENT', () => ({ limit: 10_001 })],
    ['AuditService', 'ListAuditEvents', 'negative limit', 'INVALID_ARGUMENT', () => ({ limit: -1 })],
    ['AuditService', 'ListAuditEvents', 'invalid spiffe_id', 'INVALID_ARGUMENT', () => ({ spiffe_id: 'acme' })],
    ['AuditService', 'ListAuditEvents', 'instance_id too long', 'INVALID_ARGUMENT', () => ({ instance_id: 'i'.repeat(257) })],
  ];

  it.each(rows)('%s.%s with %s → %s', async (service, method, _name, code, request) => {
    const before = srv.rowCounts();
    const details = await expectStatus(srv.client(service as 'TokenService').call(method, request()), status[code]);
    expect(details).toMatch(/^[a-z]/);
    expect(srv.rowCounts()).toEqual(before);
  });

  it('BundleService.GetBundle, HealthService.Check, ListAgents and CountEntries take no input and write nothing', async () => {
    const before = srv.rowCounts();
    await srv.client('BundleService').call('GetBundle', {});
    await srv.client('HealthService').call('Check', {});
    await srv.client('AgentAdminService').call('ListAgents', {});
    await srv.client('EntryService').call('CountEntries', {});
    expect(srv.rowCounts()).toEqual(before);
  });
});
