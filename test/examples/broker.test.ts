/**
 * examples/broker against a real `tessera server` process whose issuer is its own HTTP listener: JWT-SVIDs minted by
 * the server are accepted only for the broker's audience and SPIFFE ID prefix, from this issuer, before they expire.
 */
import { generateKeyPairSync } from 'node:crypto';
import { SignJWT } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createVerifier } from '../../examples/broker/verify.js';
import { fakeClock } from '../helpers/fake-clock.js';
import { OIDC_TD, startOidcServer, type OidcServer } from '../helpers/oidc-server.js';

const AUDIENCE = `spiffe://${OIDC_TD}/broker`;
const PREFIX = `spiffe://${OIDC_TD}/agents/`;

let oidc: OidcServer;
let verifyWorkloadToken: ReturnType<typeof createVerifier>;
let agentEntry: string;

beforeAll(async () => {
  oidc = await startOidcServer();
  verifyWorkloadToken = createVerifier({ issuer: oidc.issuer, audience: AUDIENCE, spiffeIdPrefix: PREFIX });
  agentEntry = oidc.createEntry(`${PREFIX}planner`);
}, 60_000);
afterAll(() => oidc?.close());

describe('examples/broker verifyWorkloadToken', () => {
  it('accepts a JWT-SVID for its audience from a workload under its prefix', async () => {
    const token = await oidc.mint(agentEntry, [AUDIENCE, 'spiffe://example.org/other']);
    const v = await verifyWorkloadToken(token);
    expect(v.spiffeId).toBe(`${PREFIX}planner`);
    expect(v.claims.iss).toBe(oidc.issuer);
    expect(v.expiresAt.getTime()).toBeGreaterThan(Date.now());
  });

  it('refuses a token for another audience', async () => {
    const token = await oidc.mint(agentEntry, ['spiffe://example.org/not-the-broker']);
    await expect(verifyWorkloadToken(token)).rejects.toThrow(/aud/);
  });

  it('refuses a workload outside the SPIFFE ID prefix', async () => {
    const entry = oidc.createEntry(`spiffe://${OIDC_TD}/agentsX/intruder`);
    const token = await oidc.mint(entry, [AUDIENCE]);
    await expect(verifyWorkloadToken(token)).rejects.toThrow(/not under/);
  });

  it('refuses an expired token', async () => {
    const entry = oidc.createEntry(`${PREFIX}short-lived`, 5);
    const token = await oidc.mint(entry, [AUDIENCE]);
    // The broker's clock is injected: it starts now and moves past the token's expiry without waiting for it.
    const clock = fakeClock(Date.now());
    const verify = createVerifier({ issuer: oidc.issuer, audience: AUDIENCE, spiffeIdPrefix: PREFIX, now: () => clock.now() });
    const { expiresAt } = await verify(token);
    clock.set(expiresAt.getTime() - 1000);
    await verify(token);
    clock.set(expiresAt.getTime() + 1000);
    await expect(verify(token)).rejects.toThrow(/exp/);
  });

  it('refuses a token from another issuer or signed by a key the issuer does not publish', async () => {
    const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const forge = (iss: string, kid: string) =>
      new SignJWT({ aud: AUDIENCE, sub: `${PREFIX}planner` })
        .setProtectedHeader({ alg: 'ES256', kid, typ: 'JWT' })
        .setIssuer(iss)
        .setIssuedAt()
        .setExpirationTime('5m')
        .sign(privateKey);
    const realKid = (JSON.parse(Buffer.from((await oidc.mint(agentEntry, [AUDIENCE])).split('.')[0]!, 'base64url').toString()) as { kid: string }).kid;
    await expect(verifyWorkloadToken(await forge('https://other.example', realKid))).rejects.toThrow();
    await expect(verifyWorkloadToken(await forge(oidc.issuer, realKid))).rejects.toThrow(/signature/);

    // A token from another Tessera issuer (another server, its own keys) is refused too.
    const other = await startOidcServer();
    try {
      const foreign = await other.mint(other.createEntry(`${PREFIX}planner`), [AUDIENCE]);
      await expect(verifyWorkloadToken(foreign)).rejects.toThrow();
    } finally {
      await other.close();
    }
  }, 60_000);
});
