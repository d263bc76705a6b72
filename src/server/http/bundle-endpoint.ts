import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import * as https from 'node:https';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { SecureContextOptions } from 'node:tls';
import type { Logger } from '../../common/log.js';
import { DEFAULT_HTTP_LIMITS, httpTimeouts, type HttpListenerLimits } from '../../common/http/health-server.js';
import { guardConnections, type ConnectionClosedCounter } from '../../common/net/connection-guard.js';
import { ConfigError } from '../../common/config/index.js';
import { encodePem } from '../../spiffe/pem.js';
import type { BundleSource, ServerIdentitySource } from '../ca/types.js';

/** Default max-age when the bundle carries no refresh hint (SPIFFE Federation suggests a low default, ~5 min). */
const DEFAULT_MAX_AGE_SECONDS = 300;

export type BundleEndpointProfile =
  | { readonly profile: 'https_spiffe'; readonly identity: ServerIdentitySource }
  | { readonly profile: 'https_web'; readonly certFile: string; readonly keyFile: string };

export interface BundleEndpointConfig {
  readonly host: string;
  readonly port: number;
  /** The URL path the bundle is served at (default `/`). */
  readonly path: string;
  readonly bundle: BundleSource;
  readonly tls: BundleEndpointProfile;
  readonly log: Logger;
  /** Caps and timeouts (config bundleEndpoint.*); default DEFAULT_HTTP_LIMITS. */
  readonly limits?: HttpListenerLimits;
  /** Connections closed by the caps, labelled listener="bundle_endpoint". */
  readonly connectionsClosed?: ConnectionClosedCounter;
}

export interface RunningBundleEndpoint {
  readonly address: AddressInfo;
  close(): Promise<void>;
}

/**
 * The SPIFFE bundle endpoint (SPIFFE Federation): HTTPS, GET/HEAD at the configured path answer the trust domain's
 * current SPIFFE bundle as `application/json`; no client authentication. `https_spiffe` presents the server's
 * X509-SVID (swapped in on rotation without a restart); `https_web` a configured web certificate.
 */
export async function startBundleEndpoint(config: BundleEndpointConfig): Promise<RunningBundleEndpoint> {
  const tlsOptions = (): SecureContextOptions => {
    if (config.tls.profile === 'https_web') {
      return { cert: readSetting(config.tls.certFile, 'certFile'), key: readSetting(config.tls.keyFile, 'keyFile') };
    }
    const svid = config.tls.identity.currentServerSvid();
    return {
      cert: svid.chain.map((der) => encodePem('CERTIFICATE', der)).join(''),
      key: svid.privateKey.export({ type: 'pkcs8', format: 'pem' }),
    };
  };
  // Mozilla "intermediate": TLS 1.2+ with Node's default (forward-secret, AEAD-first) cipher list.
  const limits = config.limits ?? DEFAULT_HTTP_LIMITS;
  const serverOptions: https.ServerOptions = {
    ...tlsOptions(),
    minVersion: 'TLSv1.2',
    requestCert: false,
    handshakeTimeout: limits.handshakeTimeoutMs,
    ...httpTimeouts(limits),
  };
  const server = https.createServer(serverOptions, (req, res) => {
    try {
      handle(config, req, res);
    } catch (err) {
      config.log.error({ err, path: req.url }, 'bundle endpoint handler failed');
      if (!res.headersSent) send(res, 500, 'text/plain', 'internal error\n');
    }
  });
  server.keepAliveTimeout = limits.idleTimeoutMs;
  guardConnections(server, {
    listener: 'bundle_endpoint',
    settings: 'bundleEndpoint',
    caps: limits,
    log: config.log,
    ...(config.connectionsClosed && { closed: config.connectionsClosed }),
  });
  const unsubscribe =
    config.tls.profile === 'https_spiffe'
      ? config.tls.identity.onServerSvidChange(() => {
          try {
            server.setSecureContext({ ...tlsOptions(), minVersion: 'TLSv1.2' });
            config.log.info('bundle endpoint certificate updated');
          } catch (err) {
            config.log.error({ err }, 'bundle endpoint certificate update failed');
          }
        })
      : () => undefined;
  try {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen({ host: config.host, port: config.port }, () => {
        server.off('error', reject);
        resolve();
      });
    });
  } catch (err) {
    unsubscribe();
    throw new Error(`cannot listen on ${config.host}:${config.port}: ${(err as Error).message}`, { cause: err });
  }
  return {
    address: server.address() as AddressInfo,
    close: () =>
      new Promise<void>((resolve) => {
        unsubscribe();
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

function handle(config: BundleEndpointConfig, req: IncomingMessage, res: ServerResponse): void {
  const url = new URL(req.url ?? '/', 'https://localhost');
  if (url.pathname !== config.path) return send(res, 404, 'text/plain', 'not found\n');
  if (req.method !== 'GET' && req.method !== 'HEAD') {
    res.setHeader('Allow', 'GET, HEAD');
    return send(res, 405, 'text/plain', 'method is not allowed\n');
  }
  const bundle = config.bundle.currentBundle();
  const body = bundle.marshal();
  const etag = `"${createHash('sha256').update(body).digest('base64url').slice(0, 32)}"`;
  // A cache never holds the bundle longer than a federating server would between polls.
  const maxAge = bundle.refreshHintSeconds ?? DEFAULT_MAX_AGE_SECONDS;
  res.setHeader('Cache-Control', `public, max-age=${Math.max(0, Math.floor(maxAge))}`);
  res.setHeader('ETag', etag);
  const inm = req.headers['if-none-match'];
  if (inm !== undefined && inm.split(',').some((t) => t.trim() === etag || t.trim() === '*')) {
    res.statusCode = 304;
    res.end();
    return;
  }
  send(res, 200, 'application/json', body, req.method === 'HEAD');
}

/** Reads a configured PEM file; a failure names the setting (`bundleEndpoint.certFile`) and the file. */
function readSetting(file: string, key: 'certFile' | 'keyFile'): Buffer {
  try {
    return readFileSync(file);
  } catch (err) {
    throw new ConfigError('read', `bundleEndpoint.${key}`, `bundleEndpoint.${key} ${file} cannot be read: ${(err as Error).message}`, {
      cause: err,
    });
  }
}

function send(res: ServerResponse, status: number, type: string, body: string, headOnly = false): void {
  res.statusCode = status;
  res.setHeader('Content-Type', type);
  res.setHeader('Content-Length', Buffer.byteLength(body));
  res.end(headOnly ? undefined : body);
}
