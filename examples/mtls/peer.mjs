#!/usr/bin/env node
// A workload that uses its SPIFFE identity for mutual TLS: it fetches its X509-SVID and trust bundle from the SPIFFE
// Workload API (SPIFFE_ENDPOINT_SOCKET), then either serves one TLS connection or opens one, requiring the other side
// to present an X509-SVID of the same trust domain under an allowed SPIFFE ID prefix. Both sides print what they saw.
//
//   SPIFFE_ENDPOINT_SOCKET=unix:///path/api.sock node examples/mtls/peer.mjs serve   --allow spiffe://example.org/demo/
//   SPIFFE_ENDPOINT_SOCKET=unix:///path/api.sock node examples/mtls/peer.mjs connect --allow spiffe://example.org/demo/ --port N
//
// Plain Node (node:tls, node:crypto) and gRPC; no Tessera code: any SPIFFE Workload API serves it.
import { createPrivateKey, X509Certificate } from 'node:crypto';
import { once } from 'node:events';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import * as tls from 'node:tls';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';

const PROTO_ROOT = join(dirname(fileURLToPath(import.meta.url)), '../../proto');

/** The first X509SVIDResponse of FetchX509SVID: this process's default SVID, its key and its trust domain's bundle. */
async function fetchX509Svid(endpoint) {
  const def = protoLoader.loadSync('spiffe/workload/workload.proto', {
    keepCase: true,
    bytes: Buffer,
    defaults: true,
    includeDirs: [PROTO_ROOT],
  });
  const { SpiffeWorkloadAPI } = grpc.loadPackageDefinition(def); // workload.proto declares no package, as SPIFFE's
  const client = new SpiffeWorkloadAPI(endpoint, grpc.credentials.createInsecure());
  const md = new grpc.Metadata();
  md.set('workload.spiffe.io', 'true'); // required by the Workload API: proves this is not a browser/proxied request
  const call = client.FetchX509SVID({}, md);
  try {
    const [response] = await once(call, 'data');
    const svid = response.svids[0];
    return {
      spiffeId: svid.spiffe_id,
      chain: splitDer(svid.x509_svid).map((der) => new X509Certificate(der).toString()),
      key: createPrivateKey({ key: svid.x509_svid_key, format: 'der', type: 'pkcs8' }).export({ format: 'pem', type: 'pkcs8' }),
      bundle: splitDer(svid.bundle).map((der) => new X509Certificate(der).toString()),
    };
  } finally {
    call.on('error', () => {}); // cancelling ends the stream with CANCELLED, expected here
    call.cancel();
    client.close();
  }
}

/** Splits concatenated DER certificates (each a SEQUENCE with a definite length) into one Buffer each. */
function splitDer(buf) {
  const out = [];
  for (let i = 0; i < buf.length; ) {
    if (buf[i] !== 0x30) throw new Error('not a DER SEQUENCE');
    let len = buf[i + 1];
    let head = 2;
    if (len & 0x80) {
      const n = len & 0x7f;
      len = 0;
      for (let k = 0; k < n; k++) len = len * 256 + buf[i + 2 + k];
      head += n;
    }
    out.push(buf.subarray(i, i + head + len));
    i += head + len;
  }
  return out;
}

/** The SPIFFE ID of a peer certificate (its single URI SAN), or undefined. */
function spiffeIdOf(cert) {
  const uris = (cert?.subjectaltname ?? '').split(', ').filter((s) => s.startsWith('URI:spiffe://'));
  return uris.length === 1 ? uris[0].slice('URI:'.length) : undefined;
}

function authorize(peerId, allow) {
  if (!peerId) return new Error('peer presented no SPIFFE ID');
  if (!peerId.startsWith(allow)) return new Error(`peer ${JSON.stringify(peerId)} is not under ${JSON.stringify(allow)}`);
  return undefined;
}

async function main() {
  const { positionals, values } = parseArgs({
    allowPositionals: true,
    options: { allow: { type: 'string' }, port: { type: 'string' } },
  });
  const role = positionals[0];
  const endpoint = process.env.SPIFFE_ENDPOINT_SOCKET;
  if (!endpoint) throw new Error('set SPIFFE_ENDPOINT_SOCKET=unix:///path/to/api.sock');
  if (!values.allow) throw new Error('--allow <SPIFFE ID prefix> is required');
  if (role !== 'serve' && role !== 'connect') throw new Error('usage: peer.mjs serve|connect --allow PREFIX [--port N]');

  const me = await fetchX509Svid(endpoint);
  const context = { key: me.key, cert: me.chain.join(''), ca: me.bundle, minVersion: 'TLSv1.2' };

  if (role === 'serve') {
    const server = tls.createServer({ ...context, requestCert: true, rejectUnauthorized: true }, (socket) => {
      const peer = spiffeIdOf(socket.getPeerCertificate());
      const refused = authorize(peer, values.allow);
      if (refused) {
        console.log(`serve: refused a client: ${refused.message}`);
        socket.destroy();
        return;
      }
      console.log(`serve: I am ${me.spiffeId}; the client is ${peer}`);
      socket.end(`hello ${peer}, from ${me.spiffeId}\n`);
      server.close();
    });
    server.listen(0, '127.0.0.1', () => console.log(`serve: I am ${me.spiffeId}, listening on 127.0.0.1:${server.address().port}`));
    return;
  }

  const socket = tls.connect({
    ...context,
    host: '127.0.0.1',
    port: Number(values.port),
    // SVIDs name workloads by URI SAN, not host names: authorize the server's SPIFFE ID instead.
    checkServerIdentity: (_host, cert) => authorize(spiffeIdOf(cert), values.allow),
  });
  await once(socket, 'secureConnect');
  console.log(`connect: I am ${me.spiffeId}; the server is ${spiffeIdOf(socket.getPeerCertificate())}`);
  let reply = '';
  socket.setEncoding('utf8').on('data', (chunk) => (reply += chunk));
  await once(socket, 'end');
  if (reply === '') throw new Error('the server closed the connection without a reply (did it refuse this identity?)');
  console.log(`connect: the server said: ${reply.trim()}`);
}

main().catch((err) => {
  console.error(`peer: ${err.message}`);
  process.exit(1);
});
