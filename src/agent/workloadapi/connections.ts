import { randomBytes } from 'node:crypto';
import type { Socket } from 'node:net';
import type { AttestedProcess, CallerCredentials, ConnectionBinding } from '../types.js';

/**
 * How a Workload API call finds the connection (and so the kernel-attested caller) it arrived on.
 *
 * grpc-js gives handlers no socket. What it does give is `call.getPeer()`, which it computes from the HTTP/2
 * session's socket as `socket.remoteAddress` (plus `:remotePort` when there is one); the session's `socket` is
 * Node's http2 proxy whose property reads go straight to the socket we injected. An accepted Unix socket has no
 * remote address (undefined, so grpc-js would say "unknown"), so before injecting it the listener defines an OWN
 * `remoteAddress` property on the socket holding a tag unique to this process (random prefix + counter) and records
 * the connection under that tag here. A handler calls {@link connectionOf}(call) → `call.getPeer()` → the record.
 *
 * Why this seam: it uses only grpc-js's public call API (getPeer, also reflected in getConnectionInfo), holds in
 * every call type (unary and streams, interceptors or not), and the tag cannot be influenced by the client (it is a
 * property of our own socket object, not of anything sent on the wire). Connections that were not injected by the
 * listener (or whose record is gone because the socket closed) simply have no record: the handler refuses the call.
 * The record is removed when the socket closes, and the socket also carries it under {@link CONNECTION} for code that
 * holds the socket.
 */
export interface WorkloadConnection extends ConnectionBinding {
  /** The tag grpc-js reports as the call's peer. */
  readonly tag: string;
  readonly caller: CallerCredentials;
  readonly socket: Socket;
  /**
   * The process the connection's first call was attested as (set by the provider, types.ts ConnectionBinding); later
   * calls are served only while the connection's process is still that one.
   */
  bound?: AttestedProcess;
}

/** The connection record on its socket. */
export const CONNECTION: unique symbol = Symbol('tessera.workloadapi.connection');

const TAG_PREFIX = `tessera-workload-conn:${randomBytes(6).toString('hex')}:`;
let nextId = 0;
const byTag = new Map<string, WorkloadConnection>();

/** Tags `socket` so calls on it report the tag as their peer, and records the caller under it until it closes. */
export function registerConnection(socket: Socket, caller: CallerCredentials): WorkloadConnection {
  const tag = `${TAG_PREFIX}${++nextId}`;
  const conn: WorkloadConnection = { tag, caller, socket };
  Object.defineProperty(socket, 'remoteAddress', { value: tag, enumerable: true, configurable: false, writable: false });
  Object.defineProperty(socket, CONNECTION, { value: conn, enumerable: false });
  byTag.set(tag, conn);
  return conn;
}

export function unregisterConnection(conn: WorkloadConnection): void {
  if (byTag.get(conn.tag) === conn) byTag.delete(conn.tag);
}

/** The connection a call arrived on, or undefined if it did not come through a Workload API listener. */
export function connectionOf(call: { getPeer(): string }): WorkloadConnection | undefined {
  let peer: string;
  try {
    peer = call.getPeer();
  } catch {
    // Node's http2 proxy socket throws once the session has let go of its socket.
    return undefined;
  }
  return byTag.get(peer);
}

/** Open connections known to this process (tests: leak checks). */
export function connectionCount(): number {
  return byTag.size;
}
