import type { ChildProcess } from 'node:child_process';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { TesseraError } from '../../src/common/errors.js';
import { parseX509Svid, verifyX509Svid } from '../../src/spiffe/x509svid/index.js';
import { parseCertificate } from '../../src/spiffe/x509svid/certificate-info.js';
import type { WorkloadSession } from '../../src/agent/types.js';
import {
  agentConfig,
  callerOf,
  eventually,
  exited,
  spawnWorkload,
  startTestAgent,
  startTestServer,
  tempDir,
  workloadBinary,
  type TestAgent,
  type TestServer,
} from './harness.js';

const UID = `uid:${process.getuid!()}`;

function serialOf(session: WorkloadSession, i = 0): string {
  return parseCertificate(session.current().x509Svids[i]!.chain[0]!).serial.toString(16);
}

function jwtPayload(token: string): Record<string, unknown> {
  return JSON.parse(Buffer.from(token.split('.')[1]!, 'base64url').toString('utf8')) as Record<string, unknown>;
}

async function codeOf(p: Promise<unknown>): Promise<string> {
  try {
    await p;
  } catch (err) {
    if (err instanceof TesseraError) return err.code;
    throw err;
  }
  throw new Error('expected a failure');
}

describe('workload identities (real server, real attestor, real processes)', () => {
  let server: TestServer;
  let a: TestAgent;
  let agentId: string;
  const dir = tempDir('tessera-workloads-');
  const children: ChildProcess[] = [];

  const spawn = (binary: string) => {
    const c = spawnWorkload(binary);
    children.push(c);
    return c;
  };
  const entryFor = (binary: string, spiffeId: string, extra: { x509TtlSeconds?: number; hint?: string } = {}) =>
    server.createEntry({
      spiffeId,
      parentId: agentId,
      selectors: [
        { type: 'unix', value: UID },
        { type: 'unix', value: `path:${binary}` },
      ],
      ...extra,
    });

  beforeAll(async () => {
    server = await startTestServer();
    const { token } = await server.joinToken();
    a = await startTestAgent(await agentConfig(server, dir.path, { joinToken: { token } }), dir.path);
    await a.agent.ready();
    agentId = a.agent.identity.svid!.spiffeId;
  });
  afterEach(async () => {
    await Promise.all(children.splice(0).map((c) => exited(c)));
  });
  afterAll(async () => {
    await a.stop();
    await server.close();
    dir.remove();
  });

  it('receives a new entry from sync and serves it to a matching process', async () => {
    const bin = workloadBinary(dir.path, 'sync-workload');
    const entry = await entryFor(bin, 'spiffe://example.org/sync/workload', { hint: 'internal' });
    await eventually(() => a.agent.provider.entries.some((e) => e.id === entry.id), undefined, 'entry synced');

    const child = spawn(bin);
    const session = await a.agent.provider.session(callerOf(child.pid));
    const state = session.current();
    expect(state.x509Svids).toHaveLength(1);
    const svid = state.x509Svids[0]!;
    expect(svid.spiffeId).toBe('spiffe://example.org/sync/workload');
    expect(svid.hint).toBe('internal');
    // the key is the leaf's, and the chain verifies against the bundle served with it
    expect(parseX509Svid(svid.chain, svid.privateKeyPkcs8).spiffeId.toString()).toBe(svid.spiffeId);
    expect(verifyX509Svid(svid.chain, state.x509Bundle, { now: new Date() }).spiffeId.toString()).toBe(svid.spiffeId);
    expect(state.trustDomain.name).toBe('example.org');
    expect(state.jwtBundle.isEmpty()).toBe(false);
  });

  it('gives two processes with identical selectors different keys, serials and instance IDs; one process one session', async () => {
    const bin = workloadBinary(dir.path, 'twin-workload');
    await entryFor(bin, 'spiffe://example.org/agents/invoice/{instance}');
    await entryFor(bin, 'spiffe://example.org/twin');
    await eventually(() => a.agent.provider.entries.filter((e) => e.spiffeId.includes('invoice') || e.spiffeId.endsWith('/twin')).length === 2);
    const c1 = spawn(bin);
    const c2 = spawn(bin);
    const [s1, s2] = await Promise.all([
      a.agent.provider.session(callerOf(c1.pid)),
      a.agent.provider.session(callerOf(c2.pid)),
    ]);
    expect(s1.instanceId).toMatch(/^[0-9a-f]{32}$/);
    expect(s2.instanceId).toMatch(/^[0-9a-f]{32}$/);
    expect(s1.instanceId).not.toBe(s2.instanceId);
    const x1 = s1.current().x509Svids;
    const x2 = s2.current().x509Svids;
    expect(x1.map((s) => s.spiffeId).sort()).toEqual([`spiffe://example.org/agents/invoice/${s1.instanceId}`, 'spiffe://example.org/twin']);
    expect(x2.map((s) => s.spiffeId).sort()).toEqual([`spiffe://example.org/agents/invoice/${s2.instanceId}`, 'spiffe://example.org/twin']);
    // the same default identity (entry order: creation time, then entry ID) for both
    const pattern = (xs: typeof x1, id: string) => xs.map((s) => s.spiffeId.replace(id, '{instance}'));
    expect(pattern(x1, s1.instanceId)).toEqual(pattern(x2, s2.instanceId));
    expect(Buffer.from(x1[0]!.privateKeyPkcs8).equals(Buffer.from(x2[0]!.privateKeyPkcs8))).toBe(false);
    const serials = [serialOf(s1, 0), serialOf(s1, 1), serialOf(s2, 0), serialOf(s2, 1)];
    expect(new Set(serials).size).toBe(4);

    // the same instance again (a second connection): the same session, nothing new signed
    const again = await a.agent.provider.session(callerOf(c1.pid));
    expect(again).toBe(s1);
    expect(serialOf(again, 1)).toBe(serials[1]);

    // the server's audit trail ties each serial to its instance
    const events = await server.admin.call<{ events: { kind: string; serial: string; instance_id: string }[] }>(
      'AuditService',
      'ListAuditEvents',
      { instance_id: s1.instanceId },
    );
    expect(events.events.filter((e) => e.kind === 'x509_svid.issued').map((e) => e.serial).sort()).toEqual(
      [serials[0], serials[1]].sort(),
    );
  });

  it('refuses a process no entry matches with PERMISSION_DENIED', async () => {
    const bin = workloadBinary(dir.path, 'stranger');
    const child = spawn(bin);
    expect(await codeOf(a.agent.provider.session(callerOf(child.pid)))).toBe('PERMISSION_DENIED');
  });

  it('rotates short-lived SVIDs before they expire and pushes each rotation through onChange', async () => {
    const bin = workloadBinary(dir.path, 'rotating');
    await entryFor(bin, 'spiffe://example.org/rotating', { x509TtlSeconds: 6 });
    await eventually(() => a.agent.provider.entries.some((e) => e.spiffeId === 'spiffe://example.org/rotating'));
    const child = spawn(bin);
    const session = await a.agent.provider.session(callerOf(child.pid));
    const seen: { serial: string; at: number; notAfter: number; key: string }[] = [];
    const record = () => {
      const svid = session.current().x509Svids[0]!;
      seen.push({
        serial: serialOf(session),
        at: Date.now(),
        notAfter: svid.notAfter.getTime(),
        key: Buffer.from(svid.privateKeyPkcs8).toString('hex'),
      });
    };
    record();
    const off = session.onChange((e) => {
      if (!e.closed) record();
    });
    await eventually(() => seen.length >= 3, 12_000, 'two rotations');
    off();
    for (let i = 1; i < 3; i++) {
      expect(seen[i]!.serial).not.toBe(seen[i - 1]!.serial);
      expect(seen[i]!.key).not.toBe(seen[i - 1]!.key);
      // the new SVID arrived before the old one expired
      expect(seen[i]!.at).toBeLessThan(seen[i - 1]!.notAfter);
      // and was not issued early: with a fixed 6 s TTL the expiries are as far apart as the issue times, which the
      // agent schedules at half the life ± 10 % (a late timer on a loaded machine only moves them further apart);
      // X.509 times have whole seconds, so the gap seen can be up to 1 s shorter than the real one
      expect(seen[i]!.notAfter - seen[i - 1]!.notAfter).toBeGreaterThanOrEqual(6_000 * 0.5 * 0.9 - 1_000);
    }
  });

  it('closes the session of a process that exits: SVIDs dropped, listeners told `closed`', async () => {
    const bin = workloadBinary(dir.path, 'short-lived');
    await entryFor(bin, 'spiffe://example.org/short-lived');
    await eventually(() => a.agent.provider.entries.some((e) => e.spiffeId === 'spiffe://example.org/short-lived'));
    const child = spawn(bin);
    const session = await a.agent.provider.session(callerOf(child.pid));
    let closedAt = 0;
    session.onChange((e) => {
      if (e.closed) closedAt = Date.now();
    });
    await exited(child);
    await eventually(() => closedAt > 0, 5_000, 'closed event');
    expect(session.current().x509Svids).toHaveLength(0);
    expect(a.agent.provider.instances().map((i) => i.instanceId)).not.toContain(session.instanceId);
    expect(await codeOf(session.fetchJwtSvids(['aud']))).toBe('PERMISSION_DENIED');
  });

  it('mints JWT-SVIDs per instance with its instance ID, cached per audience, never across instances', async () => {
    const bin = workloadBinary(dir.path, 'jwt-workload');
    await entryFor(bin, 'spiffe://example.org/jwt');
    await eventually(() => a.agent.provider.entries.some((e) => e.spiffeId === 'spiffe://example.org/jwt'));
    const c1 = spawn(bin);
    const c2 = spawn(bin);
    const s1 = await a.agent.provider.session(callerOf(c1.pid));
    const s2 = await a.agent.provider.session(callerOf(c2.pid));
    const [j1] = await s1.fetchJwtSvids(['https://api.example.org']);
    const claims = jwtPayload(j1!.token);
    expect(claims['sub']).toBe('spiffe://example.org/jwt');
    expect(claims['aud']).toEqual(['https://api.example.org']);
    expect(claims['tessera_instance']).toBe(s1.instanceId);
    const [again] = await s1.fetchJwtSvids(['https://api.example.org']);
    expect(again!.token).toBe(j1!.token);
    const [other] = await s1.fetchJwtSvids(['https://other.example.org']);
    expect(other!.token).not.toBe(j1!.token);
    const [j2] = await s2.fetchJwtSvids(['https://api.example.org']);
    expect(j2!.token).not.toBe(j1!.token);
    expect(jwtPayload(j2!.token)['tessera_instance']).toBe(s2.instanceId);
    const [only] = await s1.fetchJwtSvids(['a'], 'spiffe://example.org/jwt');
    expect(only!.spiffeId).toBe('spiffe://example.org/jwt');
    expect(await codeOf(s1.fetchJwtSvids(['a'], 'spiffe://example.org/someone-else'))).toBe('PERMISSION_DENIED');
  });

  it('drops an SVID whose entry is deleted and tells the listeners', async () => {
    const bin = workloadBinary(dir.path, 'deleted');
    const keep = await entryFor(bin, 'spiffe://example.org/keep');
    const drop = await entryFor(bin, 'spiffe://example.org/drop');
    await eventually(() => a.agent.provider.entries.some((e) => e.id === drop.id));
    const child = spawn(bin);
    const session = await a.agent.provider.session(callerOf(child.pid));
    expect(session.current().x509Svids.map((s) => s.spiffeId).sort()).toEqual(['spiffe://example.org/drop', 'spiffe://example.org/keep']);
    let changes = 0;
    session.onChange(() => changes++);
    await server.deleteEntry(drop.id);
    await eventually(() => session.current().x509Svids.length === 1, undefined, 'SVID dropped');
    expect(session.current().x509Svids[0]!.spiffeId).toBe('spiffe://example.org/keep');
    expect(changes).toBeGreaterThan(0);
    await server.deleteEntry(keep.id);
    await eventually(() => session.current().x509Svids.length === 0, undefined, 'no identity left');
  });
});

describe('server outage (real server stopped and restarted)', () => {
  let server: TestServer;
  let a: TestAgent;
  const dir = tempDir('tessera-outage-');
  let child: ChildProcess & { pid: number };

  beforeAll(async () => {
    server = await startTestServer();
    const { token } = await server.joinToken();
    a = await startTestAgent(await agentConfig(server, dir.path, { joinToken: { token } }), dir.path, {
      tuning: { retry: { initialMs: 200, maxMs: 500 }, syncBackoff: { initialMs: 100, maxMs: 500 }, reconnectMaxMs: 500 },
    });
    await a.agent.ready();
  });
  afterAll(async () => {
    if (child) await exited(child);
    await a.stop();
    await server.close();
    dir.remove();
  });

  async function reachableGauge(): Promise<number> {
    const text = await (await fetch(`http://${a.agent.httpAddress}/metrics`)).text();
    const m = /^tessera_agent_server_reachable (\d)/m.exec(text);
    return Number(m?.[1]);
  }

  it('serves cached SVIDs while the server is down, drops them at expiry, and rotates again once it is back', async () => {
    const bin = workloadBinary(dir.path, 'outage');
    await server.createEntry({
      spiffeId: 'spiffe://example.org/outage',
      parentId: a.agent.identity.svid!.spiffeId,
      selectors: [
        { type: 'unix', value: UID },
        { type: 'unix', value: `path:${bin}` },
      ],
      x509TtlSeconds: 6,
    });
    await eventually(() => a.agent.provider.entries.some((e) => e.spiffeId === 'spiffe://example.org/outage'));
    child = spawnWorkload(bin);
    const session = await a.agent.provider.session(callerOf(child.pid));
    const first = session.current().x509Svids[0]!;
    const firstSerial = serialOf(session);
    expect(await reachableGauge()).toBe(1);

    // Phase 1: down past the renewal point, back before expiry.
    await server.stop();
    await eventually(async () => (await reachableGauge()) === 0, 5_000, 'unreachable gauge');
    await eventually(
      () => a.logs().some((l) => l['msg'] === 'Workload X509-SVID rotation failed; will retry'),
      8_000,
      'a failed rotation',
    );
    expect(Date.now()).toBeLessThan(first.notAfter.getTime());
    expect(serialOf(session)).toBe(firstSerial); // cached SVID still served
    expect(a.logs().some((l) => l['msg'] === 'Server unreachable; serving cached SVIDs and retrying')).toBe(true);
    await server.restart();
    const second = await eventually(() => (serialOf(session) !== firstSerial ? session.current().x509Svids[0]! : undefined), 5_000, 'rotation after restart');
    expect(Date.now()).toBeLessThan(first.notAfter.getTime());
    await eventually(async () => (await reachableGauge()) === 1, 5_000, 'reachable gauge');

    // Phase 2: down past expiry: the SVID is dropped at its expiry, then re-issued once the server is back.
    await server.stop();
    await eventually(() => session.current().x509Svids.length === 0, 10_000, 'expired SVID dropped');
    expect(Date.now()).toBeGreaterThanOrEqual(second.notAfter.getTime() - 50);
    await server.restart();
    await eventually(() => session.current().x509Svids.length === 1, 8_000, 'SVID re-issued');
    expect(serialOf(session)).not.toBe(firstSerial);
  });

  it('says 503 on /readyz with the reason while the server is unreachable (a new process could get no SVID), 200 once it is back', async () => {
    const readyz = async () => {
      const res = await fetch(`http://${a.agent.httpAddress}/readyz`);
      return { status: res.status, body: (await res.json()) as { status: string; reason?: string } };
    };
    await eventually(async () => (await readyz()).status === 200, 5_000, 'ready');
    await server.stop();
    const down = await eventually(async () => {
      const r = await readyz();
      return r.status === 503 ? r : undefined;
    }, 8_000, '503 while the server is down');
    expect(down.body).toEqual({
      status: 'not ready',
      reason: 'cannot reach the server: a new process cannot get an SVID (cached SVIDs are still served)',
    });
    expect(a.agent.identity.ready).toBe(true); // its own SVID is fine: only the server is missing
    await server.restart();
    await eventually(async () => (await readyz()).status === 200, 8_000, 'ready again once the server is back');
  });
});
