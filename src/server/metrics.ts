import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';

/** The server's Prometheus metrics, in one registry served at /metrics. */
export interface ServerMetrics {
  readonly registry: Registry;
  readonly rpcTotal: Counter<'service' | 'method' | 'code'>;
  readonly rpcDuration: Histogram<'service' | 'method'>;
  readonly svidsSigned: Counter<'kind'>;
  /** Connections a TCP listener closed to protect itself, by listener and reason (src/common/net/connection-guard). */
  readonly connectionsClosed: Counter<'listener' | 'reason'>;
  /** Agent API calls refused by the per-caller rate limits, by RPC. */
  readonly rateLimited: Counter<'rpc'>;
  /** Federated bundle fetches, by trust domain and result (success, failure). */
  readonly federationRefreshes: Counter<'trust_domain' | 'result'>;
}

export interface GaugeSources {
  countEntries(): Promise<number>;
  countAgents(): Promise<number>;
  caNotAfter(): Date;
  /** notAfter of the active JWT signing key. */
  jwtKeyNotAfter(): Date | undefined;
  /** Unix ms of each federated trust domain's last successful bundle fetch (none yet: left out). */
  federationLastSuccess(): ReadonlyMap<string, number>;
  now(): Date;
}

export function createServerMetrics(sources: GaugeSources): ServerMetrics {
  const registry = new Registry();
  // process_* and nodejs_* (CPU, memory, file descriptors, event loop lag, GC, heap), as every Node exporter has.
  collectDefaultMetrics({ register: registry });
  const rpcTotal = new Counter({
    name: 'tessera_rpc_requests_total',
    help: 'gRPC calls handled, by service, method and final status code',
    labelNames: ['service', 'method', 'code'] as const,
    registers: [registry],
  });
  const rpcDuration = new Histogram({
    name: 'tessera_rpc_duration_seconds',
    help: 'gRPC call latency (unary) or stream lifetime, by service and method',
    labelNames: ['service', 'method'] as const,
    buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1, 5, 30, 300],
    registers: [registry],
  });
  const svidsSigned = new Counter({
    name: 'tessera_svids_signed_total',
    help: 'SVIDs signed, by kind (x509, jwt, agent)',
    labelNames: ['kind'] as const,
    registers: [registry],
  });
  const connectionsClosed = new Counter({
    name: 'tessera_server_connections_closed_total',
    help: 'Connections closed by the server to protect a listener (agent_api, http, bundle_endpoint), by reason (address_limit, total_limit, handshake_timeout, idle_timeout)',
    labelNames: ['listener', 'reason'] as const,
    registers: [registry],
  });
  const rateLimited = new Counter({
    name: 'tessera_agent_api_rate_limited_total',
    help: 'Agent API calls refused with RESOURCE_EXHAUSTED by the per-caller rate limits, by RPC',
    labelNames: ['rpc'] as const,
    registers: [registry],
  });
  const federationRefreshes = new Counter({
    name: 'tessera_federation_refreshes_total',
    help: 'Federated bundle fetches, by trust domain and result (success, failure)',
    labelNames: ['trust_domain', 'result'] as const,
    registers: [registry],
  });
  new Gauge({
    name: 'tessera_federation_bundle_age_seconds',
    help: 'Seconds since the last successful fetch of each federated trust domain\'s bundle',
    labelNames: ['trust_domain'] as const,
    registers: [registry],
    collect() {
      this.reset();
      const nowMs = sources.now().getTime();
      for (const [trustDomain, atMs] of sources.federationLastSuccess()) {
        this.set({ trust_domain: trustDomain }, Math.max(0, (nowMs - atMs) / 1000));
      }
    },
  });
  new Gauge({
    name: 'tessera_jwt_key_expiry_timestamp_seconds',
    help: 'Unix time at which the active JWT signing key expires',
    registers: [registry],
    collect() {
      const notAfter = sources.jwtKeyNotAfter();
      if (notAfter) this.set(Math.floor(notAfter.getTime() / 1000));
    },
  });
  new Gauge({
    name: 'tessera_entries',
    help: 'Registration entries in the datastore',
    registers: [registry],
    async collect() {
      this.set(await sources.countEntries());
    },
  });
  new Gauge({
    name: 'tessera_agents',
    help: 'Attested agent records (banned included)',
    registers: [registry],
    async collect() {
      this.set(await sources.countAgents());
    },
  });
  new Gauge({
    name: 'tessera_ca_expiry_timestamp_seconds',
    help: 'Unix time at which the active X.509 CA certificate expires',
    registers: [registry],
    collect() {
      this.set(Math.floor(sources.caNotAfter().getTime() / 1000));
    },
  });
  return { registry, rpcTotal, rpcDuration, svidsSigned, connectionsClosed, rateLimited, federationRefreshes };
}
