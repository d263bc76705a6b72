import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { metricsInterceptor } from '../common/grpc/metrics-interceptor.js';
import { AGENT_ADMIN_SOCKET_NAME, startAgentAdminApi } from './admin.js';
import { systemClock, type Clock } from '../common/clock.js';
import { TesseraError, unavailable } from '../common/errors.js';
import type { Logger } from '../common/log.js';
import type { BackoffOptions } from '../common/backoff.js';
import { BatchSigner } from './client/batch-signer.js';
import type { BatchSignX509SvidResponse, MintJwtSvidResponse, X509SvidParams } from './client/messages.js';
import { ServerClient } from './client/server-client.js';
import { SyncConsumer } from './client/sync.js';
import { checkHostPort } from '../common/config/index.js';
import type { AgentConfig } from './config.js';
import { startHttpServer } from '../common/http/health-server.js';
import { logOpenFileLimit } from '../common/fd-limit.js';
import { AgentIdentity } from './identity/agent-identity.js';
import { createNodeAttestor } from './identity/node-attestor.js';
import { AgentStateStore } from './identity/store.js';
import { WorkloadManager } from './manager/manager.js';
import { createAgentMetrics, type AgentMetrics } from './metrics.js';
import type { CallerCredentialsReader, WorkloadAttestor } from './types.js';
import { startWorkloadApi, type WorkloadApi } from './workloadapi/index.js';
import { createBinaryHasher, createCallerCredentialsReader, createWorkloadAttestor } from './workloadattestor/index.js';
import { createKernelLineage, type LineageSource } from './workloadattestor/lineage.js';

/** Knobs for tests and benchmarks; production uses the defaults. */
export interface AgentTuning {
  /** Agent SVID renewal point, as a fraction of its life. Default 0.5. */
  readonly agentRenewFraction?: number;
  /** Workload X509-SVID renewal point, as a fraction of its life. Default 0.5. */
  readonly rotationFraction?: number;
  /** Backoff of agent SVID and workload signing retries. Default 1 s doubling to 30 s. */
  readonly retry?: BackoffOptions;
  /** Backoff of sync reconnects. Default 500 ms doubling to 30 s. */
  readonly syncBackoff?: BackoffOptions;
  /** Coalescing window of sign requests. Default 2 ms. */
  readonly batchDelayMs?: number;
  /** Deadline of unary calls to the server. Default 10 s. */
  readonly callTimeoutMs?: number;
  /** Longest grpc-js reconnect backoff towards the server. Default 5 s. */
  readonly reconnectMaxMs?: number;
}

export interface StartAgentOptions {
  readonly log: Logger;
  readonly clock?: Clock;
  /** Workload attestation seam; default the real one (src/agent/workloadattestor). */
  readonly attestor?: WorkloadAttestor;
  /** Peer-credentials seam; default the real one (SO_PEERCRED / SO_PEERPIDFD). */
  readonly credentialsReader?: CallerCredentialsReader;
  /** Fork lineage seam; default the kernel's process-events connector (unknown lineage when not root). */
  readonly lineage?: LineageSource;
  readonly tuning?: AgentTuning;
}

export interface RunningAgent {
  readonly socketPath: string;
  /** `host:port` of /healthz, /readyz, /metrics. */
  readonly httpAddress: string;
  readonly provider: WorkloadManager;
  readonly identity: AgentIdentity;
  readonly metrics: AgentMetrics;
  /** Resolves once the agent is attested, synchronised and serving the Workload API ("Agent ready"). */
  ready(): Promise<void>;
  isReady(): { ok: boolean; reason?: string };
  /** Stops the Workload API (streams end), the sync stream, the server client and HTTP. Idempotent. */
  stop(): Promise<void>;
}

/**
 * Composes the agent from its parts and starts it: HTTP and the Workload API at once (the API answers UNAVAILABLE
 * until the agent has synchronised), then the agent SVID (stored, or attested in the background with retries), the
 * sync stream, and the per-instance workload identities. Throws only for what a restart would not fix (a listener that
 * cannot bind, an unreadable trust bundle).
 */
export async function startAgent(config: AgentConfig, options: StartAgentOptions): Promise<RunningAgent> {
  const log = options.log;
  const clock = options.clock ?? systemClock;
  const tuning = options.tuning ?? {};
  await mkdir(config.dataDir, { recursive: true, mode: 0o755 });
  const metrics = createAgentMetrics({ ready: () => isReady().ok, instances: () => manager.instanceCount });
  metrics.serverReachable.set(0);

  const client = new ServerClient({
    address: config.serverAddress,
    trustDomain: config.trustDomain,
    log: log.child({ component: 'server-client' }),
    onReachability: (reachable) => metrics.serverReachable.set(reachable ? 1 : 0),
    ...(tuning.callTimeoutMs !== undefined && { callTimeoutMs: tuning.callTimeoutMs }),
    ...(tuning.reconnectMaxMs !== undefined && { reconnectMaxMs: tuning.reconnectMaxMs }),
  });
  // Set once the identity exists; a call-level refusal is the agent's problem (evicted, banned), never the workload's.
  let refused: (err: TesseraError) => void = () => {};
  const agentRefusal = (err: unknown): unknown => {
    if (!(err instanceof TesseraError) || (err.code !== 'PERMISSION_DENIED' && err.code !== 'UNAUTHENTICATED')) return err;
    refused(err);
    return unavailable(`the server refused this agent: ${err.message}`, { cause: err });
  };
  const signer = new BatchSigner({
    // Per-item refusals come back in the items; a failure of the whole call is about the agent.
    send: (params: X509SvidParams[]) =>
      client.unary<BatchSignX509SvidResponse>('BatchSignX509Svid', { params }).catch((err: unknown) => {
        throw agentRefusal(err);
      }),
    ...(tuning.batchDelayMs !== undefined && { delayMs: tuning.batchDelayMs }),
    onBatch: (items) => {
      metrics.batchCalls.inc();
      metrics.batchItems.observe(items);
    },
  });
  const lineage = options.lineage ?? createKernelLineage({ log: log.child({ component: 'lineage' }) });
  const manager = new WorkloadManager({
    trustDomain: config.trustDomain,
    attestor:
      options.attestor ?? createWorkloadAttestor({ log, hasher: createBinaryHasher({ maxBytes: config.sha256MaxBytes }) }),
    lineage: (process) => lineage.lineage(process),
    signer,
    minter: {
      async mint({ entryId, audience, instanceId, supervisorInstanceId }) {
        const res = await client
          .unary<MintJwtSvidResponse>('MintJwtSvid', {
            entry_id: entryId,
            audience: [...audience],
            instance_id: instanceId,
            ...(supervisorInstanceId !== undefined && { supervisor_instance_id: supervisorInstanceId }),
          })
          .catch((err: unknown) => {
            // The server's caller checks name the agent ("agent is not attested", "agent is banned", "agent SVID …");
            // a refusal of the entry itself stays PERMISSION_DENIED for the workload.
            throw err instanceof TesseraError && (err.code === 'UNAUTHENTICATED' || /\bagent (is|SVID)\b/.test(err.message))
              ? agentRefusal(err)
              : err;
          });
        return { token: res.token, spiffeId: res.spiffe_id, expiresAt: new Date(Number(res.expires_at) * 1000) };
      },
    },
    log: log.child({ component: 'workload-manager' }),
    clock,
    onRoleConflict: (event) => {
      client
        .unary('ReportWorkloadEvent', {
          kind: 'WORKLOAD_EVENT_KIND_ROLE_CONFLICT',
          entry_ids: [...event.entryIds],
          instance_id: event.instanceId,
          pid: event.pid,
          message: event.message,
        })
        .catch((err: unknown) => log.warn({ err, instanceId: event.instanceId }, 'Could not report a workload role conflict to the server'));
    },
    ...(tuning.rotationFraction !== undefined && { rotationFraction: tuning.rotationFraction }),
    ...(tuning.retry && { retry: tuning.retry }),
    onSigned: (signed, failed, rotation) => {
      const reason = rotation ? 'rotation' : 'new';
      if (signed > 0) metrics.workloadSvids.inc({ result: 'ok', reason }, signed);
      if (failed > 0) metrics.workloadSvids.inc({ result: 'failed', reason }, failed);
    },
  });

  let apiServing = false;
  let announced = false;
  let resolveReady!: () => void;
  const readyPromise = new Promise<void>((resolve) => (resolveReady = resolve));
  let httpAddress = '';

  const identity = new AgentIdentity({
    trustDomain: config.trustDomain,
    client,
    store: new AgentStateStore(config.dataDir),
    attestor: createNodeAttestor(config.trustDomain, config.nodeAttestor),
    bootstrap: config.bootstrap,
    clock,
    log: log.child({ component: 'agent-identity' }),
    ...(tuning.agentRenewFraction !== undefined && { renewFraction: tuning.agentRenewFraction }),
    ...(tuning.retry && { backoff: tuning.retry }),
    onSvid: (svid) => {
      metrics.agentSvidExpiry.set(Math.floor(svid.notAfter.getTime() / 1000));
      checkReady();
    },
  });

  refused = (err) => identity.refused(err);

  /**
   * Ready means a process that starts now gets its SVIDs. Every process instance has its own key, signed by the server
   * when it first calls, so that needs: the Workload API serving, entries synchronised, an agent SVID that is
   * unexpired and not refused, and the server reachable (the last call or sync stream got through). While the server
   * is unreachable, processes that already hold SVIDs keep being served from the cache, but the agent is not ready.
   */
  const isReady = (): { ok: boolean; reason?: string } => {
    const reason = identity.notReadyReason();
    if (reason) return { ok: false, reason };
    if (!manager.synced) return { ok: false, reason: 'not synchronised with the server yet' };
    if (!apiServing) return { ok: false, reason: 'the Workload API is not serving' };
    if (client.reachable === false) {
      return { ok: false, reason: 'cannot reach the server: a new process cannot get an SVID (cached SVIDs are still served)' };
    }
    return { ok: true };
  };
  function checkReady(): void {
    if (!isReady().ok || announced) return;
    announced = true;
    log.info({ spiffeId: identity.svid?.spiffeId, socketPath: config.socketPath, http: httpAddress }, 'Agent ready');
    resolveReady();
  }

  const sync = new SyncConsumer({
    client,
    trustDomain: config.trustDomain,
    log: log.child({ component: 'sync' }),
    ...(tuning.syncBackoff && { backoff: tuning.syncBackoff }),
    onState: (state) => {
      metrics.syncMessages.inc();
      identity.accepted();
      manager.applySync(state);
      identity
        .updateRoots(state.bundle.x509Bundle.x509Authorities)
        .catch((err: unknown) => log.error({ err }, 'Could not store the trust bundle'));
      checkReady();
    },
    onRefused: (err) => {
      identity.refused(err);
      checkReady();
    },
  });

  const cleanups: (() => Promise<void> | void)[] = [];
  const cleanup = async () => {
    for (const fn of cleanups.reverse()) {
      await Promise.resolve()
        .then(fn)
        .catch((err: unknown) => log.warn({ err }, 'Cleanup step failed'));
    }
  };
  try {
    const listen = checkHostPort(config.httpListen, 'http.listen');
    const http = await startHttpServer({
      host: listen.host,
      port: listen.port,
      log: log.child({ component: 'http' }),
      metrics: metrics.registry,
      ready: isReady,
      clock,
    });
    cleanups.push(() => http.close());
    const a = http.address;
    httpAddress = `${a.address.includes(':') ? `[${a.address}]` : a.address}:${a.port}`;

    const workloadApi: WorkloadApi = await startWorkloadApi({
      socketPath: config.socketPath,
      provider: manager,
      credentials: options.credentialsReader ?? createCallerCredentialsReader(),
      log: log.child({ component: 'workload-api' }),
      metrics: metrics.workloadApi,
      clock,
      limits: config.workloadApiLimits,
    });
    logOpenFileLimit(log, config.workloadApiLimits.maxConnections, 'workloadApi.maxConnections');
    apiServing = true;
    // The local admin API (tessera instance list) is an aid, not a duty: the agent serves workloads without it.
    const adminSocket = join(config.dataDir, AGENT_ADMIN_SOCKET_NAME);
    await startAgentAdminApi({
      socketPath: adminSocket,
      instances: () => manager.instances(),
      explain: (pid) => manager.explain(pid),
      log: log.child({ component: 'agent-admin' }),
      interceptors: [metricsInterceptor(metrics.adminApi)],
    }).then(
      (adminApi) => cleanups.push(() => adminApi.stop()),
      (err: unknown) => log.error({ err, socketPath: adminSocket }, 'Cannot serve the agent admin API; continuing without it'),
    );
    cleanups.push(() => client.close());
    cleanups.push(() => identity.stop());
    cleanups.push(() => sync.stop());
    cleanups.push(() => manager.close());
    cleanups.push(() => lineage.close());
    cleanups.push(async () => {
      apiServing = false;
      await workloadApi.stop();
    });

    await identity.start();
    sync.start();
    checkReady();
  } catch (err) {
    await cleanup();
    throw err;
  }

  let stopped: Promise<void> | undefined;
  return {
    socketPath: config.socketPath,
    httpAddress,
    provider: manager,
    identity,
    metrics,
    ready: () => readyPromise,
    isReady,
    stop: () => (stopped ??= cleanup()),
  };
}
