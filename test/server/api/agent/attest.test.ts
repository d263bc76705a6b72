import { createHash } from 'node:crypto';
import { writeFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { status, type ClientDuplexStream } from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { signX509PopChallenge } from '../../../../src/common/x509pop.js';
import { parseX509Svid, verifyX509Svid } from '../../../../src/spiffe/x509svid/index.js';
import { X509Bundle } from '../../../../src/spiffe/bundle/index.js';
import { attest, callUnary, statusOf } from '../../../helpers/agent-client.js';
import { newAgentKey } from '../../../helpers/test-authority.js';
import { KU, LEAF_KU, mintCertificate, type TestCert } from '../../../helpers/test-ca.js';
import { captureLogger } from '../../../helpers/log-capture.js';
import { startHarness, type Harness } from './harness.js';

describe('AgentService.Attest', () => {
  let h: Harness;
  let dir: string;
  let nodeCa: TestCert;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'tessera-x509pop-'));
    nodeCa = await mintCertificate({ subject: 'CN=Node CA', ca: true, keyUsage: KU.keyCertSign | KU.cRLSign });
    writeFileSync(join(dir, 'ca.pem'), nodeCa.pem);
    h = await startHarness({ x509popCaFile: join(dir, 'ca.pem') });
  });
  afterAll(async () => {
    await h.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('attests with a join token, without a client certificate, and records agent, audit and selectors', async () => {
    const token = await h.newToken();
    const key = newAgentKey();
    const result = await attest(h.client(), { attestor: 'join_token', payload: Buffer.from(token), agent_public_key: key.spki });
    expect(result.spiffe_id).toMatch(/^spiffe:\/\/example\.org\/tessera\/agent\/join_token\/[0-9a-f]{32}$/);
    const svid = parseX509Svid(result.svid_chain);
    expect(svid.spiffeId.toString()).toBe(result.spiffe_id);
    const bundle = X509Bundle.parseDer('example.org', result.bundle);
    expect(verifyX509Svid(svid.certificates, bundle, { now: new Date() }).spiffeId.toString()).toBe(result.spiffe_id);
    expect(result.selectors).toEqual([{ type: 'join_token', value: result.spiffe_id.split('/').pop() }]);

    const record = await h.ds.agents.get(result.spiffe_id);
    expect(record).toMatchObject({ attestor: 'join_token', banned: false });
    const events = await h.ds.audit.list({ kind: 'agent.attested', spiffeId: result.spiffe_id });
    expect(events).toHaveLength(1);
    expect(events[0]!.serial).toBe(record!.svidSerial);
    expect(JSON.stringify(events)).not.toContain(token);
  });

  it('refuses a reused token, an unknown token and an expired token with PermissionDenied', async () => {
    const token = await h.newToken();
    const start = (t: string) => ({ attestor: 'join_token', payload: Buffer.from(t), agent_public_key: newAgentKey().spki });
    await attest(h.client(), start(token));
    expect(await statusOf(attest(h.client(), start(token)))).toBe(status.PERMISSION_DENIED);
    expect(await statusOf(attest(h.client(), start('never-minted-token')))).toBe(status.PERMISSION_DENIED);
    const expired = await h.newToken(-10);
    expect(await statusOf(attest(h.client(), start(expired)))).toBe(status.PERMISSION_DENIED);
  });

  it('lets exactly one of many concurrent attestations with the same token succeed', async () => {
    const token = await h.newToken();
    const outcomes = await Promise.allSettled(
      Array.from({ length: 8 }, () =>
        attest(h.client(), { attestor: 'join_token', payload: Buffer.from(token), agent_public_key: newAgentKey().spki }),
      ),
    );
    expect(outcomes.filter((o) => o.status === 'fulfilled')).toHaveLength(1);
    for (const o of outcomes) {
      if (o.status === 'rejected') expect((o.reason as { code: number }).code).toBe(status.PERMISSION_DENIED);
    }
  });

  it('refuses unknown attestors, garbage keys and a stream that does not open with start', async () => {
    const token = await h.newToken();
    expect(
      await statusOf(attest(h.client(), { attestor: 'tpm', payload: Buffer.from(token), agent_public_key: newAgentKey().spki })),
    ).toBe(status.INVALID_ARGUMENT);
    expect(
      await statusOf(attest(h.client(), { attestor: 'join_token', payload: Buffer.from(token), agent_public_key: Buffer.from('garbage') })),
    ).toBe(status.INVALID_ARGUMENT);
    // the garbage key did not burn the token
    await attest(h.client(), { attestor: 'join_token', payload: Buffer.from(token), agent_public_key: newAgentKey().spki });

    const client = h.client();
    const code = await new Promise<number>((resolve) => {
      const call = (client['Attest'] as () => ClientDuplexStream<unknown, unknown>)();
      call.on('error', (e: { code: number }) => resolve(e.code));
      call.on('data', () => undefined);
      call.write({ challenge_response: Buffer.from('x') });
    });
    expect(code).toBe(status.INVALID_ARGUMENT);
  });

  it('never logs the join token', async () => {
    const { log, lines } = captureLogger('trace');
    const h2 = await startHarness({ log });
    try {
      const token = await h2.newToken();
      const start = () => ({ attestor: 'join_token', payload: Buffer.from(token), agent_public_key: newAgentKey().spki });
      await attest(h2.client(), start());
      expect(await statusOf(attest(h2.client(), start()))).toBe(status.PERMISSION_DENIED);
      const text = JSON.stringify(lines());
      expect(text).toContain('Agent attested');
      expect(text).toContain('Request refused');
      expect(text).not.toContain(token);
    } finally {
      await h2.close();
    }
  });

  it('refuses a disabled attestor', async () => {
    const h2 = await startHarness({ joinTokenEnabled: false });
    try {
      const token = await h2.newToken();
      const code = await statusOf(
        attest(h2.client(), { attestor: 'join_token', payload: Buffer.from(token), agent_public_key: newAgentKey().spki }),
      );
      expect(code).toBe(status.FAILED_PRECONDITION);
      expect(await statusOf(
        attest(h2.client(), { attestor: 'x509pop', payload: Buffer.from('x'), agent_public_key: newAgentKey().spki }),
      )).toBe(status.FAILED_PRECONDITION);
    } finally {
      await h2.close();
    }
  });

  describe('x509pop', () => {
    async function nodeCert(issuer: TestCert, p: Parameters<typeof mintCertificate>[0] = {}): Promise<TestCert> {
      return mintCertificate({
        subject: 'CN=node-7',
        issuer,
        ca: false,
        keyUsage: LEAF_KU,
        dnsNames: ['node-7.example.test'],
        uris: ['urn:node:7'],
        ...p,
      });
    }

    it('attests a node whose certificate chains to the configured CA and signs the challenge', async () => {
      const node = await nodeCert(nodeCa);
      const key = newAgentKey();
      const result = await attest(
        h.client(),
        { attestor: 'x509pop', payload: Buffer.from(node.der), agent_public_key: key.spki },
        (nonce) => signX509PopChallenge(node.key.privateKey, 'example.org', nonce),
      );
      const fp = (der: Uint8Array) => createHash('sha1').update(der).digest('hex');
      expect(result.spiffe_id).toBe(`spiffe://example.org/tessera/agent/x509pop/${fp(node.der)}`);
      expect(result.selectors.map((s) => `${s.type}:${s.value}`).sort()).toEqual(
        [
          'x509pop:subject:cn:node-7',
          `x509pop:ca:fingerprint:${fp(nodeCa.der)}`,
          'x509pop:san:dns:node-7.example.test',
          'x509pop:san:uri:urn:node:7',
        ].sort(),
      );
      const agent = await h.ds.agents.get(result.spiffe_id);
      expect(agent?.attestor).toBe('x509pop');
      // re-attestation of the same node is allowed and replaces the record
      const again = await attest(
        h.client(),
        { attestor: 'x509pop', payload: Buffer.from(node.der), agent_public_key: key.spki },
        (nonce) => signX509PopChallenge(node.key.privateKey, 'example.org', nonce),
      );
      expect(again.spiffe_id).toBe(result.spiffe_id);
    });

    it('refuses a certificate from another CA, a bad signature and a wrong trust domain in the signed message', async () => {
      const otherCa = await mintCertificate({ subject: 'CN=Other CA', ca: true, keyUsage: KU.keyCertSign });
      const stranger = await nodeCert(otherCa);
      const start = (c: TestCert) => ({ attestor: 'x509pop', payload: Buffer.from(c.der), agent_public_key: newAgentKey().spki });
      expect(
        await statusOf(attest(h.client(), start(stranger), (n) => signX509PopChallenge(stranger.key.privateKey, 'example.org', n))),
      ).toBe(status.PERMISSION_DENIED);

      const node = await nodeCert(nodeCa);
      const otherKey = newAgentKey();
      expect(
        await statusOf(attest(h.client(), start(node), (n) => signX509PopChallenge(otherKey.privateKey, 'example.org', n))),
      ).toBe(status.PERMISSION_DENIED);
      expect(
        await statusOf(attest(h.client(), start(node), (n) => signX509PopChallenge(node.key.privateKey, 'evil.org', n))),
      ).toBe(status.PERMISSION_DENIED);
      expect(await statusOf(attest(h.client(), start(node), () => Buffer.alloc(0)))).toBe(status.PERMISSION_DENIED);
    });

    it('fails a stream that ends before answering (InvalidArgument) or never answers (attestation timeout)', async () => {
      const node = await nodeCert(nodeCa);
      const h2 = await startHarness({ x509popCaFile: join(dir, 'ca.pem'), config: { attestTimeoutMs: 300 } });
      try {
        const run = (endEarly: boolean) =>
          new Promise<{ code: number; details: string }>((resolve) => {
            const call = (h2.client()['Attest'] as () => ClientDuplexStream<unknown, unknown>)();
            call.on('error', (e: { code: number; details: string }) => resolve({ code: e.code, details: e.details }));
            call.on('data', () => undefined);
            call.write({ start: { attestor: 'x509pop', payload: Buffer.from(node.der), agent_public_key: newAgentKey().spki } });
            if (endEarly) call.end();
          });
        expect((await run(true)).code).toBe(status.INVALID_ARGUMENT);
        // The server's attestation timer (attestTimeoutMs) ends the silent stream, not the client giving up.
        expect(await run(false)).toEqual({
          code: status.UNAVAILABLE,
          details: expect.stringMatching(/^attestation did not complete within \d+ m?s$/),
        });
      } finally {
        await h2.close();
      }
    });

    it('refuses garbage payloads with InvalidArgument', async () => {
      expect(
        await statusOf(
          attest(h.client(), { attestor: 'x509pop', payload: Buffer.from('not der'), agent_public_key: newAgentKey().spki }),
        ),
      ).toBe(status.INVALID_ARGUMENT);
    });
  });

  it('answers other RPCs without a client certificate with Unauthenticated', async () => {
    expect(await statusOf(callUnary(h.client(), 'RenewAgent', { public_key: newAgentKey().spki }))).toBe(
      status.UNAUTHENTICATED,
    );
  });
});
