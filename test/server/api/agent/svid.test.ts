import { X509Certificate } from 'node:crypto';
import type * as grpc from '@grpc/grpc-js';
import { status } from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseAndValidateJwtSvid } from '../../../../src/spiffe/jwtsvid/index.js';
import { parseX509Svid, verifyX509Svid } from '../../../../src/spiffe/x509svid/index.js';
import { splitDer } from '../../../../src/spiffe/x509svid/der-reader.js';
import { callUnary, statusOf } from '../../../helpers/agent-client.js';
import { chainPem, newAgentKey } from '../../../helpers/test-authority.js';
import { InstanceRoles } from '../../../../src/server/api/agent/instance-roles.js';
import { isTesseraError, type TesseraError } from '../../../../src/common/errors.js';
import { fakeClock } from '../../../helpers/fake-clock.js';
import { POLICY, startHarness, type AttestedAgent, type Harness } from './harness.js';

async function expectRejected(p: Promise<unknown>): Promise<TesseraError> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  if (!isTesseraError(err)) throw new Error(`expected a TesseraError, got ${String(err)}`);
  return err;
}

interface BatchResponse {
  results: {
    svid: { entry_id: string; spiffe_id: string; cert_chain: Buffer; expires_at: number; serial: string } | null;
    error_code: number;
    error_message: string;
  }[];
}

const INSTANCE = '0123456789abcdef0123456789abcdef';
const SUPERVISOR_INSTANCE = 'fedcba9876543210fedcba9876543210';

function lifetimeSeconds(der: Uint8Array): number {
  const cert = new X509Certificate(der);
  return (Date.parse(cert.validTo) - Date.parse(cert.validFrom)) / 1000;
}

describe('AgentService SVID issuance', () => {
  let h: Harness;
  let a: AttestedAgent;
  beforeAll(async () => {
    h = await startHarness({ intermediate: true });
    a = await h.attestAgent();
  });
  afterAll(async () => {
    await h.close();
  });

  it('signs a batch: verifiable SVIDs, per-item errors, and one audit event per SVID written before the reply', async () => {
    const worker = await h.createEntry({
      spiffeId: 'spiffe://example.org/w/{instance}/worker',
      parentId: a.agentId,
      dnsNames: ['worker.example.test'],
    });
    const plain = await h.createEntry({ spiffeId: 'spiffe://example.org/w/plain', parentId: a.agentId, x509SvidTtlSeconds: 120 });
    const supervised = await h.createEntry({
      spiffeId: 'spiffe://example.org/w/supervised',
      parentId: a.agentId,
      selectors: [{ type: 'tessera', value: 'supervisor:spiffe://example.org/sup' }],
    });
    const foreign = await h.createEntry({ spiffeId: 'spiffe://example.org/w/foreign', parentId: 'spiffe://example.org/tessera/agent/join_token/0' });
    const k = () => newAgentKey().spki;
    const res = await callUnary<BatchResponse>(a.client, 'BatchSignX509Svid', {
      params: [
        { entry_id: worker.id, public_key: k(), instance_id: INSTANCE },
        { entry_id: foreign.id, public_key: k(), instance_id: INSTANCE },
        { entry_id: plain.id, public_key: Buffer.from('garbage') },
        { entry_id: 'no-such-entry', public_key: k() },
        { entry_id: plain.id, public_key: k(), instance_id: 'NOT-HEX' },
        { entry_id: worker.id, public_key: k() },
        { entry_id: supervised.id, public_key: k(), instance_id: INSTANCE },
        { entry_id: supervised.id, public_key: k(), instance_id: INSTANCE, supervisor_instance_id: SUPERVISOR_INSTANCE },
        { entry_id: plain.id, public_key: k() },
      ],
    });
    expect(res.results.map((r) => r.error_code)).toEqual([
      status.OK,
      status.PERMISSION_DENIED,
      status.INVALID_ARGUMENT,
      status.PERMISSION_DENIED,
      status.INVALID_ARGUMENT,
      status.INVALID_ARGUMENT,
      status.INVALID_ARGUMENT,
      status.OK,
      status.OK,
    ]);
    // unknown and unauthorised entries are indistinguishable
    expect(res.results[3]!.error_message.replace('no-such-entry', 'X')).toBe(res.results[1]!.error_message.replace(foreign.id, 'X'));

    const bundle = h.authority.currentBundle();
    const issued = res.results.filter((r) => r.svid).map((r) => r.svid!);
    for (const svid of issued) {
      const chain = splitDer(svid.cert_chain);
      expect(chain).toHaveLength(2); // leaf + intermediate
      const verified = verifyX509Svid(chain, bundle, { now: new Date() });
      expect(verified.spiffeId.toString()).toBe(svid.spiffe_id);
      expect(BigInt('0x' + svid.serial)).toBeGreaterThan(0n);
    }
    expect(issued[0]!.spiffe_id).toBe(`spiffe://example.org/w/${INSTANCE}/worker`);
    expect(parseX509Svid(splitDer(issued[0]!.cert_chain)).certificates).toHaveLength(2);
    const leaf0 = new X509Certificate(splitDer(issued[0]!.cert_chain)[0]!);
    expect(leaf0.subjectAltName).toContain('DNS:worker.example.test');
    expect(lifetimeSeconds(splitDer(issued[2]!.cert_chain)[0]!)).toBe(120 + 10);

    const events = await h.ds.audit.list({ kind: 'x509_svid.issued' });
    for (const svid of issued) {
      const e = events.find((ev) => ev.serial === svid.serial);
      expect(e).toMatchObject({ entryId: svid.entry_id, agentId: a.agentId, spiffeId: svid.spiffe_id, expiresAt: svid.expires_at });
    }
    expect(events.find((e) => e.serial === issued[0]!.serial)!.instanceId).toBe(INSTANCE);
    expect(events.find((e) => e.serial === issued[1]!.serial)!.details).toEqual({ supervisorInstanceId: SUPERVISOR_INSTANCE });
    expect(events.filter((e) => issued.some((s) => s.serial === e.serial))).toHaveLength(3);
  });

  it('caps TTLs by the role ceiling', async () => {
    const sup = await h.createEntry({ spiffeId: 'spiffe://example.org/w/sup', parentId: a.agentId, role: 'supervisor', x509SvidTtlSeconds: 7200 });
    const supDefault = await h.createEntry({ spiffeId: 'spiffe://example.org/w/sup-default', parentId: a.agentId, role: 'supervisor' });
    const work = await h.createEntry({ spiffeId: 'spiffe://example.org/w/work', parentId: a.agentId });
    const res = await callUnary<BatchResponse>(a.client, 'BatchSignX509Svid', {
      params: [sup, supDefault, work].map((e) => ({ entry_id: e.id, public_key: newAgentKey().spki })),
    });
    const lifetimes = res.results.map((r) => lifetimeSeconds(splitDer(r.svid!.cert_chain)[0]!) - 10);
    expect(lifetimes).toEqual([POLICY.supervisor.maxX509TtlSeconds, POLICY.supervisor.maxX509TtlSeconds, POLICY.defaultX509TtlSeconds]);
  });

  it('never issues one instance both supervisor and worker identities (rule 1, server side)', async () => {
    const sup = await h.createEntry({ spiffeId: 'spiffe://example.org/w/rule1-sup', parentId: a.agentId, role: 'supervisor' });
    const work = await h.createEntry({ spiffeId: 'spiffe://example.org/w/rule1-work', parentId: a.agentId });
    const instance = 'ab'.repeat(16);
    const other = 'cd'.repeat(16);
    const item = (e: { id: string }, instance_id: string) => ({ entry_id: e.id, public_key: newAgentKey().spki, instance_id });
    // In one batch: the worker item is issued, the supervisor item for the same instance is refused.
    const first = await callUnary<BatchResponse>(a.client, 'BatchSignX509Svid', { params: [item(work, instance), item(sup, instance)] });
    expect(first.results.map((r) => r.error_code)).toEqual([0, status.PERMISSION_DENIED]);
    expect(first.results[1]!.error_message).toMatch(/was issued worker identities and keeps that role for life/);
    // Later calls too, for X.509 and JWT alike; another instance may still be a supervisor.
    const later = await callUnary<BatchResponse>(a.client, 'BatchSignX509Svid', { params: [item(sup, instance), item(sup, other)] });
    expect(later.results.map((r) => r.error_code)).toEqual([status.PERMISSION_DENIED, 0]);
    expect(
      await statusOf(callUnary(a.client, 'MintJwtSvid', { entry_id: sup.id, audience: ['x'], instance_id: instance })),
    ).toBe(status.PERMISSION_DENIED);
    expect(
      await statusOf(callUnary(a.client, 'MintJwtSvid', { entry_id: work.id, audience: ['x'], instance_id: other })),
    ).toBe(status.PERMISSION_DENIED);
  });

  it('keeps an instance to its first role after its SVIDs expired, across server restarts (issue 10 item 4)', async () => {
    const clock = fakeClock(Date.now());
    const h2 = await startHarness({ config: { clock } });
    try {
      const a2 = await h2.attestAgent();
      const work = await h2.createEntry({ spiffeId: 'spiffe://example.org/w/orphan-work', parentId: a2.agentId, x509SvidTtlSeconds: 5 });
      const sup = await h2.createEntry({ spiffeId: 'spiffe://example.org/w/orphan-sup', parentId: a2.agentId, role: 'supervisor' });
      const instance = 'ef'.repeat(16);
      const item = (e: { id: string }) => ({ entry_id: e.id, public_key: newAgentKey().spki, instance_id: instance });
      const first = await callUnary<BatchResponse>(a2.client, 'BatchSignX509Svid', { params: [item(work)] });
      expect(first.results[0]!.error_code).toBe(0);
      // The worker SVID has expired (an orphaned worker whose supervisor exited): still never the supervisor role.
      clock.set((first.results[0]!.svid!.expires_at + 60) * 1000);
      const later = await callUnary<BatchResponse>(a2.client, 'BatchSignX509Svid', { params: [item(sup)] });
      expect(later.results[0]!.error_code).toBe(status.PERMISSION_DENIED);
      expect(later.results[0]!.error_message).toMatch(/keeps that role for life/);
      expect(
        await statusOf(callUnary(a2.client, 'MintJwtSvid', { entry_id: sup.id, audience: ['x'], instance_id: instance })),
      ).toBe(status.PERMISSION_DENIED);
      // The claim is in the datastore, not in this server's memory: a fresh InstanceRoles (a restart) refuses too.
      const restarted = new InstanceRoles(h2.ds.instanceRoles);
      expect((await expectRejected(restarted.claim(instance, 'supervisor', a2.agentId, 0))).code).toBe('PERMISSION_DENIED');
      await restarted.claim(instance, 'worker', a2.agentId, 0);
      expect((await expectRejected(restarted.claim(instance, 'worker', 'spiffe://example.org/other-agent', 0))).code).toBe(
        'PERMISSION_DENIED',
      );
    } finally {
      await h2.close();
    }
  });

  it('refuses batches over the size limit', async () => {
    const params = Array.from({ length: 1001 }, () => ({ entry_id: 'x', public_key: Buffer.alloc(1) }));
    expect(await statusOf(callUnary(a.client, 'BatchSignX509Svid', { params }))).toBe(status.INVALID_ARGUMENT);
  });

  it('signs a batch of 1000 with one audit event each', async () => {
    const entry = await h.createEntry({ spiffeId: 'spiffe://example.org/w/bulk/{instance}', parentId: a.agentId });
    const keys = Array.from({ length: 1000 }, () => newAgentKey().spki);
    const res = await callUnary<BatchResponse>(a.client, 'BatchSignX509Svid', {
      params: keys.map((public_key, i) => ({ entry_id: entry.id, public_key, instance_id: i.toString(16).padStart(32, '0') })),
    });
    expect(res.results.every((r) => r.error_code === 0)).toBe(true);
    const events = await h.ds.audit.list({ kind: 'x509_svid.issued', limit: 10_000 });
    expect(events.filter((e) => e.entryId === entry.id)).toHaveLength(1000);
  });

  it('mints JWT-SVIDs that validate, carry the instance claims, and are audited with their jti', async () => {
    const entry = await h.createEntry({ spiffeId: 'spiffe://example.org/w/jwt/{instance}', parentId: a.agentId, jwtSvidTtlSeconds: 60 });
    const res = await callUnary<{ token: string; spiffe_id: string; expires_at: number; jti: string }>(a.client, 'MintJwtSvid', {
      entry_id: entry.id,
      audience: ['https://broker.example.test'],
      instance_id: INSTANCE,
      supervisor_instance_id: SUPERVISOR_INSTANCE,
    });
    const svid = await parseAndValidateJwtSvid(res.token, h.authority.currentBundle(), ['https://broker.example.test'], { now: new Date() });
    expect(svid.spiffeId.toString()).toBe(`spiffe://example.org/w/jwt/${INSTANCE}`);
    expect(svid.claims['tessera_instance']).toBe(INSTANCE);
    expect(svid.claims['tessera_supervisor_instance']).toBe(SUPERVISOR_INSTANCE);
    expect(svid.claims['jti']).toBe(res.jti);
    expect(res.expires_at - (svid.claims['iat'] as number)).toBe(60);
    const [event] = await h.ds.audit.list({ kind: 'jwt_svid.issued', instanceId: INSTANCE });
    expect(event).toMatchObject({ jti: res.jti, entryId: entry.id, agentId: a.agentId, expiresAt: res.expires_at });
    expect(JSON.stringify(event)).not.toContain(res.token);
  });

  it('refuses JWT minting without audience, for foreign entries, and caps the TTL by the role ceiling', async () => {
    const sup = await h.createEntry({ spiffeId: 'spiffe://example.org/w/jwt-sup', parentId: a.agentId, role: 'supervisor', jwtSvidTtlSeconds: 3600 });
    const err = (await callUnary(a.client, 'MintJwtSvid', { entry_id: sup.id, audience: [] }).catch((e: unknown) => e)) as grpc.ServiceError;
    expect(err.code).toBe(status.INVALID_ARGUMENT);
    expect(err.details).toBe('audience must be specified');
    const foreign = await h.createEntry({ spiffeId: 'spiffe://example.org/w/jwt-foreign', parentId: 'spiffe://example.org/tessera/agent/join_token/1' });
    expect(await statusOf(callUnary(a.client, 'MintJwtSvid', { entry_id: foreign.id, audience: ['x'] }))).toBe(status.PERMISSION_DENIED);
    const res = await callUnary<{ token: string; expires_at: number }>(a.client, 'MintJwtSvid', { entry_id: sup.id, audience: ['x'] });
    const svid = await parseAndValidateJwtSvid(res.token, h.authority.currentBundle(), ['x'], { now: new Date() });
    expect((svid.claims['exp'] as number) - (svid.claims['iat'] as number)).toBe(POLICY.supervisor.maxJwtTtlSeconds);
    expect(svid.claims['tessera_instance']).toBeUndefined();
  });

  it('refuses too many, too long, NUL-bearing and huge audiences with InvalidArgument naming the limit', async () => {
    const entry = await h.createEntry({ spiffeId: 'spiffe://example.org/w/jwt-aud', parentId: a.agentId });
    const refusal = async (audience: string[]) => {
      const err = (await callUnary(a.client, 'MintJwtSvid', { entry_id: entry.id, audience }).catch((e: unknown) => e)) as grpc.ServiceError;
      return { code: err.code, details: err.details };
    };
    expect(await refusal(Array.from({ length: 17 }, (_, i) => `aud-${i}`))).toEqual({
      code: status.INVALID_ARGUMENT,
      details: 'audience has 17 values; at most 16 are allowed',
    });
    expect(await refusal(['ok', 'x'.repeat(257)])).toEqual({
      code: status.INVALID_ARGUMENT,
      details: 'audience[1] is 257 characters long; at most 256 are allowed',
    });
    expect(await refusal(['https://a.example\0evil'])).toEqual({
      code: status.INVALID_ARGUMENT,
      details: 'audience[0] may hold only printable ASCII characters without spaces (0x21-0x7e)',
    });
    expect((await refusal(['y'.repeat(3 * 1024 * 1024)])).details).toBe(
      `audience[0] is ${3 * 1024 * 1024} characters long; at most 256 are allowed`,
    );
    expect(await h.ds.audit.list({ kind: 'jwt_svid.issued', spiffeId: 'spiffe://example.org/w/jwt-aud' })).toEqual([]);

    const audience = Array.from({ length: 16 }, (_, i) => `https://rp-${i}.example.test/${'p'.repeat(200)}`);
    await callUnary(a.client, 'MintJwtSvid', { entry_id: entry.id, audience });
    const [event] = await h.ds.audit.list({ kind: 'jwt_svid.issued', spiffeId: 'spiffe://example.org/w/jwt-aud' });
    expect(event!.details).toMatchObject({ audience, audienceCount: 16 });
    expect(event!.details!['audienceSha256']).toMatch(/^[0-9a-f]{64}$/);
  });

  it('renews the agent SVID: the new one works, the old one keeps working until it expires, a replay is refused', async () => {
    const b = await h.attestAgent();
    const key = newAgentKey();
    const before = await h.ds.agents.get(b.agentId);
    const res = await callUnary<{ svid_chain: Buffer }>(b.client, 'RenewAgent', { public_key: key.spki });
    const chain = splitDer(res.svid_chain);
    expect(verifyX509Svid(chain, h.authority.currentBundle(), { now: new Date() }).spiffeId.toString()).toBe(b.agentId);
    const after = await h.ds.agents.get(b.agentId);
    expect(after!.svidSerial).not.toBe(before!.svidSerial);
    const [event] = await h.ds.audit.list({ kind: 'agent.renewed', spiffeId: b.agentId });
    expect(event).toMatchObject({ serial: after!.svidSerial, details: { previousSerial: before!.svidSerial } });

    const renewed = h.client({ keyPem: key.pem, chainPem: chainPem(chain) });
    await callUnary(renewed, 'BatchSignX509Svid', { params: [] });
    await callUnary(b.client, 'BatchSignX509Svid', { params: [] }); // previous SVID, within its grace
    // renewing again from the old SVID is a stale renewal
    expect(await statusOf(callUnary(b.client, 'RenewAgent', { public_key: newAgentKey().spki }))).toBe(status.FAILED_PRECONDITION);
    expect(await statusOf(callUnary(renewed, 'RenewAgent', { public_key: Buffer.from('garbage') }))).toBe(status.INVALID_ARGUMENT);
  });
});
