/**
 * The authority rewriter's frame layer (authority-frames.ts) on byte streams from Node's http2 client (nghttp2's
 * encoder, which indexes into the dynamic table): round trips, the pass-through fast path, malformed frames, and
 * mutated streams, which must fail with FrameError only (the connection is then closed; nothing else breaks).
 */
import * as http2 from 'node:http2';
import { mkdtemp, rm } from 'node:fs/promises';
import * as net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AuthorityFrameRewriter, FrameError, MAX_HEADER_BLOCK_SIZE } from '../../../src/agent/workloadapi/authority-frames.js';
import { headerLists } from '../../helpers/http2-frames.js';
import { expectRoundTrip, rewrite } from './authority-roundtrip.js';

const PREFACE = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', 'latin1');

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'tessera-authority-frames-'));
});
afterAll(() => rm(dir, { recursive: true, force: true }));

let recordings = 0;
/**
 * What Node's http2 client sends for one request per authority (each with a few metadata headers), recorded by a
 * server that never answers; resolves once every request's header block has arrived.
 */
async function recordNodeClient(authorities: readonly string[]): Promise<Buffer> {
  const path = join(dir, `rec-${++recordings}.sock`);
  const chunks: Buffer[] = [];
  let done!: () => void;
  const complete = new Promise<void>((r) => (done = r));
  const server = net.createServer((s) => {
    s.on('data', (d: Buffer) => {
      chunks.push(Buffer.from(d));
      try {
        if (headerLists(Buffer.concat(chunks)).length === authorities.length) done();
      } catch {
        // a partial frame: wait for more
      }
    });
    s.on('error', () => undefined);
  });
  await new Promise<void>((r) => server.listen(path, r));
  const session = http2.connect('http://localhost', { createConnection: () => net.connect({ path }) });
  session.on('error', () => undefined);
  authorities.forEach((authority, i) => {
    const req = session.request({
      ':method': 'POST',
      ':authority': authority,
      ':path': '/SpiffeWorkloadAPI/FetchX509SVID',
      'content-type': 'application/grpc',
      te: 'trailers',
      'workload.spiffe.io': 'true',
      'x-request': `r${i}`,
      'x-bin-bin': Buffer.from([0, 255, i]).toString('base64'),
    });
    req.on('error', () => undefined);
    req.end(Buffer.from([0, 0, 0, 0, 0]));
  });
  await complete;
  session.destroy();
  await new Promise<void>((r) => server.close(() => r()));
  return Buffer.concat(chunks);
}

function frame(type: number, flags: number, streamId: number, payload: Buffer): Buffer {
  const h = Buffer.alloc(9);
  h.writeUIntBE(payload.length, 0, 3);
  h[3] = type;
  h[4] = flags;
  h.writeUInt32BE(streamId, 5);
  return Buffer.concat([h, payload]);
}
const SETTINGS = frame(0x4, 0, 0, Buffer.alloc(0));
/** A minimal valid header block: :method POST, :scheme http, :path /, :authority literal "a/b" (no indexing). */
const BLOCK = Buffer.concat([Buffer.from([0x83, 0x86, 0x84, 0x01, 0x03]), Buffer.from('a/b')]);

describe('round trips of Node http2 client streams', () => {
  it('a stream with nothing to rewrite passes byte for byte', async () => {
    const bytes = await recordNodeClient(['localhost', 'example.org:443', 'localhost']);
    expect(expectRoundTrip(bytes)).toBe(0);
    expect(rewrite(bytes).out.equals(bytes)).toBe(true);
  });

  it('socket-path authorities are rewritten, the other fields and frames decode the same, under any chunking', async () => {
    const path = '/run/tessera/agent/api.sock';
    const bytes = await recordNodeClient([path, path, 'localhost', `unix:${path}`, path]);
    expect(expectRoundTrip(bytes, 50)).toBe(4);
    const out = headerLists(rewrite(bytes).out);
    expect(out.map((l) => l.fields.find(([n]) => n === ':authority')![1])).toEqual(Array(5).fill('localhost'));
    expect(out.map((l) => l.fields.find(([n]) => n === 'x-request')![1])).toEqual(['r0', 'r1', 'r2', 'r3', 'r4']);
  });
});

describe('malformed input fails with FrameError', () => {
  const cases: [string, Buffer, RegExp][] = [
    ['a continuation without headers', frame(0x9, 0x4, 1, BLOCK), /outside its header block/],
    ['a data frame inside a header block', Buffer.concat([frame(0x1, 0, 1, BLOCK), frame(0x0, 0, 1, Buffer.alloc(1))]), /expected a continuation frame/],
    ['a continuation for another stream', Buffer.concat([frame(0x1, 0, 1, BLOCK), frame(0x9, 0x4, 3, Buffer.alloc(0))]), /expected a continuation frame|outside its header block/],
    ['padding longer than the frame', frame(0x1, 0x4 | 0x8, 1, Buffer.concat([Buffer.from([200]), BLOCK])), /padding exceeds/],
    ['a padded frame without its pad length', frame(0x1, 0x4 | 0x8, 1, Buffer.alloc(0)), /without a pad length/],
    ['headers on stream 0', frame(0x1, 0x4, 0, BLOCK), /stream 0/],
    ['a client push_promise', frame(0x5, 0x4, 1, Buffer.alloc(4)), /push_promise/],
    ['an index beyond the tables', frame(0x1, 0x4, 1, Buffer.from([0xff, 0x7f])), /malformed hpack.*OOB/],
    ['index 0', frame(0x1, 0x4, 1, Buffer.from([0x80])), /malformed hpack.*Zero/],
    ['a truncated string', frame(0x1, 0x4, 1, Buffer.from([0x01, 0x7f])), /malformed hpack/],
    ['a truncated integer', frame(0x1, 0x4, 1, Buffer.from([0x7f])), /malformed hpack/],
    ['a table size over the settings', frame(0x1, 0x4, 1, Buffer.from([0x3f, 0xe1, 0x3f])), /malformed hpack.*bigger than maximum/],
    ['a table size update after a field', frame(0x1, 0x4, 1, Buffer.from([0x83, 0x20])), /size update after a header field/],
    ['a header frame over the block bound', frame(0x1, 0, 1, Buffer.alloc(MAX_HEADER_BLOCK_SIZE + 1)), /exceeds 65536/],
    [
      'a header block over the bound in continuations',
      Buffer.concat([frame(0x1, 0, 1, Buffer.alloc(MAX_HEADER_BLOCK_SIZE - 10)), frame(0x9, 0, 1, Buffer.alloc(20))]),
      /header block exceeds 65536/,
    ],
    [
      'an hpack bomb (a large entry referenced over and over)',
      frame(0x1, 0x4, 1, Buffer.concat([Buffer.from([0x40, 0x01, 0x78, 0x7f, 0xa1, 0x1e]), Buffer.alloc(4000, 0x61), Buffer.alloc(40, 0xbe)])),
      /decoded header list exceeds 65536/,
    ],
  ];
  for (const [name, bytes, message] of cases) {
    it(name, () => {
      const push = () => new AuthorityFrameRewriter().push(Buffer.concat([PREFACE, SETTINGS, bytes]));
      expect(push).toThrow(FrameError);
      expect(push).toThrow(message);
    });
  }

  it('a valid block of the same shape passes (the cases above fail for their fault only)', () => {
    const { out, rewrites } = rewrite(Buffer.concat([PREFACE, SETTINGS, frame(0x1, 0x4 | 0x1, 1, BLOCK)]));
    expect(rewrites).toBe(1);
    expect(headerLists(out)[0]!.fields).toEqual([
      [':method', 'POST'],
      [':scheme', 'http'],
      [':path', '/'],
      [':authority', 'localhost'],
    ]);
    expect(headerLists(out)[0]!.endStream).toBe(true);
  });

  it('bytes that are not HTTP/2 pass untouched (Node http2 answers them)', () => {
    const junk = Buffer.from('GET / HTTP/1.1\r\nHost: x\r\n\r\n');
    expect(rewrite(junk).out.equals(junk)).toBe(true);
  });
});

describe('mutated client streams', () => {
  it('never fail with anything but FrameError, and what passes still decodes', async () => {
    const path = '/tmp/x/api.sock';
    const bytes = await recordNodeClient([path, 'localhost', path]);
    let seed = 7;
    const random = () => ((seed = (seed * 1103515245 + 12345) >>> 0) / 2 ** 32);
    let refused = 0;
    for (let n = 0; n < 2000; n++) {
      const mutated = Buffer.from(bytes);
      const flips = 1 + Math.floor(random() * 4);
      for (let k = 0; k < flips; k++) {
        // Mutate past the preface (a mutated preface only switches to pass-through).
        const at = PREFACE.length + Math.floor(random() * (mutated.length - PREFACE.length));
        mutated[at] = Math.floor(random() * 256);
      }
      try {
        rewrite(mutated);
      } catch (err) {
        expect(err, String(err)).toBeInstanceOf(FrameError);
        refused++;
      }
    }
    // The mutations do reach the parser's refusals (the test exercises them).
    expect(refused).toBeGreaterThan(0);
  });
});
