import { randomUUID } from 'node:crypto';
import { EventEmitter } from 'node:events';
import { chmod, mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import * as path from 'node:path';
import * as grpc from '@grpc/grpc-js';
import type { Logger } from 'pino';
import { systemClock, type Clock } from '../common/clock.js';
import { registerAdminServices, listenAdminSocket } from './api/admin/index.js';
import { registerAgentService } from './api/agent/index.js';
import { createStreamDrain } from './api/drain.js';
import { metricsInterceptor } from '../common/grpc/metrics-interceptor.js';
import { createAgentApiCredentials } from './api/tls.js';
import { listenAgentApi } from './api/agent-listener.js';
import { CallActivity } from '../common/net/call-activity.js';
import { logOpenFileLimit } from '../common/fd-limit.js';
import { openCertificateAuthority } from './ca/index.js';
import { checkHostPort } from '../common/config/index.js';
import type { ServerConfig } from './config.js';
import { DATASTORE_FILE, inspectDataDir } from './data-dir.js';
import { openSqliteDatastore, type AgentStore } from './datastore/index.js';
import { EntryIndex } from './entries/index.js';
import { FederationRefresher } from './federation/index.js';
import { startHttpServer } from '../common/http/health-server.js';
import { startBundleEndpoint } from './http/bundle-endpoint.js';
import { oidcRoutes } from './http/oidc-discovery.js';
import { readTlsFiles } from './http/tls-files.js';
import { createServerMetrics } from './metrics.js';
import { createNodeAttestors } from './nodeattestation/index.js';
import { readPackageVersion } from '../common/version.js';
import { serverReadiness } from './readiness.js';

export interface RunningServer {
  /** `host:port` the agent API is bound to (the configured port, or the one picked for port 0). */
  readonly agentApiAddress: string;
  readonly httpAddress: string;
  readonly adminSocketPath: string;
  /** `host:port` of the SPIFFE bundle endpoint (HTTPS), when configured. */
  readonly bundleEndpointAddress?: string;
  /** Stops accepting, ends sync streams, finishes in-flight calls, closes the datastore. */
  stop(): Promise<void>;
  /**
   * SIGHUP: re-reads http.tls's certificate and key (new connections get them) and returns `["http.tls"]`; returns
   * nothing when TLS was switched on or off, which needs a restart. Throws ConfigError for files TLS cannot use (the
   * old ones stay in use).
   */
  reload(config: ServerConfig): Promise<string[]>;
}

const SHUTDOWN_GRACE_MS = 10_000;

/** Composes the server from its parts (datastore, CA, entry index, agent API, admin API, HTTP) and starts it. */
export async function startServer(
  config: ServerConfig,
  options: { log: Logger; clock?: Clock },
): Promise<RunningServer> {
  const log = options.log;
  const clock = options.clock ?? systemClock;
  await mkdir(config.dataDir, { recursive: true, mode: 0o700 });
  await chmod(config.dataDir, 0o700);
  const serverId = await loadServerId(config.dataDir);

  // A new datastore only in an empty data dir; anything else must be our datastore (never overwritten).
  const dataDirState = await inspectDataDir(config.dataDir);
  const datastorePath = path.join(config.dataDir, DATASTORE_FILE);
  const datastore = openSqliteDatastore({ path: datastorePath, clock, log, create: dataDirState === 'fresh' });
  if (dataDirState === 'fresh') {
    log.info({ dataDir: config.dataDir, datastore: datastorePath }, 'Initialised an empty data dir: new datastore; the CA creates its first keys next');
  }
  const cleanups: Array<() => Promise<void> | void> = [() => datastore.close()];
  const cleanup = async () => {
    for (const fn of cleanups.reverse()) await Promise.resolve(fn()).catch((err) => log.warn({ err }, 'Cleanup step failed'));
  };
  try {
    const ca = await openCertificateAuthority({
      trustDomain: config.trustDomainId,
      dataDir: config.dataDir,
      serverId,
      keys: datastore.keys,
      bundles: datastore.bundles,
      clock,
      log,
      ca: config.ca,
      jwt: config.jwt,
      upstreamAuthority: config.upstreamAuthority,
    });
    ca.start();
    cleanups.push(() => ca.stop());

    const entryIndex = await EntryIndex.create({ entries: datastore.entries, serverId: serverSpiffeId(config), clock, log });
    cleanups.push(() => entryIndex.close());

    const metrics = createServerMetrics({
      countEntries: () => datastore.entries.count(),
      countAgents: async () => (await datastore.agents.list()).length,
      caNotAfter: () => ca.activeCaNotAfter(),
      jwtKeyNotAfter: () => ca.listAuthorities().find((a) => a.kind === 'jwt' && a.state === 'active')?.notAfter,
      federationLastSuccess: () => federation.lastSuccesses(),
      now: () => clock.now(),
    });

    // Federated trust domains' bundles: the stored ones are served at once, then each peer is fetched.
    const federation = new FederationRefresher({
      trustDomain: config.trustDomainId,
      relationships: datastore.federation,
      bundles: datastore.bundles,
      ownBundle: ca,
      minRefreshSeconds: config.federation.minRefreshSeconds,
      clock,
      log: log.child({ component: 'federation' }),
      refreshes: metrics.federationRefreshes,
    });
    await federation.start();
    cleanups.push(() => federation.stop());

    const agentEvents = agentChangeEvents(datastore.agents);
    const drain = createStreamDrain();

    // Agent API: TLS with the server SVID; client certificates requested, verified per call by the handlers.
    // The call tracker goes first: every call is activity on its connection (agentApi handshake and idle timeouts).
    const agentActivity = new CallActivity();
    const agentServer = new grpc.Server({
      interceptors: [agentActivity.interceptor(), metricsInterceptor(metrics), drain.interceptor],
    });
    registerAgentService(agentServer, {
      trustDomain: config.trustDomainId,
      policy: config.policy,
      nodeAttestors: createNodeAttestors({
        trustDomain: config.trustDomainId,
        clock,
        joinTokens: datastore.joinTokens,
        config: config.nodeAttestors,
      }),
      agents: datastore.agents,
      audit: datastore.audit,
      instanceRoles: datastore.instanceRoles,
      entries: entryIndex,
      x509Issuer: ca,
      jwtIssuer: ca,
      bundle: ca,
      federatedBundles: federation,
      serverIdentity: ca,
      agentEvents: agentEvents.events,
      metrics,
      clock,
      log: log.child({ component: 'agent-api' }),
    });
    const { host, port } = checkHostPort(config.agentApi.listen, 'agentApi.listen');
    const { listen: _listen, ...agentApiLimits } = config.agentApi;
    const agentListener = await listenAgentApi({
      host,
      port,
      server: agentServer,
      credentials: createAgentApiCredentials(ca, ca),
      limits: agentApiLimits,
      activity: agentActivity,
      log: log.child({ component: 'agent-api' }),
      closed: metrics.connectionsClosed,
    }).catch((err: unknown) => {
      throw new Error(`cannot listen on ${config.agentApi.listen}: ${(err as Error).message}`, { cause: err });
    });
    cleanups.push(async () => {
      agentListener.stopAccepting();
      await shutdownGrpc(agentServer, drain.endStreams);
      await agentListener.close();
    });
    logOpenFileLimit(log, config.agentApi.maxConnections + config.http.maxConnections, 'agentApi.maxConnections + http.maxConnections');
    const agentApiAddress = `${host.includes(':') ? `[${host}]` : host}:${agentListener.port}`;

    // Ready means able to do the job; /readyz (cached, public) and the admin HealthService (with the reason) share it.
    const readiness = serverReadiness({ datastore, ca, dataDir: config.dataDir });

    // Admin API: the Unix socket's mode (0600) is the access control.
    const adminServer = new grpc.Server({ interceptors: [metricsInterceptor(metrics)] });
    const version = readPackageVersion();
    registerAdminServices(adminServer, {
      trustDomain: config.trustDomainId,
      policy: config.policy,
      entries: datastore.entries,
      agents: agentEvents.store,
      joinTokens: datastore.joinTokens,
      audit: datastore.audit,
      bundle: ca,
      bundleStore: datastore.bundles,
      federation: datastore.federation,
      federationControl: federation,
      ca,
      x509Issuer: ca,
      jwtIssuer: ca,
      authority: ca,
      ping: () => datastore.ping(),
      ready: readiness,
      version,
      clock,
      log: log.child({ component: 'admin-api' }),
    });
    const admin = await listenAdminSocket(adminServer, config.adminSocketPath);
    cleanups.push(async () => {
      await shutdownGrpc(adminServer, () => undefined);
      await rm(admin.path, { force: true });
    });

    const httpListen = checkHostPort(config.http.listen, 'http.listen');
    const httpServer = await startHttpServer({
      host: httpListen.host,
      port: httpListen.port,
      log: log.child({ component: 'http' }),
      metrics: metrics.registry,
      routes: oidcRoutes({ bundle: ca, issuer: config.jwt.issuer, jwtKeyType: config.jwt.keyType }),
      ...(config.http.tls ? { tls: readTlsFiles(config.http.tls, 'http.tls') } : {}),
      limits: config.http,
      connectionsClosed: metrics.connectionsClosed,
      ready: readiness,
      clock,
    });
    cleanups.push(() => httpServer.close());
    const httpAddress = `${httpServer.address.address.includes(':') ? `[${httpServer.address.address}]` : httpServer.address.address}:${httpServer.address.port}`;

    // SPIFFE bundle endpoint (federation): HTTPS with the server SVID (https_spiffe) or a web certificate (https_web).
    let bundleEndpointAddress: string | undefined;
    if (config.bundleEndpoint) {
      const be = config.bundleEndpoint;
      const beListen = checkHostPort(be.listen, 'bundleEndpoint.listen');
      const endpoint = await startBundleEndpoint({
        host: beListen.host,
        port: beListen.port,
        path: be.path,
        bundle: ca,
        tls:
          be.profile === 'https_web'
            ? { profile: 'https_web', certFile: be.certFile!, keyFile: be.keyFile! }
            : { profile: 'https_spiffe', identity: ca },
        log: log.child({ component: 'bundle-endpoint' }),
        limits: be,
        connectionsClosed: metrics.connectionsClosed,
      });
      cleanups.push(() => endpoint.close());
      const a = endpoint.address.address;
      bundleEndpointAddress = `${a.includes(':') ? `[${a}]` : a}:${endpoint.address.port}`;
    }

    log.info(
      {
        trustDomain: config.trustDomain,
        agentApi: agentApiAddress,
        http: httpAddress,
        adminSocket: admin.path,
        ...(bundleEndpointAddress ? { bundleEndpoint: bundleEndpointAddress } : {}),
        version,
      },
      'Server ready',
    );
    let stopped: Promise<void> | undefined;
    return {
      agentApiAddress,
      httpAddress,
      adminSocketPath: admin.path,
      ...(bundleEndpointAddress ? { bundleEndpointAddress } : {}),
      stop: () => (stopped ??= cleanup()),
      async reload(next) {
        if (!config.http.tls || !next.http.tls || !httpServer.setTls) return [];
        httpServer.setTls(readTlsFiles(next.http.tls, 'http.tls'));
        log.info({ certFile: next.http.tls.certFile }, 'Reloaded http.tls certificate and key');
        return ['http.tls'];
      },
    };
  } catch (err) {
    await cleanup();
    throw err;
  }
}

function serverSpiffeId(config: ServerConfig): string {
  return `spiffe://${config.trustDomain}/tessera/server`;
}

/** A stable identifier of this server in a shared datastore, kept in `<dataDir>/server-id`. */
async function loadServerId(dataDir: string): Promise<string> {
  const file = path.join(dataDir, 'server-id');
  try {
    const id = (await readFile(file, 'utf8')).trim();
    if (/^[0-9a-f-]{36}$/.test(id)) return id;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
  const id = randomUUID();
  await writeFile(file, id + '\n', { mode: 0o600 });
  return id;
}

/** Stops accepting, ends long-lived streams, waits for in-flight calls (bounded), then forces the rest. */
function shutdownGrpc(server: grpc.Server, endStreams: (details: string) => void): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(() => {
      server.forceShutdown();
      resolve();
    }, SHUTDOWN_GRACE_MS);
    server.tryShutdown(() => {
      clearTimeout(timer);
      resolve();
    });
    endStreams('server is shutting down');
  });
}

/**
 * Ban and evict happen through the admin API; the agent API's open sync streams learn of them at once through these
 * events (each call checks the agent record anyway).
 */
function agentChangeEvents(agents: AgentStore): {
  store: AgentStore;
  events: { onAgentChange(listener: (spiffeId: string) => void): () => void };
} {
  const emitter = new EventEmitter();
  emitter.setMaxListeners(0);
  const store: AgentStore = {
    upsertAttested: (attestation) => agents.upsertAttested(attestation),
    get: (spiffeId) => agents.get(spiffeId),
    list: () => agents.list(),
    updateSvid: (spiffeId, svid) => agents.updateSvid(spiffeId, svid),
    touch: (spiffeId, atSeconds) => agents.touch(spiffeId, atSeconds),
    async setBanned(spiffeId, banned) {
      const record = await agents.setBanned(spiffeId, banned);
      emitter.emit('change', spiffeId);
      return record;
    },
    async delete(spiffeId) {
      await agents.delete(spiffeId);
      emitter.emit('change', spiffeId);
    },
  };
  return {
    store,
    events: {
      onAgentChange(listener) {
        emitter.on('change', listener);
        return () => emitter.off('change', listener);
      },
    },
  };
}
