// A minimal Workload API client for bench/workload-api.mjs: one FetchX509SVID over a Unix socket with node:http2
// only (gRPC framing by hand), for the short-lived process instances (bench/_workload-instance.mjs) and the baseline
// server (bench/_workload-echo.mjs). grpc-js + protobufjs take ~80 ms more CPU to load and their first call in a fresh
// process costs several ms of client-side JIT; a new-instance sample should measure the agent, not that.
import * as http2 from 'node:http2';
import * as net from 'node:net';

const PATH = '/SpiffeWorkloadAPI/FetchX509SVID';
const EMPTY_REQUEST = Buffer.from([0, 0, 0, 0, 0]); // gRPC frame: uncompressed, length 0 (X509SVIDRequest {})
const HEADERS = {
  ':method': 'POST',
  ':path': PATH,
  ':authority': 'localhost',
  'content-type': 'application/grpc',
  te: 'trailers',
  'workload.spiffe.io': 'true',
};

/** Reads a protobuf varint at `pos`: [value, next position]. */
function varint(buf, pos) {
  let v = 0;
  let shift = 0;
  for (;;) {
    if (pos >= buf.length) throw new Error('truncated varint');
    const b = buf[pos++];
    v += (b & 0x7f) * 2 ** shift;
    if (b < 0x80) return [v, pos];
    shift += 7;
  }
}

/** The length-delimited fields (wire type 2) of one message level: Map field number -> Buffer[] (others skipped). */
function fields(buf) {
  const out = new Map();
  let pos = 0;
  while (pos < buf.length) {
    let key;
    [key, pos] = varint(buf, pos);
    const wire = key & 7;
    const no = Math.floor(key / 8);
    if (wire === 2) {
      let len;
      [len, pos] = varint(buf, pos);
      if (pos + len > buf.length) throw new Error('truncated field');
      const arr = out.get(no) ?? [];
      arr.push(buf.subarray(pos, pos + len));
      out.set(no, arr);
      pos += len;
    } else if (wire === 0) {
      [, pos] = varint(buf, pos);
    } else if (wire === 5) pos += 4;
    else if (wire === 1) pos += 8;
    else throw new Error(`unexpected wire type ${wire}`);
  }
  return out;
}

/** X509SVIDResponse bytes -> { spiffeId, certBytes } of its first SVID; throws when there is none. */
export function firstSvid(message) {
  const svids = fields(message).get(1);
  if (!svids || svids.length === 0) throw new Error('X509SVIDResponse without svids');
  const f = fields(svids[0]);
  const spiffeId = f.get(1)?.[0]?.toString('utf8') ?? '';
  const certBytes = f.get(2)?.[0]?.length ?? 0;
  if (!spiffeId.startsWith('spiffe://') || certBytes === 0 || !(f.get(3)?.[0]?.length > 0)) {
    throw new Error('X509SVID without spiffe_id, x509_svid or x509_svid_key');
  }
  return { spiffeId, certBytes };
}

/** Opens an HTTP/2 session over the Unix socket; resolves once the peer's SETTINGS arrived. */
export function connect(socketPath) {
  return new Promise((resolve, reject) => {
    const session = http2.connect('http://localhost', { createConnection: () => net.connect(socketPath) });
    const onError = (err) => reject(err);
    session.once('error', onError);
    session.once('connect', () => {
      session.off('error', onError);
      session.on('error', () => {});
      resolve(session);
    });
  });
}

/**
 * One FetchX509SVID on `session`: resolves with the first message's bytes (the gRPC frame's payload) and cancels the
 * stream; rejects with the gRPC status when the stream ends without a message.
 */
export function fetchFirst(session, timeoutMs = 30_000) {
  return new Promise((resolve, reject) => {
    const req = session.request(HEADERS);
    let buf = Buffer.alloc(0);
    let done = false;
    const timer = setTimeout(() => finish(new Error(`no FetchX509SVID message within ${timeoutMs} ms`)), timeoutMs);
    function finish(err, message) {
      if (done) return;
      done = true;
      clearTimeout(timer);
      if (!req.closed) req.close(http2.constants.NGHTTP2_CANCEL);
      if (err) reject(err);
      else resolve(message);
    }
    req.on('data', (chunk) => {
      buf = buf.length === 0 ? chunk : Buffer.concat([buf, chunk]);
      if (buf.length >= 5) {
        const len = buf.readUInt32BE(1);
        if (buf.length >= 5 + len) finish(undefined, buf.subarray(5, 5 + len));
      }
    });
    let status;
    let details = '';
    const onHeaders = (h) => {
      if (h['grpc-status'] !== undefined) {
        status = Number(h['grpc-status']);
        details = decodeURIComponent(String(h['grpc-message'] ?? ''));
      }
    };
    req.on('response', onHeaders);
    req.on('trailers', onHeaders);
    req.on('error', (err) => finish(err));
    req.on('close', () => finish(new Error(`stream ended without a message: grpc-status ${status ?? '?'} ${details}`)));
    req.end(EMPTY_REQUEST);
  });
}

/** Wall-clock milliseconds with sub-millisecond resolution, comparable across processes on one machine. */
export const wallMs = () => performance.timeOrigin + performance.now();
