import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { RpcMetrics } from '../common/grpc/metrics-interceptor.js';
import type { WorkloadApiMetrics } from './workloadapi/index.js';

/** The agent's Prometheus metrics, in one registry served at /metrics. */
export interface AgentMetrics {
  readonly registry: Registry;
  /** 1 while the last call or stream message reached the server, 0 after one could not. */
  readonly serverReachable: Gauge;
  readonly ready: Gauge;
  readonly instances: Gauge;
  readonly agentSvidExpiry: Gauge;
  readonly workloadSvids: Counter<'result' | 'reason'>;
  readonly batchCalls: Counter;
  readonly batchItems: Histogram;
  readonly syncMessages: Counter;
  readonly workloadApi: WorkloadApiMetrics;
  /** The agent admin API's calls (tessera.agentadmin.v1), by service, method and code, and their latency. */
  readonly adminApi: RpcMetrics;
}

/** Values read when /metrics is scraped. */
export interface AgentMetricSources {
  ready(): boolean;
  instances(): number;
}

export function createAgentMetrics(sources: AgentMetricSources): AgentMetrics {
  const registry = new Registry();
  // process_* and nodejs_* (CPU, memory, file descriptors, event loop lag, GC, heap), as every Node exporter has.
  collectDefaultMetrics({ register: registry });
  const serverReachable = new Gauge({
    name: 'tessera_agent_server_reachable',
    help: '1 when the last call or sync message reached the server, 0 after a failure to reach it',
    registers: [registry],
  });
  const ready = new Gauge({
    name: 'tessera_agent_ready',
    help: '1 when the agent holds a valid agent SVID, has synchronised and serves the Workload API',
    registers: [registry],
    collect() {
      this.set(sources.ready() ? 1 : 0);
    },
  });
  const instances = new Gauge({
    name: 'tessera_agent_workload_instances',
    help: 'Attested workload process instances holding identities',
    registers: [registry],
    collect() {
      this.set(sources.instances());
    },
  });
  const agentSvidExpiry = new Gauge({
    name: 'tessera_agent_svid_expiry_timestamp_seconds',
    help: 'Unix time at which the current agent SVID expires',
    registers: [registry],
  });
  const workloadSvids = new Counter({
    name: 'tessera_agent_workload_x509_svids_total',
    help: 'Workload X509-SVID signings, by result (ok, failed) and reason (new, rotation)',
    labelNames: ['result', 'reason'] as const,
    registers: [registry],
  });
  const batchCalls = new Counter({
    name: 'tessera_agent_batch_sign_calls_total',
    help: 'BatchSignX509Svid calls made to the server',
    registers: [registry],
  });
  const batchItems = new Histogram({
    name: 'tessera_agent_batch_sign_items',
    help: 'Items per BatchSignX509Svid call (coalescing)',
    buckets: [1, 2, 5, 10, 25, 50, 100, 250, 500],
    registers: [registry],
  });
  const syncMessages = new Counter({
    name: 'tessera_agent_sync_messages_total',
    help: 'Sync messages (full states) received from the server',
    registers: [registry],
  });
  const workloadApi: WorkloadApiMetrics = {
    rpcTotal: new Counter({
      name: 'tessera_agent_workload_api_requests_total',
      help: 'Workload API calls by method and final status code',
      labelNames: ['method', 'code'] as const,
      registers: [registry],
    }),
    rpcDuration: new Histogram({
      name: 'tessera_agent_workload_api_duration_seconds',
      help: 'Workload API unary latency or stream lifetime, by method',
      labelNames: ['method'] as const,
      buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1, 5, 30, 300],
      registers: [registry],
    }),
    connections: new Gauge({
      name: 'tessera_agent_workload_api_connections',
      help: 'Open Workload API connections',
      registers: [registry],
    }),
    connectionsRefused: new Counter({
      name: 'tessera_agent_workload_api_connections_refused_total',
      help: 'Workload API connections closed because their peer credentials could not be read',
      registers: [registry],
    }),
    connectionsClosed: new Counter({
      name: 'tessera_agent_workload_api_connections_closed_total',
      help: 'Workload API connections closed by the agent to protect the socket, by reason (uid_limit, total_limit, no_call_timeout, idle_timeout)',
      labelNames: ['reason'] as const,
      registers: [registry],
    }),
    openStreams: new Gauge({
      name: 'tessera_agent_workload_api_streams',
      help: 'Open Workload API streams by method',
      labelNames: ['method'] as const,
      registers: [registry],
    }),
    pushes: new Counter({
      name: 'tessera_agent_workload_api_pushes_total',
      help: 'Messages pushed down open Workload API streams after a change, by method',
      labelNames: ['method'] as const,
      registers: [registry],
    }),
  };
  const adminApi: RpcMetrics = {
    rpcTotal: new Counter({
      name: 'tessera_agent_admin_api_requests_total',
      help: 'Agent admin API calls by service, method and final status code',
      labelNames: ['service', 'method', 'code'] as const,
      registers: [registry],
    }),
    rpcDuration: new Histogram({
      name: 'tessera_agent_admin_api_duration_seconds',
      help: 'Agent admin API call latency, by service and method',
      labelNames: ['service', 'method'] as const,
      buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1, 5],
      registers: [registry],
    }),
  };
  return {
    adminApi,
    registry,
    serverReachable,
    ready,
    instances,
    agentSvidExpiry,
    workloadSvids,
    batchCalls,
    batchItems,
    syncMessages,
    workloadApi,
  };
}
