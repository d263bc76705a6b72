import { generateKeyPairSync } from 'node:crypto';
import { status } from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { unavailable } from '../../../../src/common/errors.js';
import type {
  FederationRelationshipMessage,
  FederationRelationshipResponse,
} from '../../../../src/common/grpc/federation-messages.js';
import { SpiffeBundle } from '../../../../src/spiffe/bundle/index.js';
import { TrustDomain } from '../../../../src/spiffe/id/index.js';
import { encodePem } from '../../../../src/spiffe/pem.js';
import { createCaCertificate } from '../../../../src/spiffe/x509svid/index.js';
import { captureLogger } from '../../../helpers/log-capture.js';
import { startAdminTestServer, type AdminTestClient, type AdminTestServer } from '../../../helpers/admin-server.js';
import { fakeFederationControl, type FakeFederationControl } from '../../../helpers/fake-federation-control.js';

const WEB = 'BUNDLE_ENDPOINT_PROFILE_HTTPS_WEB';
const SPIFFE = 'BUNDLE_ENDPOINT_PROFILE_HTTPS_SPIFFE';

let srv: AdminTestServer;
let fed: AdminTestClient;
let control: FakeFederationControl;
const logs = captureLogger('trace');

async function caPem(td: string): Promise<{ der: Uint8Array; pem: string }> {
  const { publicKey, privateKey } = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
  const der = await createCaCertificate({
    trustDomain: TrustDomain.parse(td),
    publicKey,
    signer: { key: privateKey },
    now: new Date(),
    ttlSeconds: 3600,
  });
  return { der, pem: encodePem('CERTIFICATE', der) };
}

function spiffeDoc(td: string, der: Uint8Array, sequence?: bigint): string {
  return SpiffeBundle.fromParts({
    trustDomain: td,
    x509Authorities: [der],
    ...(sequence !== undefined ? { sequenceNumber: sequence } : {}),
  }).marshal();
}

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

const web = (td: string, more: object = {}) => ({
  trust_domain: td,
  bundle_endpoint_url: `https://${td}/bundle`,
  profile: WEB,
  ...more,
});

const create = (req: object) => fed.call<FederationRelationshipResponse>('CreateFederationRelationship', req);
const update = (req: object) => fed.call<FederationRelationshipResponse>('UpdateFederationRelationship', req);
const get = (td: string) => fed.call<FederationRelationshipResponse>('GetFederationRelationship', { trust_domain: td });

beforeAll(async () => {
  control = fakeFederationControl();
  srv = await startAdminTestServer({ log: logs.log, federationControl: control });
  fed = srv.client('FederationService');
});
afterAll(async () => srv?.close());

describe('FederationService CRUD', () => {
  it('creates an https_web relationship, announces it to the refresher and audits it', async () => {
    const before = Math.floor(Date.now() / 1000);
    const r = await create(web('web.test'));
    expect(r.relationship).toMatchObject({
      trust_domain: 'web.test',
      bundle_endpoint_url: 'https://web.test/bundle',
      profile: WEB,
      endpoint_spiffe_id: '',
      status: { bundle_sequence: '', last_success_at_ms: 0, last_error: '', next_refresh_at_ms: 0 },
    });
    expect(r.relationship!.created_at).toBeGreaterThanOrEqual(before);
    expect(r.relationship!.updated_at).toBe(r.relationship!.created_at);
    expect(r.trust_bundle).toHaveLength(0);
    expect(control.reloads).toContain('web.test');
    expect(await srv.datastore.federation.get('web.test')).toMatchObject({ profile: 'https_web' });
    const [event] = await srv.datastore.audit.list({ kind: 'federation.created', spiffeId: 'spiffe://web.test' });
    expect(event?.details).toEqual({
      trustDomain: 'web.test',
      bundleEndpointUrl: 'https://web.test/bundle',
      profile: 'https_web',
    });
  });

  it('normalises spiffe://<td> and the URL', async () => {
    const r = await create(web('spiffe://norm.test', { bundle_endpoint_url: 'https://NORM.test:443/a/../b' }));
    expect(r.relationship).toMatchObject({ trust_domain: 'norm.test', bundle_endpoint_url: 'https://norm.test/b' });
    expect((await get('spiffe://norm.test')).relationship?.trust_domain).toBe('norm.test');
  });

  it('Get and List carry the refresher status; List is ordered by trust domain', async () => {
    await create(web('zz-list.test'));
    await create(web('aa-list.test'));
    control.statuses.set('aa-list.test', {
      lastAttemptAtMs: 2_000,
      lastSuccessAtMs: 1_000,
      lastError: 'connection refused',
      nextRefreshAtMs: 3_000,
    });
    const got = await get('aa-list.test');
    expect(got.relationship?.status).toEqual({
      bundle_sequence: '',
      last_attempt_at_ms: 2_000,
      last_success_at_ms: 1_000,
      last_error: 'connection refused',
      next_refresh_at_ms: 3_000,
    });
    const { relationships } = await fed.call<{ relationships: FederationRelationshipMessage[] }>(
      'ListFederationRelationships',
      {},
    );
    const names = relationships.map((r) => r.trust_domain);
    expect(names).toEqual([...names].sort());
    expect(names).toEqual(expect.arrayContaining(['aa-list.test', 'zz-list.test', 'web.test']));
    expect(relationships.find((r) => r.trust_domain === 'aa-list.test')?.status?.last_error).toBe('connection refused');
  });

  it('refuses a second relationship with ALREADY_EXISTS and unknown ones with NOT_FOUND', async () => {
    await create(web('dup.test'));
    await expectStatus(create(web('dup.test')), status.ALREADY_EXISTS);
    await expectStatus(update(web('nobody.test')), status.NOT_FOUND);
    await expectStatus(get('nobody.test'), status.NOT_FOUND);
    await expectStatus(fed.call('DeleteFederationRelationship', { trust_domain: 'nobody.test' }), status.NOT_FOUND);
    await expectStatus(fed.call('RefreshFederationRelationship', { trust_domain: 'nobody.test' }), status.NOT_FOUND);
  });

  it('updates: replaces endpoint and profile, keeps createdAt, announces and audits', async () => {
    const { der, pem } = await caPem('upd.test');
    const created = await create(web('upd.test'));
    const r = await update({
      trust_domain: 'upd.test',
      bundle_endpoint_url: 'https://bundles.upd.test:8443/',
      profile: SPIFFE,
      endpoint_spiffe_id: 'spiffe://upd.test/tessera/server',
      trust_bundle: Buffer.from(pem),
    });
    expect(r.relationship).toMatchObject({
      bundle_endpoint_url: 'https://bundles.upd.test:8443/',
      profile: SPIFFE,
      endpoint_spiffe_id: 'spiffe://upd.test/tessera/server',
      created_at: created.relationship!.created_at,
      status: { bundle_sequence: '0' },
    });
    const stored = SpiffeBundle.parse('upd.test', r.trust_bundle);
    expect(stored.x509Bundle.x509Authorities.map((a) => Buffer.from(a).toString('hex'))).toEqual([
      Buffer.from(der).toString('hex'),
    ]);
    expect(control.reloads.filter((t) => t === 'upd.test')).toHaveLength(2);
    const [event] = await srv.datastore.audit.list({ kind: 'federation.updated', spiffeId: 'spiffe://upd.test' });
    expect(event?.details).toMatchObject({
      profile: 'https_spiffe',
      endpointSpiffeId: 'spiffe://upd.test/tessera/server',
      trustBundle: { sequence: '0', x509Authorities: 1, jwtAuthorities: 0 },
    });
    // The next update needs no bundle: one is stored.
    await update({
      trust_domain: 'upd.test',
      bundle_endpoint_url: 'https://bundles.upd.test:9443/',
      profile: SPIFFE,
      endpoint_spiffe_id: 'spiffe://upd.test/other',
    });
    expect((await get('upd.test')).relationship?.status?.bundle_sequence).toBe('0');
  });

  it('deletes the relationship and its stored bundle, announces and audits', async () => {
    const { der } = await caPem('del.test');
    await create(web('del.test', { trust_bundle: Buffer.from(spiffeDoc('del.test', der, 4n)) }));
    expect(await srv.datastore.bundles.get('del.test')).not.toBeNull();
    await fed.call('DeleteFederationRelationship', { trust_domain: 'del.test' });
    expect(await srv.datastore.federation.get('del.test')).toBeNull();
    expect(await srv.datastore.bundles.get('del.test')).toBeNull();
    expect(control.reloads.at(-1)).toBe('del.test');
    expect((await srv.datastore.audit.list({ spiffeId: 'spiffe://del.test' })).map((e) => e.kind)).toEqual([
      'federation.created',
      'federation.deleted',
    ]);
  });

  it('a failed announcement to the refresher is logged; the write stands', async () => {
    control.reloadError = new Error('refresher stopped');
    try {
      await create(web('reload-fails.test'));
    } finally {
      control.reloadError = undefined;
    }
    expect(await srv.datastore.federation.get('reload-fails.test')).not.toBeNull();
    expect(logs.lines().some((l) => l['trustDomain'] === 'reload-fails.test' && l['level'] === 'warn')).toBe(true);
  });
});

describe('FederationService trust bundles', () => {
  it('stores a SPIFFE bundle document, replacing a stored bundle of a higher sequence', async () => {
    const { der } = await caPem('seq.test');
    const r = await create(web('seq.test', { trust_bundle: Buffer.from('  \n' + spiffeDoc('seq.test', der, 5n)) }));
    expect(r.relationship?.status?.bundle_sequence).toBe('5');
    expect(SpiffeBundle.parse('seq.test', r.trust_bundle).sequenceNumber).toBe(5n);
    // the refresher has since stored a newer one
    await srv.datastore.bundles.put('seq.test', spiffeDoc('seq.test', der, 50n), 50);
    const u = await update(web('seq.test', { trust_bundle: Buffer.from(spiffeDoc('seq.test', der, 2n)) }));
    expect(u.relationship?.status?.bundle_sequence).toBe('2');
    expect((await get('seq.test')).relationship?.status?.bundle_sequence).toBe('2');
  });

  it('https_spiffe with the endpoint inside the federated trust domain needs its bundle', async () => {
    const req = {
      trust_domain: 'boot.test',
      bundle_endpoint_url: 'https://boot.test/bundle',
      profile: SPIFFE,
      endpoint_spiffe_id: 'spiffe://boot.test/tessera/server',
    };
    const before = srv.rowCounts();
    const details = await expectStatus(create(req), status.FAILED_PRECONDITION);
    expect(details).toContain('--trust-bundle');
    expect(details).toContain("boot.test's bundle");
    // a JWT-only bundle cannot verify an X509-SVID either
    const jwt = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
    const jwtOnly = SpiffeBundle.fromParts({ trustDomain: 'boot.test', jwtAuthorities: [{ kid: 'k1', key: jwt.publicKey }] });
    await expectStatus(create({ ...req, trust_bundle: Buffer.from(jwtOnly.marshal()) }), status.FAILED_PRECONDITION);
    expect(srv.rowCounts()).toEqual(before);

    const { pem } = await caPem('boot.test');
    const r = await create({ ...req, trust_bundle: Buffer.from(pem) });
    expect(r.relationship?.endpoint_spiffe_id).toBe('spiffe://boot.test/tessera/server');
    expect(SpiffeBundle.parse('boot.test', r.trust_bundle).x509Bundle.x509Authorities).toHaveLength(1);
  });

  it('https_spiffe with the endpoint in another trust domain needs no bundle here', async () => {
    const r = await create({
      trust_domain: 'hosted.test',
      bundle_endpoint_url: 'https://acme.test/hosted/bundle',
      profile: SPIFFE,
      endpoint_spiffe_id: 'spiffe://acme.test/bundle-host',
    });
    expect(r.relationship?.profile).toBe(SPIFFE);
    expect(r.trust_bundle).toHaveLength(0);
  });

  it('never echoes or logs key material', async () => {
    const { der, pem } = await caPem('secret.test');
    const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
    const keyPem = privateKey.export({ type: 'pkcs8', format: 'pem' }) as string;
    const keyBody = keyPem.split('\n')[1]!;
    const details = await expectStatus(
      create(web('secret.test', { trust_bundle: Buffer.from(keyPem) })),
      status.INVALID_ARGUMENT,
    );
    expect(details).not.toContain(keyBody);
    const broken = `{"keys": [${keyBody}`;
    expect(await expectStatus(create(web('secret.test', { trust_bundle: Buffer.from(broken) })), status.INVALID_ARGUMENT))
      .toBe('trust_bundle is not valid JSON');
    await create(web('secret.test', { trust_bundle: Buffer.from(pem) }));
    const certBase64 = Buffer.from(der).toString('base64').slice(20, 80);
    const trail = JSON.stringify(await srv.datastore.audit.list());
    const logged = JSON.stringify(logs.lines());
    for (const secret of [keyBody, certBase64]) {
      expect(trail).not.toContain(secret);
      expect(logged).not.toContain(secret);
    }
  });
});

describe('FederationService validation', () => {
  let foreign: string;
  let own: string;
  beforeAll(async () => {
    foreign = (await caPem('c.test')).pem;
    own = (await caPem('bad.test')).pem;
  });

  const cases: [string, () => object, status, RegExp][] = [
    ['no trust_domain', () => web(''), status.INVALID_ARGUMENT, /trust_domain is required/],
    ['uppercase trust domain', () => web('B.TEST'), status.INVALID_ARGUMENT, /not a valid trust domain name/],
    ['a SPIFFE ID with a path', () => web('spiffe://b.test/x'), status.INVALID_ARGUMENT, /has a path/],
    ['our own trust domain', () => web('acme.test'), status.INVALID_ARGUMENT, /cannot federate with its own trust domain/],
    ['our own, as an ID', () => web('spiffe://acme.test'), status.INVALID_ARGUMENT, /own trust domain/],
    ['no URL', () => web('bad.test', { bundle_endpoint_url: '' }), status.INVALID_ARGUMENT, /bundle_endpoint_url is required/],
    ['http URL', () => web('bad.test', { bundle_endpoint_url: 'http://bad.test/' }), status.INVALID_ARGUMENT, /must use https/],
    ['relative URL', () => web('bad.test', { bundle_endpoint_url: '/bundle' }), status.INVALID_ARGUMENT, /not an absolute URL/],
    ['URL with a fragment', () => web('bad.test', { bundle_endpoint_url: 'https://bad.test/#x' }), status.INVALID_ARGUMENT, /fragment/],
    ['URL with spaces', () => web('bad.test', { bundle_endpoint_url: 'https://bad.test/ x' }), status.INVALID_ARGUMENT, /spaces/],
    ['no profile', () => web('bad.test', { profile: 'BUNDLE_ENDPOINT_PROFILE_UNSPECIFIED' }), status.INVALID_ARGUMENT, /profile is required/],
    ['https_web with an endpoint ID', () => web('bad.test', { endpoint_spiffe_id: 'spiffe://bad.test/x' }), status.INVALID_ARGUMENT, /only for profile https_spiffe/],
    ['https_spiffe without an endpoint ID', () => web('bad.test', { profile: SPIFFE }), status.INVALID_ARGUMENT, /endpoint_spiffe_id is required/],
    ['https_spiffe with a bad endpoint ID', () => web('bad.test', { profile: SPIFFE, endpoint_spiffe_id: 'spiffe://bad.test/../x' }), status.INVALID_ARGUMENT, /endpoint_spiffe_id .* is not a valid SPIFFE ID/],
    ['a bundle that is neither JSON nor PEM', () => web('bad.test', { trust_bundle: Buffer.from('hello') }), status.INVALID_ARGUMENT, /no PEM blocks/],
    ['a bundle that is not UTF-8', () => web('bad.test', { trust_bundle: Buffer.from([0xff, 0xfe, 0x00]) }), status.INVALID_ARGUMENT, /not UTF-8/],
    ['an empty SPIFFE bundle', () => web('bad.test', { trust_bundle: Buffer.from('{"keys":[]}') }), status.INVALID_ARGUMENT, /holds no authorities/],
    ['a SPIFFE bundle without keys', () => web('bad.test', { trust_bundle: Buffer.from('{}') }), status.INVALID_ARGUMENT, /trust_bundle was refused/],
    ['another trust domain\'s authority', () => web('bad.test', { trust_bundle: Buffer.from(own + foreign) }), status.INVALID_ARGUMENT, /belongs to trust domain "c\.test", not "bad\.test"/],
  ];

  it.each(cases)('%s → %s, nothing written', async (_name, req, code, message) => {
    const before = srv.rowCounts();
    const reloads = control.reloads.length;
    expect(await expectStatus(create(req()), code)).toMatch(message);
    expect(srv.rowCounts()).toEqual(before);
    expect(control.reloads.length).toBe(reloads);
  });

  it('never quotes a URL carrying a password', async () => {
    const details = await expectStatus(
      create(web('bad.test', { bundle_endpoint_url: 'https://admin:hunter2@bad.test/' })),
      status.INVALID_ARGUMENT,
    );
    expect(details).toMatch(/user info/);
    expect(details).not.toContain('hunter2');
    expect(JSON.stringify(logs.lines())).not.toContain('hunter2');
  });

  it('applies the same checks to updates', async () => {
    await create(web('upd-check.test'));
    await expectStatus(update(web('upd-check.test', { bundle_endpoint_url: 'ftp://x/' })), status.INVALID_ARGUMENT);
    await expectStatus(update(web('acme.test')), status.INVALID_ARGUMENT);
    await expectStatus(
      update(web('upd-check.test', { trust_bundle: Buffer.from(foreign) })),
      status.INVALID_ARGUMENT,
    );
    expect((await get('upd-check.test')).relationship?.bundle_endpoint_url).toBe('https://upd-check.test/bundle');
  });

  it('checks the trust domain of Get, Delete and Refresh', async () => {
    await expectStatus(get('Not Valid'), status.INVALID_ARGUMENT);
    await expectStatus(fed.call('DeleteFederationRelationship', {}), status.INVALID_ARGUMENT);
    await expectStatus(fed.call('RefreshFederationRelationship', { trust_domain: 'a/b' }), status.INVALID_ARGUMENT);
  });
});

describe('FederationService Refresh', () => {
  it('delegates to the refresher and returns the relationship with its status; audits', async () => {
    await create(web('refresh.test'));
    control.statuses.set('refresh.test', { nextRefreshAtMs: 9_000, bundleSequence: '3' });
    const { relationship } = await fed.call<{ relationship: FederationRelationshipMessage }>(
      'RefreshFederationRelationship',
      { trust_domain: 'spiffe://refresh.test' },
    );
    expect(control.refreshes).toEqual(['refresh.test']);
    expect(relationship.trust_domain).toBe('refresh.test');
    expect(relationship.status?.last_success_at_ms).toBeGreaterThan(0);
    expect(relationship.status?.next_refresh_at_ms).toBe(9_000);
    const [event] = await srv.datastore.audit.list({ kind: 'federation.refreshed', spiffeId: 'spiffe://refresh.test' });
    expect(event?.details).toEqual({ trustDomain: 'refresh.test', bundleSequence: '3' });
  });

  it("passes the refresher's failure on with its code", async () => {
    control.refreshError = unavailable('https://refresh.test/bundle: connection refused');
    try {
      const details = await expectStatus(
        fed.call('RefreshFederationRelationship', { trust_domain: 'refresh.test' }),
        status.UNAVAILABLE,
      );
      expect(details).toContain('connection refused');
    } finally {
      control.refreshError = undefined;
    }
  });
});

describe('FederationService without a refresher', () => {
  let bare: AdminTestServer;
  beforeAll(async () => {
    bare = await startAdminTestServer();
    await bare.datastore.federation.create({
      trustDomain: 'stored.test',
      bundleEndpointUrl: 'https://stored.test/',
      profile: 'https_web',
    });
  });
  afterAll(async () => bare?.close());

  it('answers UNAVAILABLE to writes and Refresh, and still answers Get and List', async () => {
    const c = bare.client('FederationService');
    for (const [method, req] of [
      ['CreateFederationRelationship', web('new.test')],
      ['UpdateFederationRelationship', web('stored.test')],
      ['DeleteFederationRelationship', { trust_domain: 'stored.test' }],
      ['RefreshFederationRelationship', { trust_domain: 'stored.test' }],
    ] as const) {
      expect(await expectStatus(c.call(method, req), status.UNAVAILABLE)).toBe('federation refresher is not running');
    }
    expect(await bare.datastore.federation.get('stored.test')).not.toBeNull();
    const got = await c.call<FederationRelationshipResponse>('GetFederationRelationship', { trust_domain: 'stored.test' });
    expect(got.relationship?.status).toMatchObject({ bundle_sequence: '', last_success_at_ms: 0 });
    const list = await c.call<{ relationships: FederationRelationshipMessage[] }>('ListFederationRelationships', {});
    expect(list.relationships.map((r) => r.trust_domain)).toEqual(['stored.test']);
  });
});
