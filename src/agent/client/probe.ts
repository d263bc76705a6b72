import * as tls from 'node:tls';
import { unavailable, permissionDenied } from '../../common/errors.js';
import { uriSans } from './credentials.js';

/**
 * Insecure bootstrap (trust on first use): opens one TLS connection to the server without verifying its chain, checks
 * that it presents exactly the SPIFFE ID `serverId`, and returns the chain it sent (leaf first, DER), so that the
 * chain can be verified against the bundle the attestation returns. PERMISSION_DENIED for a wrong identity,
 * UNAVAILABLE when the server cannot be reached.
 */
export function probeServerChain(address: string, serverId: string, timeoutMs = 10_000): Promise<Uint8Array[]> {
  const m = /^(\[[^\]]+\]|[^:]+):(\d+)$/.exec(address);
  if (!m) return Promise.reject(unavailable(`server address ${JSON.stringify(address)} is not host:port`));
  const host = m[1]!.replace(/^\[|\]$/g, '');
  const port = Number(m[2]);
  return new Promise((resolve, reject) => {
    const socket = tls.connect({ host, port, servername: 'localhost', rejectUnauthorized: false, ALPNProtocols: ['h2'] });
    const timer = setTimeout(() => {
      socket.destroy();
      reject(unavailable(`server ${address} did not complete a TLS handshake within ${timeoutMs} ms`));
    }, timeoutMs);
    socket.once('secureConnect', () => {
      clearTimeout(timer);
      const leaf = socket.getPeerCertificate(true);
      socket.destroy();
      const uris = uriSans(leaf);
      if (uris.length !== 1 || uris[0] !== serverId) {
        reject(permissionDenied(`server presented ${JSON.stringify(uris)}, expected ${JSON.stringify(serverId)}`));
        return;
      }
      const chain: Uint8Array[] = [];
      let cert: tls.DetailedPeerCertificate | undefined = leaf;
      while (cert?.raw && chain.length < 10) {
        chain.push(new Uint8Array(cert.raw));
        const next: tls.DetailedPeerCertificate | undefined = cert.issuerCertificate;
        if (!next || next === cert || next.fingerprint256 === cert.fingerprint256) break;
        cert = next;
      }
      resolve(chain);
    });
    socket.once('error', (err) => {
      clearTimeout(timer);
      reject(unavailable(`cannot reach the server at ${address}: ${err.message}`, { cause: err }));
    });
  });
}
