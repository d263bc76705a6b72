import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isTesseraError } from '../../../src/common/errors.js';
import { openSqliteDatastore, type Datastore } from '../../../src/server/datastore/index.js';
import { createJoinTokenAttestor, joinTokenAgentId } from '../../../src/server/nodeattestation/index.js';
import { TrustDomain } from '../../../src/spiffe/id/index.js';
import { fakeClock } from '../../helpers/fake-clock.js';

const td = TrustDomain.parse('example.org');
const noChallenge = async (): Promise<Buffer> => {
  throw new Error('join_token never challenges');
};

async function codeOf(p: Promise<unknown>): Promise<string> {
  try {
    await p;
  } catch (err) {
    if (isTesseraError(err)) return `${err.code}: ${err.message}`;
    throw err;
  }
  return 'OK';
}

describe('join_token attestor', () => {
  let dir: string;
  let ds: Datastore;
  const clock = fakeClock(Date.UTC(2026, 0, 1));

  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'tessera-jt-'));
    ds = openSqliteDatastore({ path: join(dir, 'ds.sqlite3'), clock });
  });
  afterAll(async () => {
    await ds.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('derives the agent ID from the SHA-256 of the token (pure helper)', () => {
    const token = 'abc123';
    const hex = createHash('sha256').update(token).digest('hex').slice(0, 32);
    expect(joinTokenAgentId(td, token).toString()).toBe(`spiffe://example.org/tessera/agent/join_token/${hex}`);
  });

  it('consumes a token once; reuse, unknown and expired tokens are PermissionDenied with distinct messages', async () => {
    const attestor = createJoinTokenAttestor({ trustDomain: td, joinTokens: ds.joinTokens, clock });
    const nowS = Math.floor(clock.now().getTime() / 1000);
    await ds.joinTokens.create('token-1', { expiresAt: nowS + 60 });
    await ds.joinTokens.create('token-2', { expiresAt: nowS + 1 });
    const ok = await attestor.attest({ payload: Buffer.from('token-1') }, noChallenge);
    expect(ok.agentId.toString()).toBe(joinTokenAgentId(td, 'token-1').toString());
    expect(ok.selectors).toEqual([{ type: 'join_token', value: ok.agentId.path.split('/').pop() }]);

    const reused = await codeOf(attestor.attest({ payload: Buffer.from('token-1') }, noChallenge));
    const unknown = await codeOf(attestor.attest({ payload: Buffer.from('token-x') }, noChallenge));
    clock.advance(2000);
    const expired = await codeOf(attestor.attest({ payload: Buffer.from('token-2') }, noChallenge));
    expect(reused).toBe('PERMISSION_DENIED: join token already used');
    expect(unknown).toMatch(/^PERMISSION_DENIED: /);
    expect(expired).toMatch(/^PERMISSION_DENIED: /);
    expect(new Set([reused, unknown, expired]).size).toBe(3);
    for (const m of [reused, unknown, expired]) expect(m).not.toContain('token-');
  });

  it('lets exactly one of concurrent consumers win', async () => {
    const attestor = createJoinTokenAttestor({ trustDomain: td, joinTokens: ds.joinTokens, clock });
    await ds.joinTokens.create('race', { expiresAt: Math.floor(clock.now().getTime() / 1000) + 60 });
    const results = await Promise.all(
      Array.from({ length: 20 }, () => codeOf(attestor.attest({ payload: Buffer.from('race') }, noChallenge))),
    );
    expect(results.filter((r) => r === 'OK')).toHaveLength(1);
    expect(results.filter((r) => r === 'PERMISSION_DENIED: join token already used')).toHaveLength(19);
  });

  it('refuses empty, oversized and non-printable payloads with InvalidArgument', async () => {
    const attestor = createJoinTokenAttestor({ trustDomain: td, joinTokens: ds.joinTokens, clock });
    for (const payload of [Buffer.alloc(0), Buffer.alloc(2000, 0x61), Buffer.from([0x00, 0xff])]) {
      expect(await codeOf(attestor.attest({ payload }, noChallenge))).toMatch(/^INVALID_ARGUMENT/);
    }
  });
});
