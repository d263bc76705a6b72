import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { CertificateAuthority } from '../../../src/server/ca/index.js';
import type { SpiffeBundle } from '../../../src/spiffe/bundle/index.js';
import { parseAndValidateJwtSvid } from '../../../src/spiffe/jwtsvid/index.js';
import { verifyX509Svid } from '../../../src/spiffe/x509svid/index.js';
import { createHarness, HOUR, T0, workloadId, workloadKey, type Harness } from './harness.js';

let h: Harness;
let ca: CertificateAuthority;
beforeEach(async () => {
  h = createHarness();
  ca = await h.open(); // CA and JWT keys live one day: prepare at 12 h, activate at 20 h, drop after 24 h + 60 s
});
afterEach(() => h.close());

const at = async (ms: number) => {
  h.clock.set(ms);
  await ca.tick();
};
const kidOf = (token: string) =>
  (JSON.parse(Buffer.from(token.split('.')[0]!, 'base64url').toString()) as { kid: string }).kid;
const jwtKids = (b: SpiffeBundle) => [...b.jwtBundle.jwtAuthorities.keys()];
const x509Count = (b: SpiffeBundle) => b.x509Bundle.x509Authorities.length;
const sign = () => ca.signX509Svid({ spiffeId: workloadId(), publicKey: workloadKey(), ttlSeconds: 86_400 });
const mint = () => ca.signJwtSvid({ spiffeId: workloadId(), audience: ['svc'], ttlSeconds: 86_400 });
/** The bundle authority an SVID chains to. */
const rootOf = (chain: readonly Uint8Array[], bundle: SpiffeBundle, now = h.clock.now()) =>
  Buffer.from(verifyX509Svid(chain, bundle, { now }).chain.at(-1)!).toString('base64');

describe('two-phase rotation', () => {
  it('publishes the next keys before they sign, and drops retired keys only after they expire', async () => {
    const changes: SpiffeBundle[] = [];
    ca.onBundleChange((b) => changes.push(b));
    let svidChanges = 0;
    ca.onServerSvidChange(() => svidChanges++);
    const first = ca.currentBundle();
    const firstRoot = Buffer.from(first.x509Bundle.x509Authorities[0]!).toString('base64');
    const [firstKid] = jwtKids(first);

    // Before half-life nothing changes.
    await at(T0 + 12 * HOUR - 1000);
    expect(changes).toHaveLength(0);

    // Half-life: the next CA and JWT key are prepared and published (one sequence step), but do not sign yet.
    await at(T0 + 12 * HOUR);
    expect(changes).toHaveLength(1);
    const beforeActivation = ca.currentBundle();
    expect(beforeActivation.sequenceNumber).toBe(2n);
    expect(x509Count(beforeActivation)).toBe(2);
    expect(jwtKids(beforeActivation)).toHaveLength(2);
    const [nextKid] = jwtKids(beforeActivation).filter((k) => k !== firstKid);
    const prepared = await h.ds.keys.list({ state: 'prepared' });
    expect(prepared.map((r) => r.kind).sort()).toEqual(['jwt', 'x509_ca']);
    expect(rootOf(sign().chain, beforeActivation)).toBe(firstRoot);
    expect(kidOf((await mint()).token)).toBe(firstKid);

    // Just before activation: credentials signed by the old keys (capped at the old keys' expiry).
    await at(T0 + 20 * HOUR - 1000);
    expect(kidOf((await mint()).token)).toBe(firstKid);
    const oldSvid = sign();
    const oldJwt = await mint();
    expect(oldSvid.notAfter.getTime()).toBe(T0 + 24 * HOUR);
    expect(oldJwt.expiresAt.getTime()).toBe(T0 + 24 * HOUR);

    // 5/6: the prepared keys become active. The bundle does not change (no sequence step), the server SVID does.
    const svidBefore = svidChanges;
    await at(T0 + 20 * HOUR);
    expect(changes).toHaveLength(1);
    expect(ca.currentBundle().sequenceNumber).toBe(2n);
    expect(svidChanges).toBe(svidBefore + 1);
    expect(rootOf(ca.currentServerSvid().chain, beforeActivation)).not.toBe(firstRoot);
    const newSvid = sign();
    const newJwt = await mint();
    expect(kidOf(newJwt.token)).toBe(nextKid);
    // A relying party still holding the bundle fetched before activation accepts the new credentials ...
    expect(rootOf(newSvid.chain, beforeActivation)).not.toBe(firstRoot);
    await parseAndValidateJwtSvid(newJwt.token, beforeActivation, ['svc'], { now: h.clock.now() });
    // ... and the current bundle still accepts those signed by the retired keys.
    expect(rootOf(oldSvid.chain, ca.currentBundle())).toBe(firstRoot);
    await parseAndValidateJwtSvid(oldJwt.token, ca.currentBundle(), ['svc'], { now: h.clock.now() });
    // The retired keys' private key files are gone; their records stay.
    expect(h.keyFiles().size).toBe(2);
    expect((await h.ds.keys.list({ state: 'retired' })).length).toBe(2);

    // 24 h: the old keys expire (the new ones reach half-life: a third generation is prepared). Until notAfter + 60 s
    // the old keys stay published, so nothing they signed is refused.
    await at(T0 + 24 * HOUR);
    expect(ca.currentBundle().sequenceNumber).toBe(3n);
    expect(x509Count(ca.currentBundle())).toBe(3);
    expect(rootOf(oldSvid.chain, ca.currentBundle())).toBe(firstRoot);
    await parseAndValidateJwtSvid(oldJwt.token, ca.currentBundle(), ['svc'], { now: h.clock.now() });
    await at(T0 + 24 * HOUR + 60_000);
    expect(ca.currentBundle().sequenceNumber).toBe(3n);
    expect(jwtKids(ca.currentBundle())).toContain(firstKid);

    // Then they leave the bundle (sequence step) and their records are deleted.
    await at(T0 + 24 * HOUR + 61_000);
    const after = ca.currentBundle();
    expect(after.sequenceNumber).toBe(4n);
    expect(changes.map((b) => b.sequenceNumber)).toEqual([2n, 3n, 4n]);
    expect(jwtKids(after)).not.toContain(firstKid);
    expect(after.x509Bundle.x509Authorities.map((d) => Buffer.from(d).toString('base64'))).not.toContain(firstRoot);
    expect(x509Count(after)).toBe(2);
    expect((await h.ds.keys.list({ state: 'retired' })).length).toBe(0);
    expect((await h.ds.bundles.get('tessera.test'))?.sequence).toBe(4);
  });

  it('never activates a key that was not published for at least one refresh hint (catching up after a pause)', async () => {
    // No tick between 0 h and 21 h: the next keys are prepared at 21 h, past their activation point.
    await at(T0 + 21 * HOUR);
    const published = ca.currentBundle();
    expect(published.sequenceNumber).toBe(2n);
    const oldKid = kidOf((await mint()).token);
    await at(T0 + 21 * HOUR);
    expect(kidOf((await mint()).token)).toBe(oldKid);
    await at(T0 + 22 * HOUR - 1000); // refresh hint = 1 h
    expect(kidOf((await mint()).token)).toBe(oldKid);
    await at(T0 + 22 * HOUR);
    const newJwt = await mint();
    expect(kidOf(newJwt.token)).not.toBe(oldKid);
    await parseAndValidateJwtSvid(newJwt.token, published, ['svc'], { now: h.clock.now() });
    verifyX509Svid(sign().chain, published, { now: h.clock.now() });
  });

  it('replaces expired keys at once after a long downtime', async () => {
    const before = ca.currentBundle();
    await at(T0 + 30 * HOUR);
    const bundle = ca.currentBundle();
    expect(bundle.sequenceNumber).toBe(2n);
    expect(x509Count(bundle)).toBe(1);
    expect(bundle.x509Bundle.equals(before.x509Bundle)).toBe(false);
    expect(ca.activeCaNotAfter().getTime()).toBe(T0 + 54 * HOUR);
    verifyX509Svid(sign().chain, bundle, { now: h.clock.now() });
    await parseAndValidateJwtSvid((await mint()).token, bundle, ['svc'], { now: h.clock.now() });
    expect(await ca.canSign()).toBe(true);
    expect(await h.ds.keys.list({ state: 'active' })).toHaveLength(2);
  });

  it('runs many rotations without ever refusing a credential signed a moment earlier', async () => {
    let lastBundle = ca.currentBundle();
    for (let t = T0; t <= T0 + 5 * 24 * HOUR; t += HOUR) {
      h.clock.set(t);
      const svid = sign();
      const jwt = await mint();
      await ca.tick();
      // Both the bundle a relying party fetched before this step and the one after accept what was just signed.
      for (const bundle of [lastBundle, ca.currentBundle()]) {
        verifyX509Svid(svid.chain, bundle, { now: h.clock.now() });
        await parseAndValidateJwtSvid(jwt.token, bundle, ['svc'], { now: h.clock.now() });
      }
      // What the new active keys sign verifies against the previous bundle too.
      verifyX509Svid(sign().chain, lastBundle, { now: h.clock.now() });
      await parseAndValidateJwtSvid((await mint()).token, lastBundle, ['svc'], { now: h.clock.now() });
      lastBundle = ca.currentBundle();
      expect(x509Count(lastBundle)).toBeLessThanOrEqual(3);
    }
    expect(Number(lastBundle.sequenceNumber)).toBeGreaterThan(8);
  });
});
