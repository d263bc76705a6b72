import * as http from 'node:http';
import * as https from 'node:https';
import type { AddressInfo } from 'node:net';
import { guardConnections, type ConnectionClosedCounter, type TcpConnectionCaps } from '../net/connection-guard.js';
import type { Registry } from 'prom-client';
import { systemClock, type Clock } from '../clock.js';
import type { Logger } from '../log.js';
import { cachedReadiness, type Readiness, type ReadinessCheck } from './readiness-cache.js';

/**
 * Caps and timeouts of an HTTP(S) listener, so that idle or slow clients cannot hold its descriptors: refused over a
 * cap at accept; closed when the TLS handshake (HTTPS) or the request headers take too long, or when a kept-alive
 * connection stays idle.
 */
export interface HttpListenerLimits extends TcpConnectionCaps {
  /** Time allowed for the TLS handshake (HTTPS only). */
  readonly handshakeTimeoutMs: number;
  /** Time allowed from connect (or the end of the previous response) until a request's headers are complete. */
  readonly headersTimeoutMs: number;
  /** How long a kept-alive connection may wait for its next request. */
  readonly idleTimeoutMs: number;
}

export const DEFAULT_HTTP_LIMITS: HttpListenerLimits = {
  maxConnections: 1024,
  maxConnectionsPerAddress: 256,
  handshakeTimeoutMs: 10_000,
  headersTimeoutMs: 10_000,
  idleTimeoutMs: 5_000,
};

/** Node's own bound on a whole request (GET/HEAD only here): never shorter than the headers' timeout. */
const MIN_REQUEST_TIMEOUT_MS = 30_000;

/**
 * The HTTP listener of the server and the agent: /healthz (live), /readyz, /metrics (Prometheus); GET and HEAD only.
 * Plain HTTP, or HTTPS (TLS 1.2+) when `tls` is given. What it consumes:
 */
export interface HttpServerConfig {
  readonly host: string;
  readonly port: number;
  readonly log: Logger;
  /**
   * Readiness: the server's (datastore reads and writes, disk space, test signature) or the agent's (SVID, sync,
   * server reachable, Workload API). /readyz runs it at most once per second of `clock` (cachedReadiness).
   */
  readonly ready: ReadinessCheck;
  /** The clock of the readiness cache. Default: the system clock. */
  readonly clock?: Clock;
  readonly metrics: Registry;
  /** Extra GET/HEAD routes by exact path (e.g. the server's OIDC discovery and JWKS); the built-in ones win. */
  readonly routes?: Readonly<Record<string, HttpRoute>>;
  /** PEM certificate chain (leaf first) and private key, already read by the caller: the listener is then HTTPS. */
  readonly tls?: { readonly cert: string | Buffer; readonly key: string | Buffer };
  /** Default {@link DEFAULT_HTTP_LIMITS}. */
  readonly limits?: HttpListenerLimits;
  /** Config path of the limits, named in warnings (default `http`). */
  readonly settings?: string;
  /** Connections closed by the caps, labelled listener="http". */
  readonly connectionsClosed?: ConnectionClosedCounter;
}

/** What an extra route answers; `headers` may override the default `Cache-Control: no-store`. */
export interface HttpRouteResponse {
  readonly status: number;
  readonly contentType: string;
  readonly body: string;
  readonly headers?: Readonly<Record<string, string>>;
}

export type HttpRoute = (req: http.IncomingMessage) => HttpRouteResponse | Promise<HttpRouteResponse>;

export interface RunningHttpServer {
  readonly address: AddressInfo;
  close(): Promise<void>;
  /** HTTPS only: serves new connections with this certificate chain and key (checked by the caller). */
  setTls?(tls: { readonly cert: string | Buffer; readonly key: string | Buffer }): void;
}

export async function startHttpServer(config: HttpServerConfig): Promise<RunningHttpServer> {
  const ready = cachedReadiness(config.ready, config.clock ?? systemClock);
  const listener: http.RequestListener = (req, res) => {
    handle(config, ready, req, res).catch((err) => {
      config.log.error({ err, path: req.url }, 'HTTP handler failed');
      if (!res.headersSent) send(res, 500, 'text/plain', 'internal error\n');
    });
  };
  // Mozilla "intermediate" like the bundle endpoint: TLS 1.2+ with Node's default (forward-secret, AEAD-first) ciphers.
  const limits = config.limits ?? DEFAULT_HTTP_LIMITS;
  const server = config.tls
    ? https.createServer(
        {
          cert: config.tls.cert,
          key: config.tls.key,
          minVersion: 'TLSv1.2',
          handshakeTimeout: limits.handshakeTimeoutMs,
          ...httpTimeouts(limits),
        },
        listener,
      )
    : http.createServer(httpTimeouts(limits), listener);
  server.keepAliveTimeout = limits.idleTimeoutMs;
  guardConnections(server, {
    listener: 'http',
    settings: config.settings ?? 'http',
    caps: limits,
    log: config.log,
    ...(config.connectionsClosed && { closed: config.connectionsClosed }),
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen({ host: config.host, port: config.port }, () => {
      server.off('error', reject);
      resolve();
    });
  });
  return {
    address: server.address() as AddressInfo,
    ...(server instanceof https.Server && {
      setTls: (tls: { readonly cert: string | Buffer; readonly key: string | Buffer }) =>
        server.setSecureContext({ cert: tls.cert, key: tls.key, minVersion: 'TLSv1.2' }),
    }),
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

/**
 * Node's header and request timeouts, and how often it checks them (by default every 30 s, which would let a
 * short headers timeout run far over).
 */
export function httpTimeouts(limits: HttpListenerLimits): http.ServerOptions {
  return {
    headersTimeout: limits.headersTimeoutMs,
    requestTimeout: Math.max(MIN_REQUEST_TIMEOUT_MS, limits.headersTimeoutMs),
    connectionsCheckingInterval: Math.min(30_000, Math.max(50, Math.floor(limits.headersTimeoutMs / 4))),
  };
}

async function handle(
  config: HttpServerConfig,
  ready: () => Promise<Readiness>,
  req: http.IncomingMessage,
  res: http.ServerResponse,
): Promise<void> {
  const url = new URL(req.url ?? '/', 'http://localhost');
  if (req.method !== 'GET' && req.method !== 'HEAD') {
    res.setHeader('Allow', 'GET, HEAD');
    return send(res, 405, 'text/plain', 'method not allowed\n');
  }
  switch (url.pathname) {
    case '/healthz':
      return send(res, 200, 'application/json', '{"status":"live"}\n');
    case '/readyz': {
      const r = await ready();
      return r.ok
        ? send(res, 200, 'application/json', '{"status":"ready"}\n')
        : send(res, 503, 'application/json', JSON.stringify({ status: 'not ready', reason: r.reason ?? 'unknown' }) + '\n');
    }
    case '/metrics':
      return send(res, 200, config.metrics.contentType, await config.metrics.metrics());
    default: {
      const route = Object.hasOwn(config.routes ?? {}, url.pathname) ? config.routes![url.pathname] : undefined;
      if (!route) return send(res, 404, 'text/plain', 'not found\n');
      const r = await route(req);
      return send(res, r.status, r.contentType, r.body, r.headers);
    }
  }
}

function send(
  res: http.ServerResponse,
  status: number,
  type: string,
  body: string,
  headers: Readonly<Record<string, string>> = {},
): void {
  if (status === 304) {
    res.writeHead(304, { 'Cache-Control': 'no-store', ...headers });
    res.end();
    return;
  }
  res.writeHead(status, {
    'Content-Type': type,
    'Cache-Control': 'no-store',
    ...headers,
    'Content-Length': Buffer.byteLength(body),
  });
  res.end(res.req.method === 'HEAD' ? undefined : body);
}
