/**
 * The Workload API answers requests whose HTTP/2 :authority Node's http2 would refuse (grpc-java sends the socket's
 * path): the listener puts each connection behind the authority rewriter (authority-rewrite.ts). A raw HTTP/2 client
 * sends exactly what grpc-java sends; a bare grpc-js server without the rewriter shows the failure being fixed.
 */
import * as http2 from 'node:http2';
import { mkdtemp, rm } from 'node:fs/promises';
import * as net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startWorkloadApi, type WorkloadApi } from '../../../src/agent/workloadapi/index.js';
import { FakeWorkloadProvider, RecordingCallerCredentialsReader } from '../../helpers/fake-workload-provider.js';
import { captureLogger } from '../../helpers/log-capture.js';
import { headerMetadata, workloadClient } from '../../helpers/workload-client.js';
import { eventually } from '../harness.js';

const SPIFFE_ID = 'spiffe://example.org/workload';

let dir: string;
let socketPath: string;
let provider: FakeWorkloadProvider;
let api: WorkloadApi;
const logs = captureLogger('warn');

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'tessera-authority-'));
  socketPath = join(dir, 'api.sock');
  provider = await FakeWorkloadProvider.create([{ spiffeId: SPIFFE_ID }]);
  api = await startWorkloadApi({
    socketPath,
    provider,
    credentials: new RecordingCallerCredentialsReader(),
    log: logs.log,
  });
});

afterAll(async () => {
  await api?.stop();
  await rm(dir, { recursive: true, force: true });
});

/** FetchJWTSVID {audience: [aud]} as one gRPC message (field 1, length-delimited). */
function fetchJwtSvidMessage(aud: string): Buffer {
  const field = Buffer.concat([Buffer.from([0x0a, aud.length]), Buffer.from(aud, 'latin1')]);
  const prefix = Buffer.alloc(5);
  prefix.writeUInt32BE(field.length, 1);
  return Buffer.concat([prefix, field]);
}

interface RawResult {
  headers?: http2.IncomingHttpHeaders;
  trailers?: http2.IncomingHttpHeaders;
  body: Buffer;
  /** The RST_STREAM code when the server reset the stream. */
  rstCode?: number;
}

/** One unary Workload API call over HTTP/2 on `path`, with the given :authority, as grpc-java frames it. */
function rawCall(path: string, authority: string): Promise<RawResult> {
  return new Promise((resolve, reject) => {
    const session = http2.connect('http://localhost', { createConnection: () => net.connect({ path }) });
    session.on('error', () => undefined);
    const req = session.request({
      ':method': 'POST',
      ':scheme': 'http',
      ':authority': authority,
      ':path': '/SpiffeWorkloadAPI/FetchJWTSVID',
      'content-type': 'application/grpc',
      te: 'trailers',
      'workload.spiffe.io': 'true',
      'user-agent': 'grpc-java-netty/1.80.0',
    });
    const result: RawResult = { body: Buffer.alloc(0) };
    req.on('response', (h) => (result.headers = h));
    req.on('trailers', (t) => (result.trailers = t));
    req.on('data', (d: Buffer) => (result.body = Buffer.concat([result.body, d])));
    req.on('error', () => undefined);
    req.on('close', () => {
      if (req.rstCode !== http2.constants.NGHTTP2_NO_ERROR) result.rstCode = req.rstCode;
      session.close();
      resolve(result);
    });
    req.on('aborted', () => undefined);
    req.end(fetchJwtSvidMessage('spiffe://example.org/rp'));
    session.on('close', () => resolve(result));
    setImmediate(() => undefined);
    void reject;
  });
}

describe('a :authority that Node http2 refuses', () => {
  it('is refused by a grpc-js server that gets the raw socket (the failure the rewriter fixes)', async () => {
    const server = new grpc.Server();
    const injector = server.createConnectionInjector(grpc.ServerCredentials.createInsecure());
    const bare = net.createServer((s) => injector.injectConnection(s));
    const barePath = join(dir, 'bare.sock');
    await new Promise<void>((r) => bare.listen(barePath, r));
    try {
      const r = await rawCall(barePath, barePath);
      expect(r.rstCode).toBe(http2.constants.NGHTTP2_PROTOCOL_ERROR);
      expect(r.headers).toBeUndefined();
    } finally {
      injector.destroy();
      await new Promise<void>((r) => bare.close(() => r()));
    }
  });

  it('is answered by the Workload API: a socket path as :authority gets the JWT-SVID', async () => {
    const before = provider.callers.length;
    const r = await rawCall(socketPath, socketPath);
    expect(r.rstCode).toBeUndefined();
    expect(r.headers?.[':status']).toBe(200);
    expect(r.trailers?.['grpc-status'], JSON.stringify(r.headers)).toBe('0');
    expect(r.body.toString('latin1')).toContain(SPIFFE_ID);
    // The caller was attested from the connection's kernel credentials (this process).
    expect(provider.callers.slice(before).map((c) => c.pid)).toContain(process.pid);
  });

  it('keeps answering later streams on the same connection, and an ordinary client is unaffected', async () => {
    for (const authority of [socketPath, 'localhost', `unix:${socketPath}`]) {
      const r = await rawCall(socketPath, authority);
      expect(r.trailers?.['grpc-status'], authority).toBe('0');
    }
    const client = workloadClient(socketPath);
    try {
      const res = await new Promise<{ svids: { spiffe_id: string }[] }>((resolve, reject) =>
        client['FetchJWTSVID']!({ audience: ['spiffe://example.org/rp'] }, headerMetadata(), (err: unknown, v: unknown) =>
          err ? reject(err) : resolve(v as { svids: { spiffe_id: string }[] }),
        ),
      );
      expect(res.svids.map((s) => s.spiffe_id)).toEqual([SPIFFE_ID]);
    } finally {
      client.close();
    }
  });

  it('a malformed header block closes only its own connection, with a warning that carries no header value', async () => {
    const client = workloadClient(socketPath);
    const fetch = () =>
      new Promise<{ svids: { spiffe_id: string }[] }>((resolve, reject) =>
        client['FetchJWTSVID']!({ audience: ['spiffe://example.org/rp'] }, headerMetadata(), (err: unknown, v: unknown) =>
          err ? reject(err) : resolve(v as { svids: { spiffe_id: string }[] }),
        ),
      );
    try {
      expect((await fetch()).svids.map((s) => s.spiffe_id)).toEqual([SPIFFE_ID]);
      const before = api.stats().connections;
      // Preface, SETTINGS, then a HEADERS frame whose HPACK index points past both tables.
      const bad = Buffer.concat([
        Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', 'latin1'),
        Buffer.from([0, 0, 0, 0x4, 0, 0, 0, 0, 0]),
        Buffer.from([0, 0, 2, 0x1, 0x4, 0, 0, 0, 1, 0xff, 0x7f]),
      ]);
      const raw = net.connect({ path: socketPath });
      raw.on('error', () => undefined);
      raw.resume();
      raw.write(bad);
      await new Promise<void>((resolve) => raw.once('close', () => resolve()));
      await eventually(() => api.stats().connections === before, 10_000, 'the bad connection to close on the server side');
      const warning = logs.lines().find((l) => l['msg'] === 'Closed a Workload API connection that sent malformed HTTP/2 frames');
      expect(warning?.['err']).toMatch(/malformed hpack header block/);
      // The other connection is untouched.
      expect((await fetch()).svids.map((s) => s.spiffe_id)).toEqual([SPIFFE_ID]);
    } finally {
      client.close();
    }
  });
});
