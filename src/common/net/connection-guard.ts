import type * as net from 'node:net';
import type { Logger } from '../log.js';
import { ConnectionLimits, type ConnectionRefusal } from './connection-limits.js';
import { RateLimitedWarning } from './rate-limited-warning.js';

/**
 * Caps of one TCP listener (the server's agent API, its HTTP listener, its bundle endpoint; the agent's HTTP
 * listener): open connections in total and per remote address. `settings` names the config keys in the warning.
 */
export interface TcpConnectionCaps {
  readonly maxConnections: number;
  readonly maxConnectionsPerAddress: number;
}

/** Why a TCP listener closed a connection (label `reason` of the connections-closed metric). */
export type TcpConnectionCloseReason = 'address_limit' | 'total_limit' | 'handshake_timeout' | 'idle_timeout';

/** The metric a guarded listener reports to, as a structural shape prom-client's Counter satisfies. */
export interface ConnectionClosedCounter {
  inc(labels: { listener: string; reason: string }): void;
}

export interface ConnectionGuardOptions {
  /** Label of this listener in metrics and logs (`agent_api`, `http`, `bundle_endpoint`). */
  readonly listener: string;
  /** Dotted config path of the listener's settings (`agentApi`), named in the warnings. */
  readonly settings: string;
  readonly caps: TcpConnectionCaps;
  readonly log: Logger;
  readonly closed?: ConnectionClosedCounter;
}

export interface ConnectionGuard {
  /** Open connections (all, or of one remote address). */
  count(address?: string): number;
  /** Counts and logs (rate-limited, one line per reason) a connection the listener closes for `reason`. */
  report(reason: TcpConnectionCloseReason, fields: Record<string, unknown>, message: string): void;
}

/**
 * Puts the caps in front of `server`'s other 'connection' listeners: a connection over a cap is destroyed before any
 * of them (or TLS) sees it, counted and logged; an accepted one holds its slot until it closes. Listeners after this
 * one must skip a socket that is already destroyed.
 */
export function guardConnections(server: net.Server, options: ConnectionGuardOptions): ConnectionGuard {
  const limits = new ConnectionLimits({
    maxConnections: options.caps.maxConnections,
    maxConnectionsPerPeer: options.caps.maxConnectionsPerAddress,
  });
  const warnings = new Map<TcpConnectionCloseReason, RateLimitedWarning>();
  const report: ConnectionGuard['report'] = (reason, fields, message) => {
    options.closed?.inc({ listener: options.listener, reason });
    let w = warnings.get(reason);
    if (!w) warnings.set(reason, (w = new RateLimitedWarning(options.log)));
    w.warn({ ...fields, listener: options.listener, reason }, message);
  };
  const refusalMessage: Record<ConnectionRefusal, string> = {
    peer_limit: `Refused a connection: its address holds the most connections allowed (${options.settings}.maxConnectionsPerAddress)`,
    total_limit: `Refused a connection: the listener holds the most connections allowed (${options.settings}.maxConnections)`,
  };

  server.prependListener('connection', (socket: net.Socket) => {
    const address = socket.remoteAddress ?? 'unknown';
    const refusal = limits.acquire(address);
    if (refusal !== undefined) {
      report(
        refusal === 'peer_limit' ? 'address_limit' : 'total_limit',
        refusal === 'peer_limit'
          ? { remoteAddress: address, maxConnectionsPerAddress: limits.maxConnectionsPerPeer }
          : { remoteAddress: address, maxConnections: limits.maxConnections },
        refusalMessage[refusal],
      );
      socket.destroy();
      return;
    }
    socket.once('close', () => limits.release(address));
  });
  return { count: (address) => limits.count(address), report };
}
