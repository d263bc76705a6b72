/**
 * Per-caller rate limits of the agent API (issue 10 item 8) and the Attest deadline, against the real handlers on a
 * loopback TLS listener with real SQLite. Time for the rate limits comes from a fake clock (no sleeps).
 */
import { status, type ServiceError } from '@grpc/grpc-js';
import { Counter } from 'prom-client';
import { afterEach, describe, expect, it } from 'vitest';
import { DEFAULT_RATE_LIMITS } from '../../../../src/server/api/agent/config.js';
import { remoteHost } from '../../../../src/server/api/agent/context.js';
import type { NodeAttestor } from '../../../../src/server/nodeattestation/index.js';
import { createNodeAttestors } from '../../../../src/server/nodeattestation/index.js';
import { TrustDomain } from '../../../../src/spiffe/id/index.js';
import { agentSvid, attest, callUnary } from '../../../helpers/agent-client.js';
import { fakeClock } from '../../../helpers/fake-clock.js';
import { newAgentKey } from '../../../helpers/test-authority.js';
import { startHarness, type Harness } from './harness.js';

let h: Harness | undefined;
afterEach(async () => {
  await h?.close();
  h = undefined;
});

function metrics() {
  return {
    svidsSigned: new Counter({ name: 'signed', help: 'x', labelNames: ['kind'] as const, registers: [] }),
    rateLimited: new Counter({ name: 'limited', help: 'x', labelNames: ['rpc'] as const, registers: [] }),
  };
}

async function failure(p: Promise<unknown>): Promise<{ code: number; details: string }> {
  try {
    await p;
  } catch (err) {
    const e = err as ServiceError;
    return { code: e.code, details: e.details };
  }
  return { code: status.OK, details: '' };
}

describe('agent API rate limits', () => {
  it('refuses Attests from one address past its rate with ResourceExhausted, counted, until the bucket refills', async () => {
    const clock = fakeClock(Date.now());
    const m = metrics();
    h = await startHarness({
      config: { clock, metrics: m, rateLimits: { attestPerAddress: { perSecond: 1, burst: 3 } } },
    });
    const start = async () => ({ attestor: 'join_token', payload: Buffer.from(await h!.newToken()), agent_public_key: newAgentKey().spki });
    for (let i = 0; i < 3; i++) await attest(h.client(), await start());
    const token = await start();
    expect(await failure(attest(h.client(), token))).toEqual({
      code: status.RESOURCE_EXHAUSTED,
      details: 'too many calls from this address: at most 3 at once and 1 per second; retry later',
    });
    // Refused before anything was read: the token was not consumed and works once the bucket refills.
    expect((await m.rateLimited.get()).values).toEqual([{ labels: { rpc: 'Attest' }, value: 1 }]);
    clock.advance(1000);
    await attest(h.client(), token);
    expect(await failure(attest(h.client(), await start()))).toMatchObject({ code: status.RESOURCE_EXHAUSTED });
  });

  it('limits the other RPCs per agent ID, not per connection', async () => {
    const clock = fakeClock(Date.now());
    const m = metrics();
    h = await startHarness({ config: { clock, metrics: m, rateLimits: { perAgent: { perSecond: 10, burst: 5 } } } });
    const a = await h.attestAgent();
    const b = await h.attestAgent();
    for (let i = 0; i < 5; i++) await callUnary(a.client, 'BatchSignX509Svid', { params: [] });
    const again = h.client(agentSvid(a.result, a.keyPem)); // a new connection of the same agent
    expect(await failure(callUnary(again, 'BatchSignX509Svid', { params: [] }))).toEqual({
      code: status.RESOURCE_EXHAUSTED,
      details: 'too many calls from this agent: at most 5 at once and 10 per second; retry later',
    });
    await callUnary(b.client, 'BatchSignX509Svid', { params: [] }); // another agent has its own bucket
    expect((await m.rateLimited.get()).values).toEqual([{ labels: { rpc: 'BatchSignX509Svid' }, value: 1 }]);
    clock.advance(100); // one call regained at 10 per second
    await callUnary(a.client, 'BatchSignX509Svid', { params: [] });
    expect(await failure(callUnary(a.client, 'BatchSignX509Svid', { params: [] }))).toMatchObject({ code: status.RESOURCE_EXHAUSTED });
  });

  it('names a sensible default and reads the host of a peer string', () => {
    expect(DEFAULT_RATE_LIMITS.attestPerAddress.burst).toBeGreaterThan(1);
    expect(DEFAULT_RATE_LIMITS.maxKeys).toBeLessThanOrEqual(100_000);
    expect(remoteHost('127.0.0.1:5000')).toBe('127.0.0.1');
    expect(remoteHost('ipv4:10.0.0.2:443')).toBe('10.0.0.2');
    expect(remoteHost('[::1]:5000')).toBe('::1');
    expect(remoteHost('ipv6:[fe80::1]:5000')).toBe('fe80::1');
  });
});

describe('Attest deadline', () => {
  it('an Attest that times out does not consume its join token', async () => {
    // The join-token attestor is held until the client has seen the deadline pass (a datastore that is slow to
    // answer); then it runs for real and must refuse to consume the token.
    let release!: () => void;
    const held = new Promise<void>((resolve) => (release = resolve));
    let outcome: Promise<unknown> | undefined;
    const td = TrustDomain.parse('example.org');
    const joinToken = (): NodeAttestor =>
      createNodeAttestors({ trustDomain: td, clock: { now: () => new Date() }, joinTokens: h!.ds.joinTokens, config: { joinToken: { enabled: true } } }).get('join_token')!;
    const gated: NodeAttestor = {
      name: 'join_token',
      attest(start, challenge) {
        outcome = held.then(() => joinToken().attest(start, challenge));
        return outcome as ReturnType<NodeAttestor['attest']>;
      },
    };
    h = await startHarness({ config: { attestTimeoutMs: 200, nodeAttestors: new Map([['join_token', gated]]) } });
    const token = await h.newToken();
    const run = attest(h.client(), { attestor: 'join_token', payload: Buffer.from(token), agent_public_key: newAgentKey().spki });
    expect(await failure(run)).toEqual({ code: status.UNAVAILABLE, details: 'attestation did not complete within 200 ms' });
    release();
    await expect(outcome).rejects.toMatchObject({ code: 'UNAVAILABLE' });
    expect(await h.ds.joinTokens.consume(token, Math.floor(Date.now() / 1000))).toMatchObject({ ok: true });
  });
});
