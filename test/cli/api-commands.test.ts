/**
 * `tessera api ...`: the CLI in-process through main(argv, io) (one smoke test runs the built binary) against a small
 * Workload API server
 * started in this process on a Unix socket in a temp dir. The server is a test double of the agent (a narrow seam:
 * the real agent is tested elsewhere) serving REAL X509-SVIDs, JWT-SVIDs and bundles minted here with src/spiffe,
 * and it refuses calls without the `workload.spiffe.io: true` header as the spec requires.
 */
import { spawn } from 'node:child_process';
import { generateKeyPairSync, randomBytes, type KeyObject } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as grpc from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  parseEndpointUri,
  resolveWorkloadEndpoint,
  grpcTarget,
  WorkloadEndpointInvalid,
} from '../../src/cli/workload-endpoint.js';
import { structToJson } from '../../src/cli/workload-messages.js';
import { loadService } from '../../src/common/grpc/protos.js';
import { JwtBundle, X509Bundle } from '../../src/spiffe/bundle/index.js';
import { SpiffeId, TrustDomain } from '../../src/spiffe/id/index.js';
import { mintJwtSvid, parseAndValidateJwtSvid } from '../../src/spiffe/jwtsvid/index.js';
import { encodePem } from '../../src/spiffe/pem.js';
import { createCaCertificate, parseX509SvidPem, X509SvidSigner } from '../../src/spiffe/x509svid/index.js';
import { runTessera } from '../helpers/cli-in-process.js';

const BIN = fileURLToPath(new URL('../../dist/cli/main.js', import.meta.url));
const TD = TrustDomain.parse('example.org');
const FED_TD = TrustDomain.parse('other.org');
const WORKLOAD_ID = SpiffeId.parse('spiffe://example.org/workload/web');
const WORKLOAD_ID_2 = SpiffeId.parse('spiffe://example.org/workload/db');

// ---------------------------------------------------------------------------------------------------------------
// A Workload API test double with real credentials
// ---------------------------------------------------------------------------------------------------------------

interface MintedSvid {
  readonly spiffeId: SpiffeId;
  readonly leafDer: Uint8Array;
  readonly serial: bigint;
  readonly notAfter: Date;
  readonly keyPkcs8: Buffer;
  readonly hint: string;
}

interface TestAuthority {
  readonly caDer: Uint8Array;
  readonly signer: X509SvidSigner;
  readonly jwtKid: string;
  readonly jwtKey: { privateKey: KeyObject; publicKey: KeyObject };
  readonly jwtBundle: JwtBundle;
}

async function newAuthority(td: TrustDomain): Promise<TestAuthority> {
  const caKey = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const caDer = await createCaCertificate({
    trustDomain: td,
    publicKey: caKey.publicKey,
    signer: { key: caKey.privateKey },
    now: new Date(),
    ttlSeconds: 86_400,
  });
  const jwtKey = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const jwtKid = randomBytes(8).toString('hex');
  const jwtBundle = new JwtBundle(td);
  jwtBundle.addAuthority(jwtKid, jwtKey.publicKey);
  return { caDer, signer: X509SvidSigner.create({ caCertificate: caDer, caKey: caKey.privateKey }), jwtKid, jwtKey, jwtBundle };
}

function mintSvid(ca: TestAuthority, spiffeId: SpiffeId, hint = ''): MintedSvid {
  const key = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const signed = ca.signer.sign({ spiffeId, publicKey: key.publicKey, now: new Date(), ttlSeconds: 3600 });
  return {
    spiffeId,
    leafDer: signed.der,
    serial: signed.serial,
    notAfter: signed.notAfter,
    keyPkcs8: key.privateKey.export({ type: 'pkcs8', format: 'der' }),
    hint,
  };
}

interface StructValue {
  [k: string]: unknown;
}

/** google.protobuf.Value for grpc-js: camelCase member names (protobufjs's bundled well-known types ignore keepCase). */
function toValue(v: unknown): StructValue {
  if (v === null || v === undefined) return { nullValue: 'NULL_VALUE' };
  if (typeof v === 'string') return { stringValue: v };
  if (typeof v === 'number') return { numberValue: v };
  if (typeof v === 'boolean') return { boolValue: v };
  if (Array.isArray(v)) return { listValue: { values: v.map(toValue) } };
  return { structValue: toStruct(v as Record<string, unknown>) };
}

function toStruct(o: Record<string, unknown>): { fields: Record<string, StructValue> } {
  return { fields: Object.fromEntries(Object.entries(o).map(([k, v]) => [k, toValue(v)])) };
}

interface FakeWorkloadApi {
  readonly socketPath: string;
  readonly ca: TestAuthority;
  readonly fedCa: TestAuthority;
  svids: MintedSvid[];
  /** FetchX509SVID streams open now. */
  openStreams(): number;
  /** Mints new SVIDs for the same identities and pushes them down every open FetchX509SVID stream. */
  rotate(): void;
  /** Security header values seen, one per call. */
  readonly headers: string[][];
  close(): Promise<void>;
}

async function startFakeWorkloadApi(dir: string, options: { deny?: boolean; svidIds?: SpiffeId[] } = {}): Promise<FakeWorkloadApi> {
  const ca = await newAuthority(TD);
  const fedCa = await newAuthority(FED_TD);
  const ids = options.svidIds ?? [WORKLOAD_ID];
  const mintAll = () => ids.map((id, i) => mintSvid(ca, id, ids.length > 1 ? `hint-${i}` : ''));
  const streams = new Set<grpc.ServerWritableStream<unknown, unknown>>();
  const headers: string[][] = [];
  const { definition } = loadService('spiffe/workload/workload.proto', 'SpiffeWorkloadAPI');

  const api: FakeWorkloadApi = {
    socketPath: join(dir, 'api.sock'),
    ca,
    fedCa,
    svids: mintAll(),
    openStreams: () => streams.size,
    rotate() {
      api.svids = mintAll();
      for (const s of streams) s.write(x509Response());
    },
    headers,
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of streams) s.end();
        server.tryShutdown(() => resolve());
      }),
  };

  const x509Response = () => ({
    svids: api.svids.map((s) => ({
      spiffe_id: s.spiffeId.toString(),
      x509_svid: Buffer.from(s.leafDer),
      x509_svid_key: s.keyPkcs8,
      bundle: Buffer.from(ca.caDer),
      hint: s.hint,
    })),
    federated_bundles: { [FED_TD.idString()]: Buffer.from(fedCa.caDer) },
  });

  /** The spec's checks, in order: header → identity. Returns the error to answer with, if any. */
  const refuse = (call: { metadata: grpc.Metadata }): Partial<grpc.StatusObject> | undefined => {
    const values = call.metadata.get('workload.spiffe.io').map(String);
    headers.push(values);
    if (values.length !== 1 || values[0] !== 'true') {
      return { code: grpc.status.INVALID_ARGUMENT, details: 'security header missing from request' };
    }
    if (options.deny) return { code: grpc.status.PERMISSION_DENIED, details: 'no identity issued' };
    return undefined;
  };

  const stream = (first: () => unknown, track = false) => (call: grpc.ServerWritableStream<unknown, unknown>) => {
    const err = refuse(call);
    if (err) {
      call.emit('error', Object.assign(new Error(err.details), err));
      return;
    }
    call.write(first());
    if (track) streams.add(call);
    call.on('cancelled', () => streams.delete(call));
    call.on('close', () => streams.delete(call));
  };

  const server = new grpc.Server();
  server.addService(definition, {
    FetchX509SVID: stream(x509Response, true),
    FetchX509Bundles: stream(() => ({
      bundles: { [TD.idString()]: Buffer.from(ca.caDer), [FED_TD.idString()]: Buffer.from(fedCa.caDer) },
    })),
    FetchJWTBundles: stream(() => ({
      bundles: {
        [TD.idString()]: Buffer.from(ca.jwtBundle.toJwks()),
        [FED_TD.idString()]: Buffer.from(fedCa.jwtBundle.toJwks()),
      },
    })),
    async FetchJWTSVID(
      call: grpc.ServerUnaryCall<{ audience: string[]; spiffe_id: string }, unknown>,
      callback: grpc.sendUnaryData<unknown>,
    ) {
      const err = refuse(call);
      if (err) return callback(err);
      if (call.request.audience.length === 0) {
        return callback({ code: grpc.status.INVALID_ARGUMENT, details: 'audience must be specified' });
      }
      const wanted = api.svids.filter((s) => !call.request.spiffe_id || s.spiffeId.toString() === call.request.spiffe_id);
      if (wanted.length === 0) return callback({ code: grpc.status.PERMISSION_DENIED, details: 'no identity issued' });
      const svids = await Promise.all(
        wanted.map(async (s) => ({
          spiffe_id: s.spiffeId.toString(),
          svid: await mintJwtSvid({
            spiffeId: s.spiffeId,
            audience: call.request.audience,
            key: { kid: ca.jwtKid, privateKey: ca.jwtKey.privateKey },
            now: new Date(),
            ttlSeconds: 300,
          }),
          hint: s.hint,
        })),
      );
      callback(null, { svids });
    },
    async ValidateJWTSVID(
      call: grpc.ServerUnaryCall<{ audience: string; svid: string }, unknown>,
      callback: grpc.sendUnaryData<unknown>,
    ) {
      const err = refuse(call);
      if (err) return callback(err);
      try {
        const svid = await parseAndValidateJwtSvid(call.request.svid, ca.jwtBundle, [call.request.audience], {
          now: new Date(),
        });
        callback(null, { spiffe_id: svid.spiffeId.toString(), claims: toStruct(svid.claims) });
      } catch (e) {
        callback({ code: grpc.status.INVALID_ARGUMENT, details: (e as Error).message });
      }
    },
    FetchWITSVID: (call: grpc.ServerWritableStream<unknown, unknown>) =>
      void call.emit('error', Object.assign(new Error('unimplemented'), { code: grpc.status.UNIMPLEMENTED })),
    FetchWITBundles: (call: grpc.ServerWritableStream<unknown, unknown>) =>
      void call.emit('error', Object.assign(new Error('unimplemented'), { code: grpc.status.UNIMPLEMENTED })),
  });
  await new Promise<void>((resolve, reject) =>
    server.bindAsync(`unix://${api.socketPath}`, grpc.ServerCredentials.createInsecure(), (e) => (e ? reject(e) : resolve())),
  );
  return api;
}

// ---------------------------------------------------------------------------------------------------------------
// Running the CLI
// ---------------------------------------------------------------------------------------------------------------

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

let dir: string;
let srv: FakeWorkloadApi;

/** Runs `tessera <args>` in-process (test/helpers/cli-in-process.ts) in `dir`, without an inherited SPIFFE_ENDPOINT_SOCKET. */
function tessera(
  args: string[],
  options: { env?: NodeJS.ProcessEnv; onStdout?: (text: string) => void } = {},
): Promise<Run> {
  return runTessera(args, {
    env: { SPIFFE_ENDPOINT_SOCKET: undefined, ...options.env },
    cwd: dir,
    ...(options.onStdout !== undefined ? { onStdout: options.onStdout } : {}),
  });
}

const withSocket = (...args: string[]) => [...args, '--socket', srv.socketPath];

function ok(r: Run): Run {
  expect(r.stderr, r.stderr).toBe('');
  expect(r.code).toBe(0);
  return r;
}

function json<T = Record<string, any>>(r: Run): T {
  ok(r);
  return JSON.parse(r.stdout) as T;
}

/** Exit `code` with exactly one line on stderr and nothing on stdout. */
function oneLine(r: Run, code: number, pattern: RegExp): void {
  expect(r.stdout).toBe('');
  expect(r.stderr.endsWith('\n')).toBe(true);
  expect(r.stderr.trimEnd().split('\n'), r.stderr).toHaveLength(1);
  expect(r.stderr).toMatch(pattern);
  expect(r.code).toBe(code);
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'tessera-api-cli-'));
  srv = await startFakeWorkloadApi(dir);
});
afterAll(async () => {
  await srv?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

// ---------------------------------------------------------------------------------------------------------------

describe('endpoint parsing (SPIFFE_ENDPOINT_SOCKET, spiffe-notes §5)', () => {
  it.each([
    ['unix:///run/spire/api.sock', { kind: 'unix', path: '/run/spire/api.sock' }],
    ['unix:/run/api.sock', { kind: 'unix', path: '/run/api.sock' }],
    ['UNIX:///a%20b/api.sock', { kind: 'unix', path: '/a b/api.sock' }],
    ['tcp://127.0.0.1:8000', { kind: 'tcp', host: '127.0.0.1', port: 8000 }],
    ['tcp://[::1]:8000', { kind: 'tcp', host: '::1', port: 8000 }],
  ])('accepts %s', (uri, expected) => {
    expect(parseEndpointUri(uri)).toEqual(expected);
  });

  it.each([
    ['/run/api.sock', /"unix" or "tcp" scheme/],
    ['http://x', /"unix" or "tcp" scheme/],
    ['unix:opaque', /unix socket URI must not be opaque/],
    ['unix://', /unix socket URI must include a path/],
    ['unix://host/api.sock', /unix socket URI must not include an authority/],
    ['unix://user@/api.sock', /unix socket URI must not include user info/],
    ['unix:///p?x=1', /unix socket URI must not include query values/],
    ['unix:///p#frag', /unix socket URI must not include a fragment/],
    ['unix:///p%zz', /malformed percent-escape/],
    ['tcp:opaque', /tcp socket URI must not be opaque/],
    ['tcp://', /tcp socket URI must include a host/],
    ['tcp://u@1.2.3.4:80', /tcp socket URI must not include user info/],
    ['tcp://127.0.0.1:8000/foo', /tcp socket URI must not include a path/],
    ['tcp://127.0.0.1:8000?x', /tcp socket URI must not include query values/],
    ['tcp://127.0.0.1:8000#x', /tcp socket URI must not include a fragment/],
    ['tcp://foo', /host must be an IP address and port/],
    ['tcp://foo:80', /host must be an IP address and port/],
    ['tcp://[1.2.3.4]:80', /host must be an IP address and port/],
    ['tcp://1.2.3.4', /tcp socket URI must include a port/],
    ['tcp://1.2.3.4:', /tcp socket URI must include a port/],
    ['tcp://1.2.3.4:99999', /port must be a number from 1 to 65535/],
    ['tcp://1.2.3.4:http', /port must be a number from 1 to 65535/],
  ])('rejects %s', (uri, message) => {
    expect(() => parseEndpointUri(uri)).toThrow(WorkloadEndpointInvalid);
    expect(() => parseEndpointUri(uri)).toThrow(message);
  });

  it('resolves --socket, then SPIFFE_ENDPOINT_SOCKET, then the default', () => {
    const env = { SPIFFE_ENDPOINT_SOCKET: 'unix:///from/env.sock' };
    expect(resolveWorkloadEndpoint('/x/api.sock', env)).toEqual({
      endpoint: { kind: 'unix', path: '/x/api.sock' },
      source: '--socket',
    });
    expect(resolveWorkloadEndpoint('rel/api.sock', env).endpoint).toEqual({
      kind: 'unix',
      path: join(process.cwd(), 'rel/api.sock'),
    });
    expect(resolveWorkloadEndpoint('tcp://10.0.0.1:81', env).endpoint).toEqual({ kind: 'tcp', host: '10.0.0.1', port: 81 });
    expect(resolveWorkloadEndpoint(undefined, env)).toEqual({
      endpoint: { kind: 'unix', path: '/from/env.sock' },
      source: 'SPIFFE_ENDPOINT_SOCKET',
    });
    expect(resolveWorkloadEndpoint(undefined, {})).toEqual({
      endpoint: { kind: 'unix', path: join(process.cwd(), '.tessera/agent/api.sock') },
      source: 'default',
    });
    expect(resolveWorkloadEndpoint(undefined, { SPIFFE_ENDPOINT_SOCKET: '' }).source).toBe('default');
    expect(() => resolveWorkloadEndpoint(undefined, { SPIFFE_ENDPOINT_SOCKET: 'unix:opaque' })).toThrow(
      /^SPIFFE_ENDPOINT_SOCKET "unix:opaque" is invalid: unix socket URI must not be opaque/,
    );
    expect(() => resolveWorkloadEndpoint('tcp://foo', {})).toThrow(/^--socket "tcp:\/\/foo" is invalid: /);
    expect(() => resolveWorkloadEndpoint('', {})).toThrow(/--socket must not be empty/);
  });

  it('gives grpc-js targets without DNS or URI decoding', () => {
    expect(grpcTarget({ kind: 'unix', path: '/a b/api.sock' })).toBe('unix:/a b/api.sock');
    expect(grpcTarget({ kind: 'tcp', host: '127.0.0.1', port: 80 })).toBe('ipv4:127.0.0.1:80');
    expect(grpcTarget({ kind: 'tcp', host: '::1', port: 80 })).toBe('ipv6:[::1]:80');
  });

  it('turns a google.protobuf.Struct into JSON', () => {
    const claims = { sub: 'spiffe://x/y', aud: ['a', 'b'], exp: 5, ok: true, nested: { n: null } };
    expect(structToJson(toStruct(claims) as never)).toEqual(claims);
    // As grpc-js really hands it over (kind set), and with snake_case names should a loader keep them.
    const { definition } = loadService('spiffe/workload/workload.proto', 'SpiffeWorkloadAPI');
    const m = definition['ValidateJWTSVID']!;
    const decoded = m.responseDeserialize(m.responseSerialize({ spiffe_id: 'x', claims: toStruct(claims) })) as {
      claims: never;
    };
    expect(structToJson(decoded.claims)).toEqual(claims);
    expect(structToJson({ fields: { a: { string_value: 's' }, b: { list_value: { values: [{ number_value: 1 }] } } } })).toEqual({
      a: 's',
      b: [1],
    });
  });
});

describe('tessera api fetch x509', () => {
  it('prints each SVID with its serial, validity and bundle trust domains', async () => {
    const r = ok(await tessera(withSocket('api', 'fetch', 'x509')));
    const svid = srv.svids[0]!;
    expect(r.stdout).toMatch(/^Received 1 X509-SVID\.\n/);
    expect(r.stdout).toMatch(/^SPIFFE ID +: spiffe:\/\/example\.org\/workload\/web$/m);
    expect(r.stdout).toMatch(new RegExp(`^Serial +: ${svid.serial.toString(16)}$`, 'm'));
    expect(r.stdout).toMatch(/^Valid from +: \d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/m);
    // Minted with a 1 h TTL moments ago: the remaining time rounds to just under or exactly an hour.
    expect(r.stdout).toMatch(/^Valid until +: \d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ \(in (59m\d*s?|1h)\)$/m);
    expect(r.stdout).toMatch(/^Bundle +: example\.org \(1 authority\)$/m);
    expect(r.stdout).toMatch(/^Federated +: other\.org \(1 authority\)$/m);
    expect(r.stdout).not.toMatch(/PRIVATE KEY/);
    // Every call carried the security header (the server refuses others).
    expect(srv.headers.every((h) => h.length === 1 && h[0] === 'true')).toBe(true);
  });

  it('--output json gives the same facts, the chain as PEM and no private key', async () => {
    const out = json(await tessera(withSocket('api', 'fetch', 'x509', '-o', 'json')));
    const svid = srv.svids[0]!;
    expect(out).toEqual({
      svids: [
        {
          spiffeId: WORKLOAD_ID.toString(),
          hint: '',
          serial: svid.serial.toString(16),
          notBefore: expect.stringMatching(/Z$/),
          notAfter: svid.notAfter.toISOString().replace(/\.\d{3}Z$/, 'Z'),
          certificatesPem: encodePem('CERTIFICATE', svid.leafDer),
          bundle: { trustDomain: 'example.org', authorities: 1 },
        },
      ],
      federatedBundles: [{ trustDomain: 'other.org', authorities: 1 }],
    });
    expect(JSON.stringify(out)).not.toMatch(/PRIVATE KEY/);
  });

  it('--write creates svid.pem, svid.key (0600) and bundle.pem matching the served SVID, replacing looser files', async () => {
    const out = join(dir, 'out', 'nested');
    // A pre-existing world-readable key file must not keep its mode.
    rmSync(join(dir, 'out'), { recursive: true, force: true });
    const r0 = ok(await tessera(withSocket('api', 'fetch', 'x509', '--write', out)));
    expect(r0.stdout).toMatch(/^Wrote:$/m);
    writeFileSync(join(out, 'svid.key'), 'old', { mode: 0o644 });
    const r = ok(await tessera(withSocket('api', 'fetch', 'x509', '--write', out)));
    for (const f of ['svid.pem', 'svid.key', 'bundle.pem', 'federated-other.org.pem']) {
      expect(r.stdout).toContain(`  ${join(out, f)}\n`);
    }
    expect(statSync(join(out, 'svid.key')).mode & 0o777).toBe(0o600);
    expect(statSync(join(out, 'svid.pem')).mode & 0o777).toBe(0o644);
    const certPem = readFileSync(join(out, 'svid.pem'), 'utf8');
    const keyPem = readFileSync(join(out, 'svid.key'), 'utf8');
    expect(keyPem).toMatch(/^-----BEGIN PRIVATE KEY-----\n/);
    const parsed = parseX509SvidPem(certPem, keyPem);
    const served = srv.svids[0]!;
    expect(parsed.spiffeId.equals(WORKLOAD_ID)).toBe(true);
    expect(Buffer.from(parsed.certificates[0]!).equals(Buffer.from(served.leafDer))).toBe(true);
    expect(parsed.privateKey!.export({ type: 'pkcs8', format: 'der' }).equals(served.keyPkcs8)).toBe(true);
    const bundle = X509Bundle.parsePem(TD, readFileSync(join(out, 'bundle.pem'), 'utf8'));
    expect(bundle.equals(new X509Bundle(TD, [srv.ca.caDer]))).toBe(true);
    const fed = X509Bundle.parsePem(FED_TD, readFileSync(join(out, 'federated-other.org.pem'), 'utf8'));
    expect(fed.equals(new X509Bundle(FED_TD, [srv.fedCa.caDer]))).toBe(true);
  });

  it('--write with several SVIDs numbers the files like spire-agent', async () => {
    const d = mkdtempSync(join(tmpdir(), 'tessera-api-multi-'));
    const multi = await startFakeWorkloadApi(d, { svidIds: [WORKLOAD_ID, WORKLOAD_ID_2] });
    try {
      const out = join(d, 'out');
      const r = ok(await tessera(['api', 'fetch', 'x509', '--socket', multi.socketPath, '--write', out]));
      expect(r.stdout).toMatch(/^Received 2 X509-SVIDs\.\n/);
      expect(r.stdout).toMatch(/^Hint +: hint-1$/m);
      for (const [i, s] of multi.svids.entries()) {
        expect(statSync(join(out, `svid.${i}.key`)).mode & 0o777).toBe(0o600);
        const parsed = parseX509SvidPem(
          readFileSync(join(out, `svid.${i}.pem`), 'utf8'),
          readFileSync(join(out, `svid.${i}.key`), 'utf8'),
        );
        expect(parsed.spiffeId.equals(s.spiffeId)).toBe(true);
        expect(existsSync(join(out, `bundle.${i}.pem`))).toBe(true);
      }
      expect(existsSync(join(out, 'svid.pem'))).toBe(false);
    } finally {
      await multi.close();
      rmSync(d, { recursive: true, force: true });
    }
  });
});

describe('tessera api fetch jwt', () => {
  it('prints the SPIFFE ID and token', async () => {
    const r = ok(await tessera(withSocket('api', 'fetch', 'jwt', '--audience', 'svc-a')));
    expect(r.stdout).toMatch(/^SPIFFE ID +: spiffe:\/\/example\.org\/workload\/web$/m);
    expect(r.stdout).toMatch(/^Audience +: svc-a$/m);
    const token = /^Token +: (\S+)$/m.exec(r.stdout)?.[1];
    expect(token).toMatch(/^[\w-]+\.[\w-]+\.[\w-]+$/);
    const svid = await parseAndValidateJwtSvid(token!, srv.ca.jwtBundle, ['svc-a'], { now: new Date() });
    expect(svid.spiffeId.equals(WORKLOAD_ID)).toBe(true);
  });

  it('--output json decodes the claims; audiences and --spiffe-id go to the server', async () => {
    const out = json(
      await tessera(
        withSocket('api', 'fetch', 'jwt', '--audience', 'a', '--audience', 'b', '--spiffe-id', WORKLOAD_ID.toString(), '-o', 'json'),
      ),
    );
    expect(out.svids).toHaveLength(1);
    const s = out.svids[0];
    expect(s).toMatchObject({ spiffeId: WORKLOAD_ID.toString(), hint: '', audience: ['a', 'b'] });
    expect(s.header).toEqual({ alg: 'ES256', kid: srv.ca.jwtKid, typ: 'JWT' });
    expect(s.claims).toMatchObject({ sub: WORKLOAD_ID.toString(), aud: ['a', 'b'] });
    expect(s.claims.exp - s.claims.iat).toBe(300);
    expect(typeof s.token).toBe('string');
  });

  it('an identity the process does not have is PermissionDenied: exit 1, one line', async () => {
    oneLine(
      await tessera(withSocket('api', 'fetch', 'jwt', '--audience', 'a', '--spiffe-id', 'spiffe://example.org/other')),
      1,
      /^tessera: no identity issued for this process \(/,
    );
  });

  it.each([
    [['api', 'fetch', 'jwt'], /^tessera: --audience is required/],
    [['api', 'fetch', 'jwt', '--audience', ''], /^tessera: --audience must not be empty/],
    [['api', 'fetch', 'jwt', '--audience', 'a', '--spiffe-id', 'nope'], /^tessera: --spiffe-id "nope" is not a SPIFFE ID/],
    [['api', 'validate', 'jwt', '--token', 'x'], /^tessera: --audience is required/],
    [['api', 'validate', 'jwt', '--audience', 'a'], /^tessera: --token is required/],
    [['api', 'fetch', 'x509', '-o', 'yaml'], /^tessera: --output must be "text" or "json"/],
    [['api', 'watch', '--count', '0'], /^tessera: --count must be between 1 and/],
    [['api', 'fetch', 'nope'], /^tessera: unknown command "api fetch nope"/],
    [['api', 'fetch', 'x509', 'extra'], /^tessera: unexpected argument 'extra'/],
  ])('usage error %j exits 2 with one line', async (args, message) => {
    oneLine(await tessera(withSocket(...args)), 2, message);
  });
});

describe('tessera api fetch bundles', () => {
  it('prints per trust domain the X.509 authority count and JWT key IDs', async () => {
    const r = ok(await tessera(withSocket('api', 'fetch', 'bundles')));
    const lines = r.stdout.trimEnd().split('\n');
    expect(lines[0]).toMatch(/^TRUST DOMAIN +X\.509 AUTHORITIES +JWT KEY IDS$/);
    expect(lines[1]).toMatch(new RegExp(`^example\\.org +1 +${srv.ca.jwtKid}$`));
    expect(lines[2]).toMatch(new RegExp(`^other\\.org +1 +${srv.fedCa.jwtKid}$`));
  });

  it('--output json and --write DIR give the PEM and JWKS of each trust domain', async () => {
    const out = join(dir, 'bundles');
    const r = json(await tessera(withSocket('api', 'fetch', 'bundles', '-o', 'json', '--write', out)));
    expect(r.bundles.map((b: { trustDomain: string }) => b.trustDomain)).toEqual(['example.org', 'other.org']);
    expect(r.bundles[0]).toMatchObject({
      trustDomain: 'example.org',
      x509Authorities: 1,
      x509Pem: encodePem('CERTIFICATE', srv.ca.caDer),
      jwtKeyIds: [srv.ca.jwtKid],
    });
    expect(r.files).toEqual([
      join(out, 'bundle-example.org.pem'),
      join(out, 'jwks-example.org.json'),
      join(out, 'bundle-other.org.pem'),
      join(out, 'jwks-other.org.json'),
    ]);
    expect(readFileSync(join(out, 'bundle-other.org.pem'), 'utf8')).toBe(encodePem('CERTIFICATE', srv.fedCa.caDer));
    const jwks = JwtBundle.parseJwks(TD, readFileSync(join(out, 'jwks-example.org.json'), 'utf8'));
    expect(jwks.findJwtAuthority(srv.ca.jwtKid)).toBeDefined();
  });
});

describe('tessera api validate jwt', () => {
  async function token(audience: string[]): Promise<string> {
    return mintJwtSvid({
      spiffeId: WORKLOAD_ID,
      audience,
      key: { kid: srv.ca.jwtKid, privateKey: srv.ca.jwtKey.privateKey },
      now: new Date(),
      ttlSeconds: 120,
      extraClaims: { team: 'web' },
    });
  }

  it('prints the SPIFFE ID and claims of a valid token', async () => {
    const t = await token(['svc-a']);
    const r = ok(await tessera(withSocket('api', 'validate', 'jwt', '--audience', 'svc-a', '--token', t)));
    expect(r.stdout).toMatch(/^JWT-SVID is valid for audience "svc-a"\.$/m);
    expect(r.stdout).toMatch(/^SPIFFE ID +: spiffe:\/\/example\.org\/workload\/web$/m);
    expect(r.stdout).toMatch(/^ +team: "web"$/m);
    const out = json(await tessera(withSocket('api', 'validate', 'jwt', '--audience', 'svc-a', '--token', t, '-o', 'json')));
    expect(out).toMatchObject({
      valid: true,
      spiffeId: WORKLOAD_ID.toString(),
      audience: 'svc-a',
      claims: { sub: WORKLOAD_ID.toString(), aud: ['svc-a'], team: 'web' },
    });
  });

  it.each([
    ['the wrong audience', async () => token(['svc-b']), /^tessera: invalid JWT-SVID: token audience \["svc-b"\]/],
    [
      'a forged signature',
      async () =>
        mintJwtSvid({
          spiffeId: WORKLOAD_ID,
          audience: ['svc-a'],
          key: { kid: srv.ca.jwtKid, privateKey: generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey },
          now: new Date(),
          ttlSeconds: 120,
        }),
      /^tessera: invalid JWT-SVID: token signature does not verify/,
    ],
    ['garbage', async () => 'not-a-jwt', /^tessera: invalid JWT-SVID: /],
  ])('%s: exit 1, one line', async (_what, make, message) => {
    oneLine(await tessera(withSocket('api', 'validate', 'jwt', '--audience', 'svc-a', '--token', await make())), 1, message);
  });
});

describe('tessera api watch', () => {
  it('--count 2 prints one line per pushed update, then exits 0', async () => {
    const before = srv.svids[0]!.serial;
    let rotated = false;
    const run = tessera(withSocket('api', 'watch', '--count', '2'), {
      onStdout: (text) => {
        if (!rotated && text.includes('\n')) {
          rotated = true;
          srv.rotate();
        }
      },
    });
    const r = ok(await run);
    const after = srv.svids[0]!.serial;
    expect(after).not.toBe(before);
    const lines = r.stdout.trimEnd().split('\n');
    expect(lines).toHaveLength(2);
    expect(lines[0]).toMatch(
      new RegExp(
        `^\\d{4}-\\d\\d-\\d\\dT\\d\\d:\\d\\d:\\d\\d\\.\\d{3}Z  #1  spiffe://example\\.org/workload/web serial ${before.toString(16)} expires \\S+Z \\(in (59m|1h)`,
      ),
    );
    expect(lines[1]).toMatch(new RegExp(`  #2  spiffe://example\\.org/workload/web serial ${after.toString(16)} expires `));
    // The CLI cancelled its stream.
    await expect.poll(() => srv.openStreams(), { timeout: 5000 }).toBe(0);
  });

  it('--output json prints one JSON object per update; SIGINT ends it with exit 0 (the built binary, smoke)', async () => {
    expect(existsSync(BIN), `${BIN} missing: run "npm run build" first`).toBe(true);
    const child = spawn(process.execPath, [BIN, ...withSocket('api', 'watch', '-o', 'json')], {
      cwd: dir,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    const firstLine = new Promise<void>((resolve) =>
      child.stdout.setEncoding('utf8').on('data', (d: string) => {
        stdout += d;
        if (stdout.includes('\n')) resolve();
      }),
    );
    const exited = new Promise<number | null>((resolve) => child.once('close', (code) => resolve(code)));
    await firstLine;
    child.kill('SIGINT');
    expect(await exited).toBe(0);
    expect(stderr).toBe('');
    const update = JSON.parse(stdout.trimEnd().split('\n')[0]!);
    expect(update).toMatchObject({
      update: 1,
      svids: [{ spiffeId: WORKLOAD_ID.toString(), serial: srv.svids[0]!.serial.toString(16), hint: '' }],
      federatedTrustDomains: ['other.org'],
    });
  });
});

describe('endpoints and failures', () => {
  it('uses SPIFFE_ENDPOINT_SOCKET when --socket is absent', async () => {
    const out = json(
      await tessera(['api', 'fetch', 'x509', '-o', 'json'], { env: { SPIFFE_ENDPOINT_SOCKET: `unix://${srv.socketPath}` } }),
    );
    expect(out.svids[0].spiffeId).toBe(WORKLOAD_ID.toString());
  });

  it('--socket wins over SPIFFE_ENDPOINT_SOCKET, and takes a unix:// URI too', async () => {
    const env = { SPIFFE_ENDPOINT_SOCKET: 'unix:///nonexistent/api.sock' };
    ok(await tessera(withSocket('api', 'fetch', 'x509'), { env }));
    ok(await tessera(['api', 'fetch', 'x509', '--socket', `unix://${srv.socketPath}`], { env }));
  });

  it.each(['unix:opaque', 'unix://', 'unix:///p?x=1', 'tcp://foo', 'tcp://1.2.3.4', 'http://x'])(
    'bad endpoint URI %s exits 2 with one line (env and --socket)',
    async (uri) => {
      oneLine(
        await tessera(['api', 'fetch', 'x509'], { env: { SPIFFE_ENDPOINT_SOCKET: uri } }),
        2,
        new RegExp(`^tessera: SPIFFE_ENDPOINT_SOCKET ${JSON.stringify(uri).replace(/[.?*+/]/g, '\\$&')} is invalid: `),
      );
      oneLine(await tessera(['api', 'fetch', 'bundles', '--socket', uri]), 2, /^tessera: --socket ".*" is invalid: /);
    },
  );

  it('an unreachable socket exits 1 with one line', async () => {
    const missing = join(dir, 'nope.sock');
    oneLine(
      await tessera(['api', 'fetch', 'x509', '--socket', missing]),
      1,
      new RegExp(`^tessera: cannot reach the Workload API at ${missing.replace(/[.]/g, '\\.')}: no such socket`),
    );
    // The default socket (relative to the working directory) is named when nothing is configured.
    oneLine(await tessera(['api', 'fetch', 'bundles']), 1, /^tessera: cannot reach the Workload API at .*\/\.tessera\/agent\/api\.sock: /);
    // A watch whose first connection fails exits too.
    oneLine(await tessera(['api', 'watch', '--socket', missing]), 1, /^tessera: cannot reach the Workload API at /);
  });

  it('a tcp endpoint with nothing listening exits 1 with one line', async () => {
    oneLine(
      await tessera(['api', 'fetch', 'x509'], { env: { SPIFFE_ENDPOINT_SOCKET: 'tcp://127.0.0.1:1' } }),
      1,
      /^tessera: cannot reach the Workload API at tcp:\/\/127\.0\.0\.1:1: connection refused/,
    );
  });

  it('a server answering PermissionDenied exits 1 with one kind line, for every command', async () => {
    const d = mkdtempSync(join(tmpdir(), 'tessera-api-deny-'));
    const deny = await startFakeWorkloadApi(d, { deny: true });
    try {
      for (const args of [
        ['api', 'fetch', 'x509'],
        ['api', 'fetch', 'jwt', '--audience', 'a'],
        ['api', 'fetch', 'bundles'],
        ['api', 'watch'],
      ]) {
        oneLine(
          await tessera([...args, '--socket', deny.socketPath]),
          1,
          /^tessera: no identity issued for this process \(the Workload API at .* said "no identity issued"; is there a registration entry whose selectors match this process\?\)\n$/,
        );
      }
    } finally {
      await deny.close();
      rmSync(d, { recursive: true, force: true });
    }
  });
});
