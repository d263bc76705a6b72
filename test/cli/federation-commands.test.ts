/**
 * `tessera federation …`: the CLI in-process through main(argv, io) against a real admin API server in this process
 * (Unix socket in a temp dir, real SQLite, a fake refresher).
 */
import { generateKeyPairSync } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { unavailable } from '../../src/common/errors.js';
import { SpiffeBundle } from '../../src/spiffe/bundle/index.js';
import { TrustDomain } from '../../src/spiffe/id/index.js';
import { encodePem } from '../../src/spiffe/pem.js';
import { createCaCertificate } from '../../src/spiffe/x509svid/index.js';
import { startAdminTestServer, type AdminTestServer } from '../helpers/admin-server.js';
import { runTessera } from '../helpers/cli-in-process.js';
import { fakeFederationControl, type FakeFederationControl } from '../helpers/fake-federation-control.js';

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

let srv: AdminTestServer;
let control: FakeFederationControl;
let pemFile: string;
let der: Uint8Array;

/** Runs `tessera <args>` in-process (test/helpers/cli-in-process.ts) with the server's socket in the env. */
function tessera(args: string[], stdin = ''): Promise<Run> {
  return runTessera(args, { env: { TESSERA_ADMIN_SOCKET: srv.socketPath }, stdin });
}

function ok(r: Run): Run {
  expect(r.stderr, r.stderr).toBe('');
  expect(r.code).toBe(0);
  return r;
}

function json<T = Record<string, any>>(r: Run): T {
  return JSON.parse(ok(r).stdout) as T;
}

beforeAll(async () => {
  control = fakeFederationControl();
  srv = await startAdminTestServer({ federationControl: control });
  const { publicKey, privateKey } = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
  der = await createCaCertificate({
    trustDomain: TrustDomain.parse('b.test'),
    publicKey,
    signer: { key: privateKey },
    now: new Date(),
    ttlSeconds: 3600,
  });
  pemFile = join(srv.dir, 'b.pem');
  writeFileSync(pemFile, encodePem('CERTIFICATE', der));
});
afterAll(async () => srv?.close());

describe('federation usage errors', () => {
  it.each([
    [['federation', 'frob'], /unknown command "federation frob"/],
    [['federation', 'create'], /--trust-domain is required/],
    [['federation', 'create', '--trust-domain', 'b.test'], /--bundle-endpoint-url is required/],
    [['federation', 'create', '--trust-domain', 'b.test', '--bundle-endpoint-url', 'https://b.test/'], /--profile is required/],
    [
      ['federation', 'create', '--trust-domain', 'b.test', '--bundle-endpoint-url', 'https://b.test/', '--profile', 'mtls'],
      /--profile must be "https_web" or "https_spiffe", not "mtls"/,
    ],
    [
      ['federation', 'create', '--trust-domain', 'b.test', '--bundle-endpoint-url', 'https://b.test/', '--profile', 'https_spiffe'],
      /--endpoint-spiffe-id is required with --profile https_spiffe/,
    ],
    [
      [
        'federation', 'create', '--trust-domain', 'b.test', '--bundle-endpoint-url', 'https://b.test/', '--profile',
        'https_web', '--endpoint-spiffe-id', 'spiffe://b.test/x',
      ],
      /--endpoint-spiffe-id is only for --profile https_spiffe/,
    ],
    [
      [
        'federation', 'create', '--trust-domain', 'b.test', '--bundle-endpoint-url', 'https://b.test/', '--profile',
        'https_web', '--trust-bundle', '/nonexistent/b.pem',
      ],
      /cannot read --trust-bundle \/nonexistent\/b\.pem: ENOENT/,
    ],
    [['federation', 'update', '--trust-domain', 'b.test'], /nothing to change/],
    [['federation', 'show'], /--trust-domain is required/],
    [['federation', 'delete', '--bogus'], /unknown option '--bogus'/],
    [['federation', 'refresh', 'b.test'], /unexpected argument 'b.test'/],
    [['federation', 'list', '--output', 'xml'], /--output must be "text" or "json"/],
  ])('%j → exit 2 with a one-line reason', async (args, reason) => {
    const r = await tessera(args);
    expect(r.code).toBe(2);
    expect(r.stdout).toBe('');
    expect(r.stderr).toMatch(/^tessera: [^\n]+\n$/);
    expect(r.stderr).toMatch(reason);
  });

  it('federation --help lists the verbs', async () => {
    const r = ok(await tessera(['federation', '--help']));
    for (const verb of ['create', 'update', 'delete', 'show', 'list', 'refresh']) {
      expect(r.stdout).toMatch(new RegExp(`^ {2}${verb} `, 'm'));
    }
    expect(ok(await tessera(['federation', 'create', '--help'])).stdout).toMatch(/--trust-bundle <FILE>/);
  });
});

describe('federation round trip', () => {
  it('create (text) with a PEM trust bundle prints the relationship block', async () => {
    const r = ok(
      await tessera([
        'federation', 'create',
        '--trust-domain', 'b.test',
        '--bundle-endpoint-url', 'https://b.test:8443/bundle',
        '--profile', 'https_spiffe',
        '--endpoint-spiffe-id', 'spiffe://b.test/tessera/server',
        '--trust-bundle', pemFile,
      ]),
    );
    expect(r.stdout).toMatch(/^Trust domain +: b\.test$/m);
    expect(r.stdout).toMatch(/^Bundle endpoint +: https:\/\/b\.test:8443\/bundle$/m);
    expect(r.stdout).toMatch(/^Profile +: https_spiffe$/m);
    expect(r.stdout).toMatch(/^Endpoint SPIFFE ID +: spiffe:\/\/b\.test\/tessera\/server$/m);
    expect(r.stdout).toMatch(/^Bundle sequence +: 0$/m);
    expect(r.stdout).toMatch(/^Stored bundle +: 1 X\.509 authority, 0 JWT authorities$/m);
    expect(r.stdout).toMatch(/^Last success +: never$/m);
    expect(r.stdout).toMatch(/^Next refresh +: not scheduled$/m);
    expect(r.stdout).not.toContain(Buffer.from(der).toString('base64').slice(0, 40));
    expect(control.reloads).toContain('b.test');
  });

  it('create --output json, with the bundle from standard input', async () => {
    const doc = SpiffeBundle.fromParts({ trustDomain: 'c.test', x509Authorities: [], sequenceNumber: 9n, jwtAuthorities: [
      { kid: 'k1', key: generateKeyPairSync('ec', { namedCurve: 'prime256v1' }).publicKey },
    ] }).marshal();
    const out = json(
      await tessera(
        [
          'federation', 'create', '--trust-domain', 'spiffe://c.test', '--bundle-endpoint-url', 'https://c.test/',
          '--profile', 'https_web', '--trust-bundle', '-', '-o', 'json',
        ],
        doc,
      ),
    );
    expect(out.relationship).toMatchObject({
      trustDomain: 'c.test',
      bundleEndpointUrl: 'https://c.test/',
      profile: 'https_web',
      status: { bundleSequence: '9' },
    });
    expect(out.relationship.status).toEqual({ bundleSequence: '9' });
    expect(out.relationship).not.toHaveProperty('endpointSpiffeId');
    expect(out.trustBundle).toMatchObject({ spiffe_sequence: 9, keys: [{ use: 'jwt-svid', kid: 'k1' }] });
  });

  it('show prints status from the refresher; --output json adds the stored bundle', async () => {
    control.statuses.set('b.test', {
      lastAttemptAtMs: Date.now() - 60_000,
      lastSuccessAtMs: Date.now() - 120_000,
      lastError: 'https://b.test:8443/bundle: connection refused',
      nextRefreshAtMs: Date.now() + 240_000,
    });
    const r = ok(await tessera(['federation', 'show', '--trust-domain', 'b.test']));
    expect(r.stdout).toMatch(/^Last success +: \S+Z \(2m\S* ago\)$/m);
    expect(r.stdout).toMatch(/^Last error +: https:\/\/b\.test:8443\/bundle: connection refused$/m);
    expect(r.stdout).toMatch(/^Next refresh +: \S+Z \(in [34]m\S*\)$/m);
    const out = json(await tessera(['federation', 'show', '--trust-domain', 'b.test', '-o', 'json']));
    expect(out.relationship.status.lastError).toContain('connection refused');
    expect(out.trustBundle.keys).toHaveLength(1);
    expect(out.trustBundle.keys[0].use).toBe('x509-svid');
  });

  it('list prints one block per relationship, in trust domain order', async () => {
    const r = ok(await tessera(['federation', 'list']));
    const names = [...r.stdout.matchAll(/^Trust domain +: (\S+)$/gm)].map((m) => m[1]);
    expect(names).toEqual(['b.test', 'c.test']);
    expect(r.stdout).toMatch(/\n2 federation relationships\n$/);
    const out = json(await tessera(['federation', 'list', '-o', 'json']));
    expect(out.relationships.map((x: { trustDomain: string }) => x.trustDomain)).toEqual(['b.test', 'c.test']);
  });

  it('update changes only the options given and keeps the endpoint ID', async () => {
    const out = json(
      await tessera(['federation', 'update', '--trust-domain', 'b.test', '--bundle-endpoint-url', 'https://b.test/v2', '-o', 'json']),
    );
    expect(out.relationship).toMatchObject({
      bundleEndpointUrl: 'https://b.test/v2',
      profile: 'https_spiffe',
      endpointSpiffeId: 'spiffe://b.test/tessera/server',
    });
    const web = json(await tessera(['federation', 'update', '--trust-domain', 'b.test', '--profile', 'https_web', '-o', 'json']));
    expect(web.relationship.profile).toBe('https_web');
    expect(web.relationship).not.toHaveProperty('endpointSpiffeId');
  });

  it('refresh asks the refresher and prints the new status; its failure exits 1 with one line', async () => {
    const r = ok(await tessera(['federation', 'refresh', '--trust-domain', 'b.test']));
    expect(control.refreshes).toEqual(['b.test']);
    expect(r.stdout).toMatch(/^Last success +: \S+Z \([01]s ago\)$/m);
    control.refreshError = unavailable('https://b.test/v2: connection refused');
    try {
      const failed = await tessera(['federation', 'refresh', '--trust-domain', 'b.test']);
      expect(failed.code).toBe(1);
      expect(failed.stdout).toBe('');
      expect(failed.stderr).toBe('tessera: https://b.test/v2: connection refused\n');
    } finally {
      control.refreshError = undefined;
    }
  });

  it('server refusals exit 1 with its one-line reason', async () => {
    const own = await tessera([
      'federation', 'create', '--trust-domain', 'acme.test', '--bundle-endpoint-url', 'https://acme.test/', '--profile', 'https_web',
    ]);
    expect(own.code).toBe(1);
    expect(own.stderr).toMatch(/^tessera: [^\n]*cannot federate with its own trust domain\n$/);
    const dup = await tessera([
      'federation', 'create', '--trust-domain', 'b.test', '--bundle-endpoint-url', 'https://b.test/', '--profile', 'https_web',
    ]);
    expect(dup.code).toBe(1);
    expect(dup.stderr).toMatch(/^tessera: [^\n]*already exists\n$/);
  });

  it('delete removes the relationship and its bundle; show then fails with NOT_FOUND', async () => {
    expect(ok(await tessera(['federation', 'delete', '--trust-domain', 'b.test'])).stdout).toBe(
      'Deleted the federation relationship with b.test and its stored bundle.\n',
    );
    expect(await srv.datastore.bundles.get('b.test')).toBeNull();
    expect(json(await tessera(['federation', 'delete', '--trust-domain', 'c.test', '-o', 'json']))).toEqual({
      trustDomain: 'c.test',
      deleted: true,
    });
    const gone = await tessera(['federation', 'show', '--trust-domain', 'b.test']);
    expect(gone.code).toBe(1);
    expect(gone.stderr).toBe('tessera: no federation relationship with "b.test"\n');
    expect(ok(await tessera(['federation', 'list'])).stdout).toBe('No federation relationships.\n');
  });
});
