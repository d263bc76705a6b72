import { generateKeyPairSync, X509Certificate, type KeyObject } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { CertificateAuthority } from '../../../src/server/ca/index.js';
import { parseAndValidateJwtSvid } from '../../../src/spiffe/jwtsvid/index.js';
import { encodePem } from '../../../src/spiffe/pem.js';
import { createCaCertificate, verifyX509Svid } from '../../../src/spiffe/x509svid/index.js';
import { createHarness, DAY_SECONDS, HOUR, T0, TD, workloadId, workloadKey, type Harness } from './harness.js';

let h: Harness;
beforeEach(() => {
  h = createHarness();
});
afterEach(() => h.close());

interface Upstream {
  readonly der: Uint8Array;
  readonly key: KeyObject;
}

async function upstreamRoot(ttlSeconds = 30 * DAY_SECONDS): Promise<Upstream> {
  const { publicKey, privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-384' });
  const der = await createCaCertificate({ trustDomain: TD, publicKey, signer: { key: privateKey }, now: new Date(T0 - HOUR), ttlSeconds });
  return { der, key: privateKey };
}

async function upstreamIntermediate(parent: Upstream): Promise<Upstream> {
  const { publicKey, privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const der = await createCaCertificate({
    trustDomain: TD,
    publicKey,
    signer: { key: parent.key, certificate: parent.der },
    now: new Date(T0 - HOUR),
    ttlSeconds: 10 * DAY_SECONDS,
  });
  return { der, key: privateKey };
}

function files(name: string, certs: readonly Uint8Array[], key: KeyObject, bundle?: readonly Uint8Array[]) {
  const certFile = join(h.dir, `${name}.crt.pem`);
  const keyFile = join(h.dir, `${name}.key.pem`);
  writeFileSync(certFile, certs.map((c) => encodePem('CERTIFICATE', c)).join(''));
  writeFileSync(keyFile, key.export({ type: 'pkcs8', format: 'pem' }), { mode: 0o600 });
  if (!bundle) return { certFile, keyFile };
  const bundleFile = join(h.dir, `${name}.bundle.pem`);
  writeFileSync(bundleFile, bundle.map((c) => encodePem('CERTIFICATE', c)).join(''));
  return { certFile, keyFile, bundleFile };
}

const hex = (d: Uint8Array) => Buffer.from(d).toString('hex');
const issue = (ca: CertificateAuthority) =>
  ca.signX509Svid({ spiffeId: workloadId(), publicKey: workloadKey(), ttlSeconds: 3600 });

describe('upstream authority', () => {
  it('signs an intermediate under a self-signed upstream root; the bundle holds the root', async () => {
    const root = await upstreamRoot();
    const ca = await h.open({ upstreamAuthority: files('root', [root.der], root.key) });
    const bundle = ca.currentBundle();
    expect(bundle.x509Bundle.x509Authorities.map(hex)).toEqual([hex(root.der)]);
    const svid = issue(ca);
    expect(svid.chain).toHaveLength(2); // leaf + our intermediate
    const ours = new X509Certificate(svid.chain[1]!);
    expect(ours.ca).toBe(true);
    expect(ours.checkIssued(new X509Certificate(root.der))).toBe(true);
    expect(verifyX509Svid(svid.chain, bundle, { now: h.clock.now() }).chain.map(hex)).toEqual([
      hex(svid.chain[0]!),
      hex(svid.chain[1]!),
      hex(root.der),
    ]);
    verifyX509Svid(ca.currentServerSvid().chain, bundle, { now: h.clock.now() });
    expect(await ca.canSign()).toBe(true);
    // The JWT side is unaffected.
    const { token } = await ca.signJwtSvid({ spiffeId: workloadId(), audience: ['a'], ttlSeconds: 60 });
    await parseAndValidateJwtSvid(token, bundle, ['a'], { now: h.clock.now() });
  });

  it('appends upstream intermediates to issued chains and takes the root from the end of certFile', async () => {
    const root = await upstreamRoot();
    const mid = await upstreamIntermediate(root);
    const ca = await h.open({ upstreamAuthority: files('mid', [mid.der, root.der], mid.key) });
    expect(ca.currentBundle().x509Bundle.x509Authorities.map(hex)).toEqual([hex(root.der)]);
    const svid = issue(ca);
    expect(svid.chain).toHaveLength(3);
    expect(hex(svid.chain[2]!)).toBe(hex(mid.der));
    verifyX509Svid(svid.chain, ca.currentBundle(), { now: h.clock.now() });
  });

  it('uses bundleFile for the roots', async () => {
    const root = await upstreamRoot();
    const mid = await upstreamIntermediate(root);
    const ca = await h.open({ upstreamAuthority: files('b', [mid.der], mid.key, [root.der]) });
    expect(ca.currentBundle().x509Bundle.x509Authorities.map(hex)).toEqual([hex(root.der)]);
    verifyX509Svid(issue(ca).chain, ca.currentBundle(), { now: h.clock.now() });
  });

  it('caps our CA at the upstream certificate expiry, and rotates under the same root', async () => {
    const root = await upstreamRoot(30 * 3600); // valid until T0 + 29 h
    const ca = await h.open({ upstreamAuthority: files('short', [root.der], root.key) });
    expect(ca.activeCaNotAfter().getTime()).toBe(T0 + DAY_SECONDS * 1000); // ttl 1 day < upstream's remaining 29 h
    const before = ca.currentBundle();
    h.clock.set(T0 + 12 * HOUR);
    await ca.tick();
    h.clock.set(T0 + 20 * HOUR);
    await ca.tick();
    // The new intermediate was never in the bundle, and needs not be: the root is.
    const svid = issue(ca);
    verifyX509Svid(svid.chain, before, { now: h.clock.now() });
    expect(ca.activeCaNotAfter().getTime()).toBe(T0 + 29 * HOUR); // prepared at 12 h: capped at the upstream root
  });

  it.each([
    ['no bundleFile and no root in certFile', async () => {
      const root = await upstreamRoot();
      const mid = await upstreamIntermediate(root);
      return files('nb', [mid.der], mid.key);
    }, 'bundleFile'],
    ['a key that does not match', async () => {
      const root = await upstreamRoot();
      const other = await upstreamRoot();
      return files('mm', [root.der], other.key);
    }, 'mm.key.pem'],
    ['a missing certificate file', async () => {
      const root = await upstreamRoot();
      return { ...files('gone', [root.der], root.key), certFile: join(h.dir, 'nope.pem') };
    }, 'nope.pem'],
  ])('refuses %s with FAILED_PRECONDITION', async (_what, make, mention) => {
    const upstreamAuthority = await make();
    await expect(h.open({ upstreamAuthority })).rejects.toMatchObject({
      code: 'FAILED_PRECONDITION',
      message: expect.stringContaining(mention),
    });
  });
});
