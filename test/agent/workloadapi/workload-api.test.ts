/**
 * The Workload API against a grpc-js client over a real Unix socket: every rule of spiffe-notes §4/§9, with a fake
 * provider that serves real SVIDs (test/helpers/fake-workload-provider.ts).
 */
import { readdirSync, readlinkSync } from 'node:fs';
import { mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { permissionDenied, unavailable } from '../../../src/common/errors.js';
import { startWorkloadApi, type WorkloadApi } from '../../../src/agent/workloadapi/index.js';
import { connectionCount } from '../../../src/agent/workloadapi/connections.js';
import { JwtBundle, X509Bundle } from '../../../src/spiffe/bundle/index.js';
import { SpiffeId, TrustDomain } from '../../../src/spiffe/id/index.js';
import { mintJwtSvid, parseAndValidateJwtSvid } from '../../../src/spiffe/jwtsvid/index.js';
import { parseX509Svid, verifyX509Svid } from '../../../src/spiffe/x509svid/index.js';
import { RecordingCallerCredentialsReader, FakeWorkloadProvider } from '../../helpers/fake-workload-provider.js';
import { captureLogger } from '../../helpers/log-capture.js';
import {
  headerMetadata,
  openStream,
  statusOf,
  unary,
  workloadClient,
  type WorkloadClient,
} from '../../helpers/workload-client.js';

interface X509SvidMsg {
  spiffe_id: string;
  x509_svid: Buffer;
  x509_svid_key: Buffer;
  bundle: Buffer;
  hint: string;
}
interface X509SvidResponse {
  svids: X509SvidMsg[];
  crl: Buffer[];
  federated_bundles: Record<string, Buffer>;
}
interface BundlesResponse {
  bundles: Record<string, Buffer>;
}
interface JwtSvidResponse {
  svids: { spiffe_id: string; svid: string; hint: string }[];
}
type StructValue = Record<string, unknown>;
interface ValidateResponse {
  spiffe_id: string;
  claims: { fields: Record<string, StructValue> };
}

const ID = 'spiffe://example.org/workload';
const ID2 = 'spiffe://example.org/other';
const STREAMS = ['FetchX509SVID', 'FetchX509Bundles', 'FetchJWTBundles'] as const;

let dir: string;
let socketPath: string;
let provider: FakeWorkloadProvider;
let reader: RecordingCallerCredentialsReader;
let api: WorkloadApi;
let client: WorkloadClient;
let logs: ReturnType<typeof captureLogger>;

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'tessera-wlapi-'));
  socketPath = join(dir, 'sock', 'api.sock');
  provider = await FakeWorkloadProvider.create([{ spiffeId: ID, hint: 'main' }, { spiffeId: ID2, hint: 'other' }]);
  reader = new RecordingCallerCredentialsReader();
  logs = captureLogger('debug');
  api = await startWorkloadApi({ socketPath, provider, credentials: reader, log: logs.log });
  client = workloadClient(socketPath);
});

afterEach(async () => {
  client.close();
  await api.stop();
  await rm(dir, { recursive: true, force: true });
});

/** Waits until `check` holds (server-side bookkeeping follows the client's cancel asynchronously). */
async function eventually(check: () => boolean, ms = 3000): Promise<void> {
  const until = Date.now() + ms;
  while (!check()) {
    if (Date.now() > until) throw new Error('condition not reached');
    await new Promise((r) => setTimeout(r, 10));
  }
}

function verifyX509Message(msg: X509SvidResponse, index = 0) {
  const svid = msg.svids[index]!;
  const parsed = parseX509Svid(svid.x509_svid, svid.x509_svid_key);
  expect(parsed.spiffeId.toString()).toBe(svid.spiffe_id);
  const bundle = X509Bundle.parseDer('example.org', svid.bundle);
  const verified = verifyX509Svid(parsed.certificates, bundle, { now: new Date() });
  expect(verified.spiffeId.toString()).toBe(svid.spiffe_id);
  return parsed;
}

describe('security header', () => {
  const unaryRequests: Record<string, object> = {
    FetchJWTSVID: { audience: ['a'] },
    ValidateJWTSVID: { audience: 'a', svid: 'x.y.z' },
  };
  const allMethods = [...STREAMS, 'FetchWITSVID', 'FetchWITBundles', 'FetchJWTSVID', 'ValidateJWTSVID'];

  async function callWith(method: string, md: grpc.Metadata) {
    if (method in unaryRequests) return statusOf(unary(client, method, unaryRequests[method]!, md));
    const s = openStream(client, method, md);
    const st = await s.status;
    expect(s.received()).toBe(0);
    return { code: st.code, details: st.details };
  }

  it.each(allMethods)('%s without the header is InvalidArgument, before attestation', async (method) => {
    expect(await callWith(method, headerMetadata(null))).toEqual({
      code: grpc.status.INVALID_ARGUMENT,
      details: 'security header missing from request',
    });
    expect(provider.callers).toHaveLength(0);
  });

  it.each([['True'], ['false'], ['TRUE'], [''], ['true ']])('value %j is InvalidArgument', async (value) => {
    for (const method of allMethods) {
      expect((await callWith(method, headerMetadata(value))).code, method).toBe(grpc.status.INVALID_ARGUMENT);
    }
    expect(provider.callers).toHaveLength(0);
  });

  it('two values are InvalidArgument', async () => {
    expect((await callWith('FetchX509SVID', headerMetadata(['true', 'true']))).code).toBe(grpc.status.INVALID_ARGUMENT);
  });
});

describe('FetchX509SVID', () => {
  it('sends the full state at once: real SVIDs, own bundle, federated bundles keyed spiffe://td', async () => {
    const s = openStream<X509SvidResponse>(client, 'FetchX509SVID');
    const msg = await s.next(2000);
    expect(msg.svids.map((v) => [v.spiffe_id, v.hint])).toEqual([
      [ID, 'main'],
      [ID2, 'other'],
    ]);
    verifyX509Message(msg, 0);
    verifyX509Message(msg, 1);
    expect(Object.keys(msg.federated_bundles)).toEqual(['spiffe://federated.test']);
    const fed = X509Bundle.parseDer('federated.test', msg.federated_bundles['spiffe://federated.test']!);
    expect(fed.equals(provider.federated.currentBundle().x509Bundle)).toBe(true);
    // The key is PKCS#8 DER and matches the leaf (parseX509Svid checked it); the bundle is the own trust domain's.
    expect(
      X509Bundle.parseDer('example.org', msg.svids[0]!.bundle).equals(provider.authority.currentBundle().x509Bundle),
    ).toBe(true);
    expect(provider.callers[0]).toMatchObject({ pid: process.pid });
    s.call.cancel();
  });

  it('pushes a new message on rotation and on bundle changes', async () => {
    const s = openStream<X509SvidResponse>(client, 'FetchX509SVID');
    const first = await s.next();
    provider.defaultSession.rotate();
    const second = await s.next();
    expect(second.svids[0]!.x509_svid.equals(first.svids[0]!.x509_svid)).toBe(false);
    expect(second.svids[0]!.x509_svid_key.equals(first.svids[0]!.x509_svid_key)).toBe(false);
    verifyX509Message(second);
    await provider.authority.rotate();
    provider.defaultSession.refreshBundles();
    const third = await s.next();
    expect(X509Bundle.parseDer('example.org', third.svids[0]!.bundle).x509Authorities).toHaveLength(2);
    s.call.cancel();
  });

  it('keeps only the first SVID of each non-empty hint; empty hints are never deduplicated', async () => {
    provider.defaultSession.setIdentities([
      { spiffeId: ID, hint: 'dup' },
      { spiffeId: ID2, hint: 'dup' },
      { spiffeId: 'spiffe://example.org/a' },
      { spiffeId: 'spiffe://example.org/b' },
    ]);
    const s = openStream<X509SvidResponse>(client, 'FetchX509SVID');
    const msg = await s.next();
    expect(msg.svids.map((v) => [v.spiffe_id, v.hint])).toEqual([
      [ID, 'dup'],
      ['spiffe://example.org/a', ''],
      ['spiffe://example.org/b', ''],
    ]);
    s.call.cancel();
  });

  it('no identity: PermissionDenied and the stream ends without a message', async () => {
    provider.defaultSession.setIdentities([]);
    for (const method of STREAMS) {
      const s = openStream(client, method);
      const st = await s.status;
      expect([method, st.code, st.details]).toEqual([method, grpc.status.PERMISSION_DENIED, 'no identity issued']);
      expect(s.received()).toBe(0);
    }
    expect(api.stats()).toMatchObject({ streams: 0, sessions: 0 });
    expect(provider.defaultSession.listenerCount()).toBe(0);
  });

  it('identities removed while streaming: the streams end with PermissionDenied', async () => {
    const streams = STREAMS.map((m) => openStream(client, m));
    for (const s of streams) await s.next();
    provider.defaultSession.setIdentities([]);
    for (const s of streams) expect((await s.status).code).toBe(grpc.status.PERMISSION_DENIED);
    expect(provider.defaultSession.listenerCount()).toBe(0);
  });

  it('session closed (process exit): every stream ends with PermissionDenied and nothing stays subscribed', async () => {
    const streams = [...STREAMS.map((m) => openStream(client, m)), openStream(client, 'FetchX509SVID')];
    for (const s of streams) await s.next();
    expect(api.stats()).toMatchObject({ streams: 4, sessions: 1 });
    expect(provider.defaultSession.listenerCount()).toBe(1);
    provider.defaultSession.close();
    for (const s of streams) {
      const st = await s.status;
      expect([st.code, st.details]).toEqual([
        grpc.status.PERMISSION_DENIED,
        'workload process exited; its identities were dropped',
      ]);
    }
    expect(api.stats()).toMatchObject({ streams: 0, sessions: 0 });
    expect(provider.defaultSession.listenerCount()).toBe(0);
  });

  it('attestation errors: PermissionDenied and Unavailable pass through, anything else is Unavailable', async () => {
    const cases: [() => never, number, string][] = [
      [
        () => {
          throw permissionDenied('pid reused');
        },
        grpc.status.PERMISSION_DENIED,
        'pid reused',
      ],
      [
        () => {
          throw unavailable('agent not ready');
        },
        grpc.status.UNAVAILABLE,
        'agent not ready',
      ],
      [
        () => {
          throw new Error('ENOENT /proc/1234/status');
        },
        grpc.status.UNAVAILABLE,
        'workload attestation failed',
      ],
    ];
    for (const [resolve, code, details] of cases) {
      provider.resolve = resolve;
      for (const method of STREAMS) {
        const st = await openStream(client, method).status;
        expect([method, st.code, st.details]).toEqual([method, code, details]);
      }
      expect(await statusOf(unary(client, 'FetchJWTSVID', { audience: ['a'] }))).toEqual({ code, details });
      expect(await statusOf(unary(client, 'ValidateJWTSVID', { audience: 'a', svid: 'x' }))).toEqual({ code, details });
    }
  });

  it('a cancelled stream leaves no stream, subscription or session listener behind', async () => {
    const streams = Array.from({ length: 20 }, (_, i) => openStream(client, STREAMS[i % 3]!));
    for (const s of streams) await s.next();
    expect(api.stats()).toMatchObject({ streams: 20, sessions: 1 });
    for (const s of streams) s.call.cancel();
    await eventually(() => api.stats().streams === 0);
    expect(api.stats()).toMatchObject({ streams: 0, sessions: 0 });
    expect(provider.defaultSession.listenerCount()).toBe(0);
    // A change after everyone left reaches nobody and fails nothing.
    provider.defaultSession.rotate();
    await api.idle();
  });

  it('streams of different sessions get their own state', async () => {
    const other = provider.newSession([{ spiffeId: 'spiffe://example.org/second' }]);
    const a = openStream<X509SvidResponse>(client, 'FetchX509SVID');
    await a.next();
    provider.resolve = () => other;
    const b = openStream<X509SvidResponse>(client, 'FetchX509SVID');
    expect((await b.next()).svids.map((s) => s.spiffe_id)).toEqual(['spiffe://example.org/second']);
    other.rotate();
    await b.next();
    await a.quiet(200);
    a.call.cancel();
    b.call.cancel();
    await eventually(() => api.stats().sessions === 0);
    expect(other.listenerCount()).toBe(0);
  });
});

describe('bundle streams', () => {
  it('FetchX509Bundles: own and federated bundles keyed spiffe://td', async () => {
    const s = openStream<BundlesResponse>(client, 'FetchX509Bundles');
    const msg = await s.next();
    expect(Object.keys(msg.bundles)).toEqual(['spiffe://example.org', 'spiffe://federated.test']);
    expect(
      X509Bundle.parseDer('example.org', msg.bundles['spiffe://example.org']!).equals(
        provider.authority.currentBundle().x509Bundle,
      ),
    ).toBe(true);
    s.call.cancel();
  });

  it('FetchJWTBundles: plain JWKS per trust domain', async () => {
    const s = openStream<BundlesResponse>(client, 'FetchJWTBundles');
    const msg = await s.next();
    expect(Object.keys(msg.bundles)).toEqual(['spiffe://example.org', 'spiffe://federated.test']);
    const jwks = JSON.parse(msg.bundles['spiffe://example.org']!.toString('utf8')) as { keys: Record<string, unknown>[] };
    expect(jwks.keys[0]).not.toHaveProperty('use');
    const own = JwtBundle.parseJwks('example.org', msg.bundles['spiffe://example.org']!);
    expect([...own.jwtAuthorities.keys()]).toEqual([...provider.authority.currentBundle().jwtBundle.jwtAuthorities.keys()]);
    s.call.cancel();
  });

  it('identical consecutive bundle messages are suppressed; FetchX509SVID still gets every change', async () => {
    const x = openStream<BundlesResponse>(client, 'FetchX509Bundles');
    const j = openStream<BundlesResponse>(client, 'FetchJWTBundles');
    const svid = openStream<X509SvidResponse>(client, 'FetchX509SVID');
    await Promise.all([x.next(), j.next(), svid.next()]);

    provider.defaultSession.touch(); // same content
    provider.defaultSession.rotate(); // new SVIDs, same bundles
    await svid.next();
    await x.quiet(200);
    await j.quiet(0);

    await provider.authority.rotate(); // new root and bundle sequence: the X.509 bundle changes, JWT keys do not
    provider.defaultSession.refreshBundles();
    const changed = await x.next();
    expect(X509Bundle.parseDer('example.org', changed.bundles['spiffe://example.org']!).x509Authorities).toHaveLength(2);
    await j.quiet(200);
    for (const s of [x, j, svid]) s.call.cancel();
  });
});

describe('FetchJWTSVID', () => {
  it('audience is required', async () => {
    expect(await statusOf(unary(client, 'FetchJWTSVID', { audience: [] }))).toEqual({
      code: grpc.status.INVALID_ARGUMENT,
      details: 'audience must be specified',
    });
  });

  it('too many, too long, NUL-bearing and huge audiences are InvalidArgument naming the limit, before any minting', async () => {
    const refusal = (audience: string[]) => statusOf(unary(client, 'FetchJWTSVID', { audience }));
    expect(await refusal(Array.from({ length: 17 }, (_, i) => `aud-${i}`))).toEqual({
      code: grpc.status.INVALID_ARGUMENT,
      details: 'audience has 17 values; at most 16 are allowed',
    });
    expect(await refusal(['x'.repeat(257)])).toEqual({
      code: grpc.status.INVALID_ARGUMENT,
      details: 'audience[0] is 257 characters long; at most 256 are allowed',
    });
    expect(await refusal(['ok', 'bad\0byte'])).toEqual({
      code: grpc.status.INVALID_ARGUMENT,
      details: 'audience[1] may hold only printable ASCII characters without spaces (0x21-0x7e)',
    });
    expect((await refusal(['y'.repeat(3 * 1024 * 1024)])).code).toBe(grpc.status.INVALID_ARGUMENT);
    expect(await statusOf(unary(client, 'ValidateJWTSVID', { audience: 'a\0b', svid: 'x' }))).toEqual({
      code: grpc.status.INVALID_ARGUMENT,
      details: 'audience may hold only printable ASCII characters without spaces (0x21-0x7e)',
    });
    expect(provider.defaultSession.jwtRequests).toEqual([]);
  });

  it('a malformed spiffe_id is InvalidArgument; one the caller is not entitled to is PermissionDenied', async () => {
    const bad = await statusOf(unary(client, 'FetchJWTSVID', { audience: ['a'], spiffe_id: 'http://example.org/x' }));
    expect(bad.code).toBe(grpc.status.INVALID_ARGUMENT);
    expect(bad.details).toMatch(/^invalid requested SPIFFE ID: /);
    expect(
      await statusOf(unary(client, 'FetchJWTSVID', { audience: ['a'], spiffe_id: 'spiffe://example.org/nope' })),
    ).toEqual({ code: grpc.status.PERMISSION_DENIED, details: 'no identity issued' });
  });

  it('mints one token per identity (or only the requested one), valid against the JWT bundle', async () => {
    const all = await unary<JwtSvidResponse>(client, 'FetchJWTSVID', { audience: ['svc-a', 'svc-b'] });
    expect(all.svids.map((s) => [s.spiffe_id, s.hint])).toEqual([
      [ID, 'main'],
      [ID2, 'other'],
    ]);
    const bundle = provider.authority.currentBundle().jwtBundle;
    for (const s of all.svids) {
      const v = await parseAndValidateJwtSvid(s.svid, bundle, ['svc-b'], { now: new Date() });
      expect(v.spiffeId.toString()).toBe(s.spiffe_id);
      expect(v.audience).toEqual(['svc-a', 'svc-b']);
    }
    const one = await unary<JwtSvidResponse>(client, 'FetchJWTSVID', { audience: ['svc-a'], spiffe_id: ID2 });
    expect(one.svids.map((s) => s.spiffe_id)).toEqual([ID2]);
    expect(provider.defaultSession.jwtRequests.at(-1)).toEqual({ audience: ['svc-a'], spiffeId: ID2 });
  });

  it('hints are unique in the response', async () => {
    provider.defaultSession.setIdentities([
      { spiffeId: ID, hint: 'h' },
      { spiffeId: ID2, hint: 'h' },
    ]);
    const r = await unary<JwtSvidResponse>(client, 'FetchJWTSVID', { audience: ['a'] });
    expect(r.svids.map((s) => s.spiffe_id)).toEqual([ID]);
  });

  it('no identity is PermissionDenied, never an empty list', async () => {
    provider.defaultSession.setIdentities([]);
    expect(await statusOf(unary(client, 'FetchJWTSVID', { audience: ['a'] }))).toEqual({
      code: grpc.status.PERMISSION_DENIED,
      details: 'no identity issued',
    });
    expect(provider.defaultSession.jwtRequests).toHaveLength(0);
  });
});

describe('ValidateJWTSVID', () => {
  async function token(audience: string[], spiffeId = ID): Promise<string> {
    return (await provider.authority.signJwtSvid({ spiffeId: SpiffeId.parse(spiffeId), audience, ttlSeconds: 300 })).token;
  }

  it('accepts a good token: spiffe_id and every claim, aud as a list', async () => {
    const t = await token(['svc']);
    const r = await unary<ValidateResponse>(client, 'ValidateJWTSVID', { audience: 'svc', svid: t });
    expect(r.spiffe_id).toBe(ID);
    expect(r.claims.fields['sub']).toMatchObject({ stringValue: ID });
    expect(r.claims.fields['aud']).toMatchObject({ listValue: { values: [{ stringValue: 'svc' }] } });
    expect(typeof (r.claims.fields['exp'] as { numberValue: number }).numberValue).toBe('number');
    expect(r.claims.fields['jti']).toMatchObject({ stringValue: expect.any(String) });
  });

  it('accepts a token of a federated trust domain (validated with that bundle)', async () => {
    const t = (
      await provider.federated.signJwtSvid({
        spiffeId: SpiffeId.parse('spiffe://federated.test/peer'),
        audience: ['svc'],
        ttlSeconds: 300,
      })
    ).token;
    const r = await unary<ValidateResponse>(client, 'ValidateJWTSVID', { audience: 'svc', svid: t });
    expect(r.spiffe_id).toBe('spiffe://federated.test/peer');
  });

  it('audience and svid are required', async () => {
    expect(await statusOf(unary(client, 'ValidateJWTSVID', { audience: '', svid: 'x' }))).toEqual({
      code: grpc.status.INVALID_ARGUMENT,
      details: 'audience must be specified',
    });
    expect(await statusOf(unary(client, 'ValidateJWTSVID', { audience: 'a', svid: '' }))).toEqual({
      code: grpc.status.INVALID_ARGUMENT,
      details: 'svid must be specified',
    });
  });

  it('refuses bad, expired, wrong-audience, unknown-key and unknown-trust-domain tokens with InvalidArgument', async () => {
    const { generateKeyPairSync } = await import('node:crypto');
    const good = await token(['svc']);
    const kid = [...provider.authority.currentBundle().jwtBundle.jwtAuthorities.keys()][0]!;
    const forged = await mintJwtSvid({
      spiffeId: SpiffeId.parse(ID),
      audience: ['svc'],
      key: { kid, privateKey: generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey },
      now: new Date(),
      ttlSeconds: 300,
    });
    const foreignTd = await mintJwtSvid({
      spiffeId: SpiffeId.fromSegments(TrustDomain.parse('elsewhere.test'), 'x'),
      audience: ['svc'],
      key: { kid, privateKey: generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey },
      now: new Date(),
      ttlSeconds: 300,
    });
    const cases: [string, string, RegExp][] = [
      ['svc', 'not-a-jwt', /./],
      ['other', good, /audience/],
      ['svc', forged, /signature/],
      ['svc', foreignTd, /elsewhere\.test/],
    ];
    for (const [audience, svid, message] of cases) {
      const st = await statusOf(unary(client, 'ValidateJWTSVID', { audience, svid }));
      expect(st.code, svid).toBe(grpc.status.INVALID_ARGUMENT);
      expect(st.details).toMatch(message);
    }
  });

  it('refuses an expired token (the server clock two hours ahead)', async () => {
    const later = { now: () => new Date(Date.now() + 2 * 3600_000) };
    const api2 = await startWorkloadApi({
      socketPath: join(dir, 'later.sock'),
      provider,
      credentials: reader,
      log: logs.log,
      clock: later,
    });
    const c2 = workloadClient(api2.socketPath);
    try {
      const st = await statusOf(unary(c2, 'ValidateJWTSVID', { audience: 'svc', svid: await token(['svc']) }));
      expect(st.code).toBe(grpc.status.INVALID_ARGUMENT);
      expect(st.details).toMatch(/expired/);
    } finally {
      c2.close();
      await api2.stop();
    }
  });

  it('a caller without identity is PermissionDenied', async () => {
    provider.defaultSession.setIdentities([]);
    expect(await statusOf(unary(client, 'ValidateJWTSVID', { audience: 'svc', svid: 'x' }))).toEqual({
      code: grpc.status.PERMISSION_DENIED,
      details: 'no identity issued',
    });
  });
});

describe('WIT profile', () => {
  it.each(['FetchWITSVID', 'FetchWITBundles'])('%s is Unimplemented', async (method) => {
    const st = await openStream(client, method).status;
    expect(st.code).toBe(grpc.status.UNIMPLEMENTED);
    expect(provider.callers).toHaveLength(0);
  });
});

describe('connections', () => {
  it('a connection whose credentials cannot be read is closed at once', async () => {
    reader.fail = true;
    const st = await statusOf(unary(client, 'FetchJWTSVID', { audience: ['a'] }));
    expect(st.code).toBe(grpc.status.UNAVAILABLE);
    expect(provider.callers).toHaveLength(0);
    expect(api.stats().connections).toBe(0);
    expect(logs.lines().some((l) => String(l['msg']).includes('caller credentials could not be read'))).toBe(true);
  });

  it('the caller is read from the kernel, and its pidfd is closed when the connection closes', async () => {
    const pidfds = () =>
      readdirSync('/proc/self/fd').filter((fd) => {
        try {
          return readlinkSync(`/proc/self/fd/${fd}`) === 'anon_inode:[pidfd]';
        } catch {
          return false;
        }
      }).length;
    const before = pidfds();
    const c = workloadClient(socketPath, { 'grpc.use_local_subchannel_pool': 1 });
    await unary(c, 'FetchJWTSVID', { audience: ['a'] });
    const { caller } = reader.reads.at(-1)!;
    expect(caller).toMatchObject({ pid: process.pid, uid: process.getuid!(), gid: process.getgid!() });
    expect(caller.pidfd).toBeTypeOf('number');
    expect(pidfds()).toBe(before + 1);
    c.close();
    await eventually(() => pidfds() === before);
  });

  it('stop ends open streams with Unavailable, closes connections and removes the socket', async () => {
    const s = openStream(client, 'FetchX509SVID');
    await s.next();
    const before = connectionCount();
    await api.stop();
    const st = await s.status;
    expect([st.code, st.details]).toEqual([grpc.status.UNAVAILABLE, 'workload api is shutting down']);
    await expect(stat(socketPath)).rejects.toMatchObject({ code: 'ENOENT' });
    expect(api.stats()).toEqual({ streams: 0, sessions: 0, connections: 0 });
    expect(connectionCount()).toBeLessThan(before);
    expect(provider.defaultSession.listenerCount()).toBe(0);
  });

  it('reports metrics: calls by final code (header refusals included), connections, streams, pushes', async () => {
    const registry = new Registry();
    const labels = <T extends string>(names: T[]) => ({ labelNames: names, registers: [registry] });
    const metrics = {
      rpcTotal: new Counter({ name: 'rpc_total', help: 'x', ...labels(['method', 'code']) }),
      rpcDuration: new Histogram({ name: 'rpc_seconds', help: 'x', ...labels(['method']) }),
      connections: new Gauge({ name: 'connections', help: 'x', registers: [registry] }),
      connectionsRefused: new Counter({ name: 'refused', help: 'x', registers: [registry] }),
      openStreams: new Gauge({ name: 'streams', help: 'x', ...labels(['method']) }),
      pushes: new Counter({ name: 'pushes', help: 'x', ...labels(['method']) }),
    };
    const api2 = await startWorkloadApi({ socketPath: join(dir, 'm.sock'), provider, credentials: reader, log: logs.log, metrics });
    const c2 = workloadClient(api2.socketPath);
    try {
      await statusOf(unary(c2, 'FetchJWTSVID', { audience: ['a'] }, headerMetadata(null)));
      await unary(c2, 'FetchJWTSVID', { audience: ['a'] });
      const s = openStream(c2, 'FetchX509SVID');
      await s.next();
      provider.defaultSession.rotate();
      await s.next();
      const value = async (name: string, l: Record<string, string>) =>
        (await registry.getSingleMetric(name)!.get()).values.find((v) =>
          Object.entries(l).every(([k, x]) => v.labels[k] === x),
        )?.value;
      expect(await value('rpc_total', { method: 'FetchJWTSVID', code: 'INVALID_ARGUMENT' })).toBe(1);
      expect(await value('rpc_total', { method: 'FetchJWTSVID', code: 'OK' })).toBe(1);
      expect(await value('streams', { method: 'FetchX509SVID' })).toBe(1);
      expect(await value('pushes', { method: 'FetchX509SVID' })).toBe(1);
      expect(await value('connections', {})).toBe(1);
      s.call.cancel();
      await eventually(() => api2.stats().streams === 0);
      expect(await value('streams', { method: 'FetchX509SVID' })).toBe(0);
    } finally {
      c2.close();
      await api2.stop();
    }
  });
});
