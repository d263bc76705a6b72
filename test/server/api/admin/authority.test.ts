/**
 * AuthorityService over the admin socket, in front of a real CertificateAuthority on the fake clock (test/server/ca
 * harness): listing, forced preparation and activation, refusals as status codes, audit events.
 */
import { status } from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CertificateAuthority } from '../../../../src/server/ca/index.js';
import type { AuthorityMessage } from '../../../../src/common/grpc/authority-messages.js';
import { startAdminTestServer, type AdminTestClient, type AdminTestServer } from '../../../helpers/admin-server.js';
import { createHarness, DAY_SECONDS, type Harness } from '../../ca/harness.js';

const HINT_SECONDS = 30;

let h: Harness;
let ca: CertificateAuthority;
let srv: AdminTestServer;
let authority: AdminTestClient;

beforeAll(async () => {
  h = createHarness();
  ca = await h.open({ ca: { keyType: 'ec-p256', ttlSeconds: DAY_SECONDS, refreshHintSeconds: HINT_SECONDS } });
  srv = await startAdminTestServer({ trustDomain: 'tessera.test', authority: ca });
  authority = srv.client('AuthorityService');
});
afterAll(async () => {
  await srv?.close();
  await h?.close();
});

async function expectStatus(p: Promise<unknown>, code: status): Promise<string> {
  const err = await p.then(
    () => {
      throw new Error(`expected status ${status[code]}, the call succeeded`);
    },
    (e: { code: status; details: string }) => e,
  );
  expect(status[err.code], err.details).toBe(status[code]);
  return err.details;
}

const list = () =>
  authority.call<{ authorities: AuthorityMessage[]; refresh_hint_seconds: number }>('GetAuthorities', {});

describe('AuthorityService', () => {
  it('GetAuthorities lists the active keys of both kinds and the refresh hint', async () => {
    const r = await list();
    expect(r.refresh_hint_seconds).toBe(HINT_SECONDS);
    expect(r.authorities.map((a) => [a.kind, a.state])).toEqual([
      ['AUTHORITY_KIND_X509', 'AUTHORITY_STATE_ACTIVE'],
      ['AUTHORITY_KIND_JWT', 'AUTHORITY_STATE_ACTIVE'],
    ]);
    const jwtKid = r.authorities[1]!.key_id;
    expect([...ca.currentBundle().jwtBundle.jwtAuthorities.keys()]).toEqual([jwtKid]);
  });

  it('refuses a missing or unspecified kind with INVALID_ARGUMENT', async () => {
    await expectStatus(authority.call('PrepareAuthority', {}), status.INVALID_ARGUMENT);
    const unspecified = authority.call('ActivateAuthority', { kind: 'AUTHORITY_KIND_UNSPECIFIED' });
    await expectStatus(unspecified, status.INVALID_ARGUMENT);
  });

  it('prepares, refuses early activation, activates after one refresh hint, and audits both', async () => {
    const nothingPrepared = authority.call('ActivateAuthority', { kind: 'AUTHORITY_KIND_JWT' });
    await expectStatus(nothingPrepared, status.FAILED_PRECONDITION);
    const sequence = ca.currentBundle().sequenceNumber!;
    const { prepared } = await authority.call<{ prepared: AuthorityMessage }>('PrepareAuthority', {
      kind: 'AUTHORITY_KIND_JWT',
    });
    expect(prepared).toMatchObject({ kind: 'AUTHORITY_KIND_JWT', state: 'AUTHORITY_STATE_PREPARED' });
    expect(prepared.activatable_at_ms - prepared.published_at_ms).toBe(HINT_SECONDS * 1000);
    expect(ca.currentBundle().sequenceNumber).toBe(sequence + 1n);
    await expectStatus(authority.call('PrepareAuthority', { kind: 'AUTHORITY_KIND_JWT' }), status.FAILED_PRECONDITION);
    const early = await expectStatus(
      authority.call('ActivateAuthority', { kind: 'AUTHORITY_KIND_JWT' }),
      status.FAILED_PRECONDITION,
    );
    expect(early).toContain(`in ${HINT_SECONDS} s`);

    h.clock.advance(HINT_SECONDS * 1000);
    const r = await authority.call<{ activated: AuthorityMessage; retired: AuthorityMessage | null }>(
      'ActivateAuthority',
      { kind: 'AUTHORITY_KIND_JWT' },
    );
    expect(r.activated).toMatchObject({ key_id: prepared.key_id, state: 'AUTHORITY_STATE_ACTIVE' });
    expect(r.retired).toMatchObject({ kind: 'AUTHORITY_KIND_JWT', state: 'AUTHORITY_STATE_RETIRED' });
    expect((await list()).authorities.filter((a) => a.kind === 'AUTHORITY_KIND_JWT').map((a) => a.state)).toEqual([
      'AUTHORITY_STATE_ACTIVE',
      'AUTHORITY_STATE_RETIRED',
    ]);

    const events = await srv.datastore.audit.list({});
    const authorityEvents = events.filter((e) => e.kind.startsWith('authority.'));
    expect(authorityEvents.map((e) => [e.kind, e.details])).toEqual([
      ['authority.prepared', { authorityKind: 'jwt', keyId: prepared.key_id, notAfter: prepared.not_after }],
      [
        'authority.activated',
        {
          authorityKind: 'jwt',
          keyId: prepared.key_id,
          notAfter: prepared.not_after,
          retiredKeyId: r.retired!.key_id,
        },
      ],
    ]);
  });
});
