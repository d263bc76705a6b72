/**
 * Operator-forced rotation (prepareNow / activateNow, like `spire-server localauthority … prepare|activate`) and the
 * configurable refresh hint, on the fake clock.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ConfigError } from '../../../src/common/config/index.js';
import type { CertificateAuthority } from '../../../src/server/ca/index.js';
import { parseServerConfig } from '../../../src/server/config.js';
import { SpiffeBundle } from '../../../src/spiffe/bundle/index.js';
import { parseAndValidateJwtSvid } from '../../../src/spiffe/jwtsvid/index.js';
import { verifyX509Svid } from '../../../src/spiffe/x509svid/index.js';
import { createHarness, DAY_SECONDS, HOUR, T0, TD, workloadId, workloadKey, type Harness } from './harness.js';

const HINT_SECONDS = 60;

let h: Harness;
let ca: CertificateAuthority;
beforeEach(async () => {
  h = createHarness();
  ca = await h.open({ ca: { keyType: 'ec-p256', ttlSeconds: DAY_SECONDS, refreshHintSeconds: HINT_SECONDS } });
});
afterEach(() => h.close());

const kidOf = (token: string) =>
  (JSON.parse(Buffer.from(token.split('.')[0]!, 'base64url').toString()) as { kid: string }).kid;
const jwtKids = (b: SpiffeBundle) => [...b.jwtBundle.jwtAuthorities.keys()];
const mint = () => ca.signJwtSvid({ spiffeId: workloadId(), audience: ['svc'], ttlSeconds: 3600 });
const sign = () => ca.signX509Svid({ spiffeId: workloadId(), publicKey: workloadKey(), ttlSeconds: 3600 });
const validate = (token: string, bundle = ca.currentBundle()) =>
  parseAndValidateJwtSvid(token, bundle, ['svc'], { now: h.clock.now() });
const rootOf = (chain: readonly Uint8Array[], bundle = ca.currentBundle()) =>
  Buffer.from(verifyX509Svid(chain, bundle, { now: h.clock.now() }).chain.at(-1)!).toString('base64');
const of = (kind: 'x509' | 'jwt', state: string) =>
  ca.listAuthorities().filter((a) => a.kind === kind && a.state === state);

describe('ca.refreshHintSeconds', () => {
  it('is the bundle\'s spiffe_refresh_hint, stored and published', async () => {
    expect(ca.currentBundle().refreshHintSeconds).toBe(HINT_SECONDS);
    expect(ca.refreshHintSeconds).toBe(HINT_SECONDS);
    const stored = await h.ds.bundles.get(TD.name);
    expect(SpiffeBundle.parse(TD, stored!.document).refreshHintSeconds).toBe(HINT_SECONDS);
  });

  it('is optional in the server config, an integer from 1 to 3600', () => {
    const parse = (ca: Record<string, unknown>) => parseServerConfig({ trustDomain: 'example.org', ca }, '/');
    expect(parse({}).ca.refreshHintSeconds).toBeUndefined();
    expect(parse({ refreshHintSeconds: 1 }).ca.refreshHintSeconds).toBe(1);
    expect(parse({ refreshHintSeconds: 3600 }).ca.refreshHintSeconds).toBe(3600);
    for (const bad of [0, 3601, 2.5, '60']) {
      expect(() => parse({ refreshHintSeconds: bad })).toThrow(
        expect.objectContaining({ constructor: ConfigError, path: 'ca.refreshHintSeconds' }),
      );
    }
  });

  it('may go down to 1 s and is refused outside 1..3600', async () => {
    await h.close();
    h = createHarness();
    ca = await h.open({ ca: { keyType: 'ec-p256', ttlSeconds: DAY_SECONDS, refreshHintSeconds: 1 } });
    expect(ca.currentBundle().refreshHintSeconds).toBe(1);
    for (const bad of [0, 3601, 1.5]) {
      await expect(
        h.open({ ca: { keyType: 'ec-p256', ttlSeconds: DAY_SECONDS, refreshHintSeconds: bad } }),
      ).rejects.toThrow(TypeError);
    }
  });
});

describe('prepareNow', () => {
  it('creates and publishes the next key at once (sequence + 1, listeners notified); it signs nothing', async () => {
    const changes: SpiffeBundle[] = [];
    ca.onBundleChange((b) => changes.push(b));
    const [oldKid] = jwtKids(ca.currentBundle());
    h.clock.advance(HOUR);

    const prepared = await ca.prepareNow('jwt');
    expect(prepared).toMatchObject({ kind: 'jwt', state: 'prepared', createdAt: new Date(T0 + HOUR) });
    expect(prepared.publishedAt).toEqual(new Date(T0 + HOUR));
    expect(prepared.activatableAt).toEqual(new Date(T0 + HOUR + HINT_SECONDS * 1000));
    expect(changes.map((b) => b.sequenceNumber)).toEqual([2n]);
    expect(jwtKids(ca.currentBundle()).sort()).toEqual([oldKid, prepared.keyId].sort());
    expect((await h.ds.bundles.get(TD.name))?.sequence).toBe(2);
    expect(kidOf((await mint()).token)).toBe(oldKid);
    expect(of('jwt', 'prepared').map((a) => a.keyId)).toEqual([prepared.keyId]);
    expect(of('x509', 'prepared')).toEqual([]);
  });

  it('refuses a second prepared key of the same kind, not one of the other kind', async () => {
    await ca.prepareNow('jwt');
    await expect(ca.prepareNow('jwt')).rejects.toMatchObject({ code: 'FAILED_PRECONDITION' });
    await expect(ca.prepareNow('x509')).resolves.toMatchObject({ kind: 'x509', state: 'prepared' });
  });

  it('runs in the step queue: a forced and a scheduled preparation never both happen', async () => {
    h.clock.set(T0 + 12 * HOUR); // half-life: the timer's step prepares the next keys
    const [scheduled, forced] = await Promise.allSettled([ca.tick(), ca.prepareNow('jwt')]);
    expect(scheduled.status).toBe('fulfilled');
    expect(forced).toMatchObject({ status: 'rejected', reason: { code: 'FAILED_PRECONDITION' } });
    expect(await h.ds.keys.list({ kind: 'jwt', state: 'prepared' })).toHaveLength(1);
  });
});

describe('activateNow', () => {
  it('refuses when nothing is prepared', async () => {
    await expect(ca.activateNow('jwt')).rejects.toMatchObject({ code: 'FAILED_PRECONDITION' });
  });

  it('refuses before the key has been published for one refresh hint, saying how long is left and why', async () => {
    await ca.prepareNow('jwt');
    await expect(ca.activateNow('jwt')).rejects.toMatchObject({
      code: 'FAILED_PRECONDITION',
      message: expect.stringMatching(/in 60 s.*refresh hint \(60 s\).*relying parties/),
    });
    h.clock.advance(HINT_SECONDS * 1000 - 1000);
    await expect(ca.activateNow('jwt')).rejects.toMatchObject({ message: expect.stringContaining('in 1 s') });
    h.clock.advance(1000);
    await expect(ca.activateNow('jwt')).resolves.toMatchObject({ activated: { state: 'active' } });
  });

  it('JWT: new tokens carry the new kid; old ones still validate; the retired key stays until it expires', async () => {
    const [oldKid] = jwtKids(ca.currentBundle());
    const oldToken = (await mint()).token;
    const changes: SpiffeBundle[] = [];
    ca.onBundleChange((b) => changes.push(b));
    h.clock.advance(HOUR);
    const prepared = await ca.prepareNow('jwt');
    const publishedBundle = ca.currentBundle();
    h.clock.advance(HINT_SECONDS * 1000);

    const { activated, retired } = await ca.activateNow('jwt');
    expect(activated).toMatchObject({ keyId: prepared.keyId, state: 'active' });
    expect(retired).toMatchObject({ keyId: oldKid, state: 'retired', notAfter: new Date(T0 + DAY_SECONDS * 1000) });
    expect(changes).toHaveLength(1); // the activation itself changes no bundle content, like a scheduled one
    const newToken = (await mint()).token;
    expect(kidOf(newToken)).toBe(prepared.keyId);
    await validate(oldToken);
    await validate(newToken);
    await validate(newToken, publishedBundle); // relying parties holding the bundle from the preparation accept it
    expect(of('jwt', 'retired').map((a) => a.keyId)).toEqual([oldKid]);
    expect(of('jwt', 'prepared')).toEqual([]);
    expect(h.keyFiles().size).toBe(2); // the retired key's private key file is gone

    // The retired key stays published until its notAfter + 60 s, then leaves the bundle.
    h.clock.set(T0 + DAY_SECONDS * 1000 + 60_000);
    await ca.tick();
    expect(jwtKids(ca.currentBundle())).toContain(oldKid);
    h.clock.advance(1000);
    await ca.tick();
    expect(jwtKids(ca.currentBundle())).not.toContain(oldKid);
    expect(of('jwt', 'retired')).toEqual([]);
  });

  it('X.509: the server SVID is reissued by the new CA; SVIDs of the old CA still verify', async () => {
    const oldRoot = rootOf(sign().chain);
    const oldSvid = sign();
    let svidChanges = 0;
    ca.onServerSvidChange(() => svidChanges++);
    await ca.prepareNow('x509');
    expect(ca.currentBundle().x509Bundle.x509Authorities).toHaveLength(2);
    expect(svidChanges).toBe(0);
    h.clock.advance(HINT_SECONDS * 1000);

    await ca.activateNow('x509');
    expect(svidChanges).toBe(1);
    expect(rootOf(ca.currentServerSvid().chain)).not.toBe(oldRoot);
    expect(rootOf(sign().chain)).not.toBe(oldRoot);
    expect(rootOf(oldSvid.chain)).toBe(oldRoot);
    expect(of('x509', 'retired')).toHaveLength(1);
  });

  it('the scheduled rotation carries on from the new key', async () => {
    h.clock.set(T0 + HOUR);
    await ca.prepareNow('jwt');
    h.clock.advance(HINT_SECONDS * 1000);
    const { activated } = await ca.activateNow('jwt');
    // The new key was created at T0 + 1 h: its successor is prepared at half of its own life.
    h.clock.set(T0 + 13 * HOUR - 1000);
    await ca.tick();
    expect(of('jwt', 'prepared')).toEqual([]);
    h.clock.set(T0 + 13 * HOUR);
    await ca.tick();
    expect(of('jwt', 'prepared')).toHaveLength(1);
    expect(kidOf((await mint()).token)).toBe(activated.keyId);
  });

  it('after a restart, a loaded prepared key counts as published since its creation', async () => {
    const prepared = await ca.prepareNow('jwt');
    await ca.stop();
    h.clock.advance(HINT_SECONDS * 1000);
    ca = await h.open({ ca: { keyType: 'ec-p256', ttlSeconds: DAY_SECONDS, refreshHintSeconds: HINT_SECONDS } });
    expect(of('jwt', 'prepared')[0]).toMatchObject({ keyId: prepared.keyId, publishedAt: new Date(T0) });
    await expect(ca.activateNow('jwt')).resolves.toMatchObject({ activated: { keyId: prepared.keyId } });
  });
});
