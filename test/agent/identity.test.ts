import { createHash } from 'node:crypto';
import { readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseX509Svid } from '../../src/spiffe/x509svid/index.js';
import { decodePem } from '../../src/spiffe/pem.js';
import { KU, mintCertificate, type TestCert } from '../helpers/test-ca.js';
import { agentConfig, eventually, startTestAgent, startTestServer, tempDir, type TestServer } from './harness.js';

function storedSerial(dataDir: string): string {
  const text = readFileSync(join(dataDir, 'agent', 'agent-svid.pem'), 'utf8');
  const leaf = decodePem(text).find((b) => b.type === 'CERTIFICATE')!;
  return createHash('sha256').update(leaf.der).digest('hex');
}

describe('agent SVID lifecycle (real server)', () => {
  let server: TestServer;
  let nodeCa: TestCert;
  const dirs: { remove: () => void }[] = [];

  beforeAll(async () => {
    const d = tempDir('tessera-node-ca-');
    dirs.push(d);
    nodeCa = await mintCertificate({ subject: 'CN=Node CA', ca: true, keyUsage: KU.keyCertSign | KU.cRLSign });
    writeFileSync(join(d.path, 'node-ca.pem'), nodeCa.pem);
    server = await startTestServer({ x509popCaFile: join(d.path, 'node-ca.pem') });
  });
  afterAll(async () => {
    await server.close();
    for (const d of dirs) d.remove();
  });

  it('attests with a join token, stores the SVID 0600 in a 0700 dir, and a restart reuses it without the token', async () => {
    const d = tempDir();
    dirs.push(d);
    const { token, agentId } = await server.joinToken();
    const config = await agentConfig(server, d.path, { joinToken: { token } });
    const a = await startTestAgent(config, d.path);
    await a.agent.ready();
    expect(a.agent.identity.svid?.spiffeId).toBe(agentId);
    const file = join(config.dataDir, 'agent', 'agent-svid.pem');
    expect(statSync(file).mode & 0o777).toBe(0o600);
    expect(statSync(join(config.dataDir, 'agent')).mode & 0o777).toBe(0o700);
    const text = readFileSync(file, 'utf8');
    expect(parseX509Svid(decodePem(text).filter((b) => b.type === 'CERTIFICATE').map((b) => b.der)).spiffeId.toString()).toBe(agentId);
    expect(JSON.stringify(a.logs())).not.toContain(token);
    const serial = storedSerial(config.dataDir);
    await a.stop();

    // Restart with a token that was never minted: the stored SVID is used, no attestation happens.
    const again = await agentConfig(server, d.path, { joinToken: { token: 'never-minted-token-0000' } });
    const b = await startTestAgent(again, d.path);
    await b.agent.ready();
    expect(b.agent.identity.svid?.spiffeId).toBe(agentId);
    expect(storedSerial(config.dataDir)).toBe(serial);
    expect(b.logs().some((l) => l['msg'] === 'Using the stored agent SVID')).toBe(true);
    expect(b.logs().some((l) => l['msg'] === 'Agent attested')).toBe(false);
    await b.stop();
  });

  it('attests with x509pop and re-attests by itself after eviction', async () => {
    const d = tempDir();
    dirs.push(d);
    const node = await mintCertificate({
      subject: 'CN=node-7',
      issuer: nodeCa,
      keyUsage: KU.digitalSignature,
    });
    writeFileSync(join(d.path, 'node.crt'), node.pem);
    writeFileSync(
      join(d.path, 'node.key'),
      node.key.privateKey.export({ type: 'pkcs8', format: 'pem' }) as string,
    );
    const config = await agentConfig(server, d.path, { x509pop: { certFile: 'node.crt', keyFile: 'node.key' } });
    const a = await startTestAgent(config, d.path, { tuning: { syncBackoff: { initialMs: 50, maxMs: 500 }, retry: { initialMs: 50, maxMs: 500 } } });
    await a.agent.ready();
    const agentId = a.agent.identity.svid!.spiffeId;
    const fp = createHash('sha1').update(node.der).digest('hex');
    expect(agentId).toBe(`spiffe://example.org/tessera/agent/x509pop/${fp}`);
    const firstSerial = a.agent.identity.svid!.serial;

    await server.evict(agentId);
    await eventually(() => a.agent.identity.svid!.serial !== firstSerial, 10_000, 're-attestation');
    expect(a.logs().some((l) => l['msg'] === 'Agent attested' && l['reason'] === 'refused')).toBe(true);
    const agents = await server.admin.call<{ agents: { spiffe_id: string }[] }>('AgentAdminService', 'ListAgents', {});
    expect(agents.agents.map((x) => x.spiffe_id)).toContain(agentId);
    await eventually(() => a.agent.isReady().ok, 5_000, 'ready again');
    await a.stop();
  });

  it('an evicted join-token agent does not re-attest: it logs an error and reports not ready', async () => {
    const d = tempDir();
    dirs.push(d);
    const { token, agentId } = await server.joinToken();
    const config = await agentConfig(server, d.path, { joinToken: { token } });
    const a = await startTestAgent(config, d.path, { tuning: { syncBackoff: { initialMs: 50, maxMs: 500 } } });
    await a.agent.ready();
    await server.evict(agentId);
    await eventually(() => !a.agent.isReady().ok, 5_000, 'not ready');
    await eventually(() => a.logs().some((l) => l['level'] === 'error' && String(l['msg']).includes('join token cannot be used again')), 5_000, 'error log');
    const res = await fetch(`http://${a.agent.httpAddress}/readyz`);
    expect(res.status).toBe(503);
    expect(JSON.stringify(a.logs())).not.toContain(token);
    await a.stop();
  });

  it('trusts the server on first use with insecureBootstrap and keeps the bundle it returns', async () => {
    const d = tempDir();
    dirs.push(d);
    const { token, agentId } = await server.joinToken();
    const base = await agentConfig(server, d.path, { joinToken: { token } });
    const config = { ...base, bootstrap: { kind: 'insecure' as const } };
    const a = await startTestAgent(config, d.path);
    await a.agent.ready();
    expect(a.agent.identity.svid?.spiffeId).toBe(agentId);
    expect(a.logs().some((l) => l['level'] === 'warn' && String(l['msg']).startsWith('Insecure bootstrap'))).toBe(true);
    const stored = readFileSync(join(config.dataDir, 'agent', 'bundle.pem'), 'utf8');
    expect(stored).toBe(await server.bundlePem());
    await a.stop();
  });
});

describe('agent SVID renewal at half life (real server, 6 s agent SVIDs)', () => {
  let server: TestServer;
  const d = tempDir();
  beforeAll(async () => {
    server = await startTestServer({ policy: { agentSvidTtlSeconds: 6 } });
  });
  afterAll(async () => {
    await server.close();
    d.remove();
  });

  it('renews at about half the life with a new key, stores it, and keeps syncing', async () => {
    const { token } = await server.joinToken();
    const config = await agentConfig(server, d.path, { joinToken: { token } });
    const a = await startTestAgent(config, d.path);
    await a.agent.ready();
    const first = a.agent.identity.svid!;
    const lifeMs = first.notAfter.getTime() - first.issuedAt.getTime();
    expect(lifeMs).toBeGreaterThan(4_000);
    expect(lifeMs).toBeLessThanOrEqual(6_000);
    const stored = storedSerial(config.dataDir);
    const renewed = await eventually(() => {
      const s = a.agent.identity.svid!;
      return s.serial !== first.serial ? s : undefined;
    }, 8_000, 'renewal');
    // Scheduled at 50 % ± 10 % of the life: the agent's clock said at least 40 % had passed when it took the renewed
    // SVID (issuedAt is when the agent received it), and the first one was still valid then. No test-side stopwatch.
    expect(renewed.issuedAt.getTime() - first.issuedAt.getTime()).toBeGreaterThanOrEqual(lifeMs * 0.4);
    expect(renewed.issuedAt.getTime()).toBeLessThan(first.notAfter.getTime());
    expect(renewed.spiffeId).toBe(first.spiffeId);
    expect(renewed.privateKey.export({ format: 'jwk' }).d).not.toBe(first.privateKey.export({ format: 'jwk' }).d);
    expect(storedSerial(config.dataDir)).not.toBe(stored);
    // a second renewal on the new SVID (mTLS with the renewed certificate)
    await eventually(() => a.agent.identity.svid!.serial !== renewed.serial, 8_000, 'second renewal');
    expect(a.agent.isReady().ok).toBe(true);
    await a.stop();
  });
});
