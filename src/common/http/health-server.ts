import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Logger } from '../log.js';
import type { Registry } from 'prom-client';

/**
 * The plain-HTTP listener of the server and the agent: /healthz (live), /readyz, /metrics (Prometheus); GET and HEAD
 * only. What it consumes:
 */
export interface HttpServerConfig {
  readonly host: string;
  readonly port: number;
  readonly log: Logger;
  /** Readiness: the server's (datastore + test signature) or the agent's (SVID, sync, Workload API). */
  readonly ready: () => Promise<{ ok: boolean; reason?: string }> | { ok: boolean; reason?: string };
  readonly metrics: Registry;
}

export interface RunningHttpServer {
  readonly address: AddressInfo;
  close(): Promise<void>;
}

export async function startHttpServer(config: HttpServerConfig): Promise<RunningHttpServer> {
  const server = http.createServer((req, res) => {
    handle(config, req, res).catch((err) => {
      config.log.error({ err, path: req.url }, 'HTTP handler failed');
      if (!res.headersSent) send(res, 500, 'text/plain', 'internal error\n');
    });
  });
  server.keepAliveTimeout = 5_000;
  server.headersTimeout = 10_000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen({ host: config.host, port: config.port }, () => {
      server.off('error', reject);
      resolve();
    });
  });
  return {
    address: server.address() as AddressInfo,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

async function handle(config: HttpServerConfig, req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
  const url = new URL(req.url ?? '/', 'http://localhost');
  if (req.method !== 'GET' && req.method !== 'HEAD') {
    res.setHeader('Allow', 'GET, HEAD');
    return send(res, 405, 'text/plain', 'method not allowed\n');
  }
  switch (url.pathname) {
    case '/healthz':
      return send(res, 200, 'application/json', '{"status":"live"}\n');
    case '/readyz': {
      const r = await config.ready();
      return r.ok
        ? send(res, 200, 'application/json', '{"status":"ready"}\n')
        : send(res, 503, 'application/json', JSON.stringify({ status: 'not ready', reason: r.reason ?? 'unknown' }) + '\n');
    }
    case '/metrics':
      return send(res, 200, config.metrics.contentType, await config.metrics.metrics());
    default:
      return send(res, 404, 'text/plain', 'not found\n');
  }
}

function send(res: http.ServerResponse, status: number, type: string, body: string): void {
  res.writeHead(status, { 'Content-Type': type, 'Cache-Control': 'no-store', 'Content-Length': Buffer.byteLength(body) });
  res.end(res.req.method === 'HEAD' ? undefined : body);
}
