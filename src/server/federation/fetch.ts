import * as https from 'node:https';
import type { PeerCertificate } from 'node:tls';
import { isIP } from 'node:net';
import { unavailable } from '../../common/errors.js';
import type { X509Bundle } from '../../spiffe/bundle/index.js';
import type { SpiffeId } from '../../spiffe/id/index.js';
import { encodePem } from '../../spiffe/pem.js';
import { verifyX509Svid } from '../../spiffe/x509svid/index.js';

/** How to authenticate one bundle endpoint (SPIFFE Federation §5.2). */
export type EndpointAuth =
  /** Web PKI: the platform's roots (plus NODE_EXTRA_CA_CERTS) and the URL's host name. */
  | { readonly profile: 'https_web' }
  /** The endpoint's X509-SVID must carry `endpointId` and chain to `bundle`, the X.509 bundle of its trust domain. */
  | { readonly profile: 'https_spiffe'; readonly endpointId: SpiffeId; readonly bundle: X509Bundle };

export interface FetchOptions {
  readonly timeoutMs: number;
  /** Largest body accepted (bytes). */
  readonly maxBytes: number;
  readonly now: () => Date;
  /** Aborts the request (server shutdown). */
  readonly signal?: AbortSignal;
}

export const DEFAULT_FETCH_OPTIONS: Omit<FetchOptions, 'now'> = { timeoutMs: 10_000, maxBytes: 1 << 20 };

/**
 * GETs a SPIFFE bundle document from a bundle endpoint and returns its body. The peer is authenticated during the TLS
 * handshake, before the request is sent: https_web by Node's default verification; https_spiffe by OpenSSL against
 * the trust domain's roots only and then by the X509-SVID rules (verifyX509Svid) and an exact SPIFFE ID match.
 * Every failure (connection, authentication, status other than 200, oversized body, timeout) is UNAVAILABLE with a
 * message naming the URL; the caller keeps its last good bundle.
 */
export function fetchBundleDocument(url: URL, auth: EndpointAuth, opts: FetchOptions): Promise<string> {
  const where = url.toString();
  const tls: https.RequestOptions =
    auth.profile === 'https_web'
      ? {}
      : {
          ca: auth.bundle.x509Authorities.map((der) => encodePem('CERTIFICATE', der)),
          checkServerIdentity: (_host, cert) => checkSpiffeEndpoint(cert, auth, opts.now()),
        };
  if (auth.profile === 'https_spiffe' && auth.bundle.isEmpty()) {
    return Promise.reject(
      unavailable(`cannot authenticate ${where}: no X.509 authorities for trust domain ${auth.endpointId.trustDomain.name}`),
    );
  }
  return new Promise<string>((resolveFetch, rejectFetch) => {
    // One deadline for the whole fetch: the socket's idle timeout alone never ends a peer trickling its answer.
    const deadline = setTimeout(() => {
      const err = new Error(`no complete answer within ${opts.timeoutMs} ms`);
      req.destroy(err);
      reject(unavailable(`cannot fetch ${where}: ${err.message}`, { cause: err }));
    }, opts.timeoutMs);
    const resolve = (body: string) => {
      clearTimeout(deadline);
      resolveFetch(body);
    };
    const reject = (err: Error) => {
      clearTimeout(deadline);
      rejectFetch(err);
    };
    const req = https.request(
      url,
      {
        method: 'GET',
        agent: false,
        headers: { accept: 'application/json' },
        timeout: opts.timeoutMs,
        minVersion: 'TLSv1.2',
        ...(opts.signal ? { signal: opts.signal } : {}),
        rejectUnauthorized: true,
        ...(isIP(url.hostname.replace(/^\[|\]$/g, '')) ? {} : { servername: url.hostname }),
        ...tls,
      },
      (res) => {
        if (res.statusCode !== 200) {
          res.resume();
          reject(unavailable(`${where} answered HTTP ${res.statusCode}`));
          return;
        }
        const chunks: Buffer[] = [];
        let size = 0;
        res.on('data', (chunk: Buffer) => {
          size += chunk.length;
          if (size > opts.maxBytes) {
            req.destroy();
            reject(unavailable(`${where} sent more than ${opts.maxBytes} bytes`));
            return;
          }
          chunks.push(chunk);
        });
        res.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
        res.on('error', (err) => reject(unavailable(`${where}: ${err.message}`, { cause: err })));
      },
    );
    req.on('timeout', () => req.destroy(new Error(`no answer within ${opts.timeoutMs} ms`)));
    req.on('error', (err) => reject(unavailable(`cannot fetch ${where}: ${describe(err)}`, { cause: err })));
    req.end();
  });
}

/** checkServerIdentity for https_spiffe: an Error refuses the connection before anything is sent. */
function checkSpiffeEndpoint(
  cert: PeerCertificate,
  auth: Extract<EndpointAuth, { profile: 'https_spiffe' }>,
  now: Date,
): Error | undefined {
  try {
    const { spiffeId } = verifyX509Svid(peerChain(cert), auth.bundle, { now });
    if (!spiffeId.equals(auth.endpointId)) {
      return new Error(`the endpoint presented ${spiffeId.toString()}, expected ${auth.endpointId.toString()}`);
    }
    return undefined;
  } catch (err) {
    return new Error(`the endpoint's X509-SVID is not accepted: ${(err as Error).message}`);
  }
}

/** The chain OpenSSL verified, leaf first (the detailed peer certificate links each certificate to its issuer). */
function peerChain(leaf: PeerCertificate): Uint8Array[] {
  const chain: Uint8Array[] = [];
  let cert: PeerCertificate | undefined = leaf;
  const seen = new Set<PeerCertificate>();
  while (cert?.raw && !seen.has(cert)) {
    seen.add(cert);
    chain.push(new Uint8Array(cert.raw));
    cert = (cert as { issuerCertificate?: PeerCertificate }).issuerCertificate;
  }
  return chain;
}

function describe(err: Error & { code?: string; reason?: string }): string {
  if (err.reason) return err.reason;
  return err.code && !err.message.includes(err.code) ? `${err.message} (${err.code})` : err.message;
}
