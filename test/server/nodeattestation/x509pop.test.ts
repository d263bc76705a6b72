import { createHash, generateKeyPairSync, sign, X509Certificate } from 'node:crypto';
import { describe, expect, it, vi } from 'vitest';
import { isTesseraError } from '../../../src/common/errors.js';
import { checkSelector } from '../../../src/common/selectors.js';
import { signX509PopChallenge, verifyX509PopSignature, x509popChallengeMessage } from '../../../src/common/x509pop.js';
import { createX509PopAttestor, type NodeAttestation } from '../../../src/server/nodeattestation/index.js';
import { TrustDomain } from '../../../src/spiffe/id/index.js';
import { fakeClock } from '../../helpers/fake-clock.js';
import { generateTestKey, KU, LEAF_KU, mintCertificate, type TestCert, type TestKeyKind } from '../../helpers/test-ca.js';

const td = TrustDomain.parse('example.org');
const clock = fakeClock(Date.UTC(2026, 0, 1));
const sha1 = (der: Uint8Array) => createHash('sha1').update(der).digest('hex');
const CA_KU = KU.keyCertSign | KU.cRLSign;

async function run(
  anchors: TestCert[],
  chain: TestCert[],
  signer: (nonce: Buffer) => Buffer = (n) => signX509PopChallenge(chain[0]!.key.privateKey, 'example.org', n),
): Promise<NodeAttestation | string> {
  const attestor = createX509PopAttestor({ trustDomain: td, caBundlePem: anchors.map((a) => a.pem).join(''), clock });
  try {
    return await attestor.attest({ payload: Buffer.concat(chain.map((c) => c.der)) }, async (nonce) => {
      expect(nonce).toHaveLength(32);
      return signer(nonce);
    });
  } catch (err) {
    if (isTesseraError(err)) return err.code;
    throw err;
  }
}

const leafOf = (issuer: TestCert, p: Parameters<typeof mintCertificate>[0] = {}) =>
  mintCertificate({ subject: 'CN=node-1', issuer, ca: false, keyUsage: LEAF_KU, ...p });

describe('x509pop attestor', () => {
  it('validates a chain through an intermediate and yields the ID and selectors', async () => {
    const root = await mintCertificate({ subject: 'CN=Root', ca: true, keyUsage: CA_KU });
    const mid = await mintCertificate({ subject: 'CN=Mid', issuer: root, ca: true, pathLen: 0, keyUsage: CA_KU });
    const leaf = await leafOf(mid, { dnsNames: ['n1.example.test'], uris: ['spiffe://legacy/node'] });
    const got = await run([root], [leaf, mid]);
    expect(got).toMatchObject({});
    const att = got as NodeAttestation;
    expect(att.agentId.toString()).toBe(`spiffe://example.org/tessera/agent/x509pop/${sha1(leaf.der)}`);
    expect(att.selectors.map((s) => `${s.type}:${s.value}`).sort()).toEqual(
      [
        'x509pop:subject:cn:node-1',
        `x509pop:ca:fingerprint:${sha1(mid.der)}`,
        `x509pop:ca:fingerprint:${sha1(root.der)}`,
        'x509pop:san:dns:n1.example.test',
        'x509pop:san:uri:spiffe://legacy/node',
      ].sort(),
    );
    // Each is a form of the selector registry, so a node alias entry can name it.
    expect(att.selectors.filter((s) => !checkSelector(s.type, s.value).ok)).toEqual([]);
  });

  it.each<[string, () => Promise<[TestCert[], TestCert[]]>, string]>([
    [
      'a leaf from another CA',
      async () => {
        const root = await mintCertificate({ ca: true, keyUsage: CA_KU });
        const other = await mintCertificate({ ca: true, keyUsage: CA_KU });
        return [[root], [await leafOf(other)]];
      },
      'PERMISSION_DENIED',
    ],
    [
      'a missing intermediate',
      async () => {
        const root = await mintCertificate({ ca: true, keyUsage: CA_KU });
        const mid = await mintCertificate({ issuer: root, ca: true, keyUsage: CA_KU });
        return [[root], [await leafOf(mid)]];
      },
      'PERMISSION_DENIED',
    ],
    [
      'an expired leaf',
      async () => {
        const root = await mintCertificate({ ca: true, keyUsage: CA_KU });
        return [[root], [await leafOf(root, { notAfter: new Date(Date.UTC(2025, 0, 1)) })]];
      },
      'PERMISSION_DENIED',
    ],
    [
      'an expired anchor',
      async () => {
        const root = await mintCertificate({ ca: true, keyUsage: CA_KU, notAfter: new Date(Date.UTC(2025, 6, 1)) });
        return [[root], [await leafOf(root)]];
      },
      'PERMISSION_DENIED',
    ],
    [
      'a leaf without digitalSignature',
      async () => {
        const root = await mintCertificate({ ca: true, keyUsage: CA_KU });
        return [[root], [await leafOf(root, { keyUsage: KU.keyEncipherment })]];
      },
      'PERMISSION_DENIED',
    ],
    [
      'an issuer that is not a CA',
      async () => {
        const root = await mintCertificate({ ca: true, keyUsage: CA_KU });
        const notCa = await mintCertificate({ issuer: root, ca: false, keyUsage: CA_KU });
        return [[root], [await leafOf(notCa), notCa]];
      },
      'PERMISSION_DENIED',
    ],
    [
      'a path longer than pathLenConstraint',
      async () => {
        const root = await mintCertificate({ ca: true, pathLen: 0, keyUsage: CA_KU });
        const mid = await mintCertificate({ issuer: root, ca: true, keyUsage: CA_KU });
        return [[root], [await leafOf(mid), mid]];
      },
      'PERMISSION_DENIED',
    ],
    [
      'a forged leaf signature',
      async () => {
        const root = await mintCertificate({ ca: true, keyUsage: CA_KU });
        return [[root], [await leafOf(root, { signWith: await generateTestKey() })]];
      },
      'PERMISSION_DENIED',
    ],
  ])('refuses %s', async (_name, make, code) => {
    const [anchors, chain] = await make();
    expect(await run(anchors, chain)).toBe(code);
  });

  it('refuses a signature by another key, over another trust domain, or of garbage', async () => {
    const root = await mintCertificate({ ca: true, keyUsage: CA_KU });
    const leaf = await leafOf(root);
    const other = generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey;
    expect(await run([root], [leaf], (n) => signX509PopChallenge(other, 'example.org', n))).toBe('PERMISSION_DENIED');
    expect(await run([root], [leaf], (n) => signX509PopChallenge(leaf.key.privateKey, 'other.org', n))).toBe('PERMISSION_DENIED');
    expect(await run([root], [leaf], (n) => sign('sha256', n, leaf.key.privateKey))).toBe('PERMISSION_DENIED');
    expect(await run([root], [leaf], () => Buffer.from('garbage'))).toBe('PERMISSION_DENIED');
  });

  it.each<TestKeyKind>(['P-256', 'P-384', 'RSA-2048', 'Ed25519'])('accepts %s node keys with the documented scheme', async (kind) => {
    const root = await mintCertificate({ ca: true, keyUsage: CA_KU });
    const leaf = await leafOf(root, { key: await generateTestKey(kind) });
    expect(typeof (await run([root], [leaf]))).toBe('object');
  });

  it('signs exactly context || 0 || trust domain || 0 || nonce', () => {
    const nonce = Buffer.alloc(32, 7);
    expect(x509popChallengeMessage('example.org', nonce)).toEqual(
      Buffer.concat([Buffer.from('tessera-x509pop-v1\0example.org\0'), nonce]),
    );
    const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const sig = sign('sha256', x509popChallengeMessage('example.org', nonce), privateKey);
    expect(verifyX509PopSignature(publicKey, 'example.org', nonce, sig)).toBe(true);
  });

  it('refuses a payload that is not DER and a chain that is too long with InvalidArgument', async () => {
    const root = await mintCertificate({ ca: true, keyUsage: CA_KU });
    const attestor = createX509PopAttestor({ trustDomain: td, caBundlePem: root.pem, clock });
    const codeOf = (payload: Buffer) =>
      attestor.attest({ payload }, async () => Buffer.alloc(0)).then(
        () => 'OK',
        (e: unknown) => (isTesseraError(e) ? e.code : String(e)),
      );
    expect(await codeOf(Buffer.from('nope'))).toBe('INVALID_ARGUMENT');
    expect(await codeOf(Buffer.alloc(0))).toBe('INVALID_ARGUMENT');
    expect(await codeOf(Buffer.concat(Array.from({ length: 9 }, () => Buffer.from(root.der))))).toBe('INVALID_ARGUMENT');
  });

  it('refuses a CA bundle without certificates at construction', () => {
    expect(() => createX509PopAttestor({ trustDomain: td, caBundlePem: 'nothing here', clock })).toThrow(/no CERTIFICATE/);
  });

  it('refuses a node chain of 7 mutually-issuing CA certificates within the signature-check budget', async () => {
    // Issue 10 item 8: the same name and key on 7 CA certificates made every one a valid issuer of every other; the
    // old depth-first search tried their permutations (~1 s of CPU for one 2.4 KB unauthenticated Attest).
    const anchor = await mintCertificate({ subject: 'CN=Anchor', ca: true, keyUsage: CA_KU });
    const loopKey = await generateTestKey('P-256');
    const loop: TestCert[] = [];
    for (let i = 0; i < 7; i++) loop.push(await mintCertificate({ subject: 'CN=Loop', key: loopKey, ca: true, keyUsage: CA_KU }));
    const leaf = await leafOf(loop[0]!);
    const verify = vi.spyOn(X509Certificate.prototype, 'verify');
    try {
      expect(await run([anchor], [leaf, ...loop])).toBe('PERMISSION_DENIED');
      // One check per loop certificate as the leaf's issuer; none is tried above another with its (subject, SPKI).
      expect(verify).toHaveBeenCalledTimes(7);
    } finally {
      verify.mockRestore();
    }
  });
});
