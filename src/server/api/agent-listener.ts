import * as net from 'node:net';
import type * as grpc from '@grpc/grpc-js';
import type { Logger } from '../../common/log.js';
import type { CallActivity } from '../../common/net/call-activity.js';
import { guardConnections, type ConnectionClosedCounter, type TcpConnectionCaps } from '../../common/net/connection-guard.js';

/**
 * What unauthenticated TCP clients can hold open on the agent API port. Attest needs no client certificate, so anyone
 * who reaches the port can complete a TLS handshake; the caps bound how many descriptors they take, the timeouts how
 * long they keep them without doing anything.
 */
export interface AgentApiLimits extends TcpConnectionCaps {
  /** A connection that has not completed its TLS handshake and started a call within this time is closed. */
  readonly handshakeTimeoutMs: number;
  /** A connection with no call open for this long is closed (an agent's sync stream keeps its connection busy). */
  readonly idleTimeoutMs: number;
}

export interface ListenAgentApiOptions {
  readonly host: string;
  readonly port: number;
  readonly server: grpc.Server;
  readonly credentials: grpc.ServerCredentials;
  readonly limits: AgentApiLimits;
  /** The call tracker whose interceptor is the server's first. */
  readonly activity: CallActivity;
  readonly log: Logger;
  readonly closed?: ConnectionClosedCounter;
}

export interface AgentApiListener {
  readonly port: number;
  /** Open TCP connections. */
  connectionCount(): number;
  /** Stops accepting (open connections keep working). */
  stopAccepting(): void;
  /** Destroys every connection still open (after the gRPC server has shut down). */
  close(): Promise<void>;
}

/**
 * The agent API's TCP listener, owned here rather than by grpc-js so it can enforce {@link AgentApiLimits}: each
 * accepted connection passes the caps (connection-guard), is tracked for the handshake and idle timeouts
 * (call-activity) and is handed to grpc-js's TLS server through a connection injector. Separate caps per listener
 * keep a flood of this port from starving /readyz, /keys or the admin socket.
 */
export async function listenAgentApi(options: ListenAgentApiOptions): Promise<AgentApiListener> {
  const { limits, log } = options;
  const injector = options.server.createConnectionInjector(options.credentials);
  const sockets = new Set<net.Socket>();
  const netServer = net.createServer({ noDelay: true });
  const guard = guardConnections(netServer, {
    listener: 'agent_api',
    settings: 'agentApi',
    caps: limits,
    log,
    ...(options.closed && { closed: options.closed }),
  });
  options.activity.configure({
    firstCallTimeoutMs: limits.handshakeTimeoutMs,
    idleTimeoutMs: limits.idleTimeoutMs,
    onTimeout: (socket, phase) =>
      phase === 'first_call'
        ? guard.report(
            'handshake_timeout',
            { remoteAddress: socket.remoteAddress, handshakeTimeoutMs: limits.handshakeTimeoutMs },
            'Closed an agent API connection that did not complete its TLS handshake and start a call in time (agentApi.handshakeTimeoutMs)',
          )
        : guard.report(
            'idle_timeout',
            { remoteAddress: socket.remoteAddress, idleTimeoutMs: limits.idleTimeoutMs },
            'Closed an agent API connection with no call open for agentApi.idleTimeoutMs',
          ),
  });
  netServer.on('connection', (socket) => {
    if (socket.destroyed) return; // refused by the guard
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
    socket.on('error', (err) => log.debug({ err, remoteAddress: socket.remoteAddress }, 'Agent API connection error'));
    options.activity.track(socket);
    injector.injectConnection(socket);
  });
  netServer.on('error', (err) => log.error({ err }, 'Agent API listener error'));

  await new Promise<void>((resolve, reject) => {
    netServer.once('error', reject);
    netServer.listen({ host: options.host, port: options.port }, () => {
      netServer.off('error', reject);
      resolve();
    });
  });
  const port = (netServer.address() as net.AddressInfo).port;
  log.info({ host: options.host, port, ...limits }, 'Agent API listening');

  let serverClosed: Promise<void> | undefined;
  const stopAccepting = () => {
    serverClosed ??= new Promise<void>((resolve) => netServer.close(() => resolve()));
  };
  return {
    port,
    connectionCount: () => guard.count(),
    stopAccepting,
    async close() {
      stopAccepting();
      for (const s of [...sockets]) s.destroy();
      injector.destroy();
      await serverClosed;
    },
  };
}
