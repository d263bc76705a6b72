import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Logger } from '../common/log.js';
import type { Registry } from 'prom-client';

export interface AgentHttpConfig {
  readonly host: string;
  readonly port: number;
  readonly log: Logger;
  /** Ready = agent SVID valid and accepted, first sync applied, Workload API serving. */
  readonly ready: () => { ok: boolean; reason?: string };
  readonly metrics: Registry;
}

export interface RunningAgentHttp {
  readonly address: AddressInfo;
  close(): Promise<void>;
}

/** Plain HTTP: /healthz (live), /readyz, /metrics (Prometheus). GET and HEAD only. */
export async function startAgentHttp(config: AgentHttpConfig): Promise<RunningAgentHttp> {
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

async function handle(config: AgentHttpConfig, req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
  const url = new URL(req.url ?? '/', 'http://localhost');
  if (req.method !== 'GET' && req.method !== 'HEAD') {
    res.setHeader('Allow', 'GET, HEAD');
    return send(res, 405, 'text/plain', 'method not allowed\n');
  }
  switch (url.pathname) {
    case '/healthz':
      return send(res, 200, 'application/json', '{"status":"live"}\n');
    case '/readyz': {
      const r = config.ready();
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
