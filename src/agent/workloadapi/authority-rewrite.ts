import { EventEmitter } from 'node:events';
import { Duplex } from 'node:stream';
import type { Socket } from 'node:net';
import * as grpc from '@grpc/grpc-js';
import { internal } from '../../common/errors.js';
import type { Logger } from '../../common/log.js';
import { AuthorityFrameRewriter } from './authority-frames.js';

/**
 * The connection-level fix for clients whose `:authority` Node's http2 refuses (grpc-java/java-spiffe sends the
 * socket path): each accepted socket reaches grpc-js through an {@link AuthorityRewritingStream}, which passes the
 * client's bytes through {@link AuthorityFrameRewriter} and the server's bytes back untouched.
 */

export interface ConnectionInjector {
  injectConnection(socket: Socket): void;
  destroy(): void;
}

/**
 * grpc-js's connection injector for `server`, putting each injected socket behind an {@link AuthorityRewritingStream}.
 *
 * Node's http2 wraps a stream that is not a native socket in a socket object of its own whose peer address is empty;
 * grpc-js reports the session socket's `remoteAddress` as a call's peer, and the Workload API finds the caller by it
 * (connections.ts: the listener sets it to the connection's tag). So when the injector's http2 server starts a
 * session on one of our streams, the session socket's peer address is set to the raw socket's. That needs the http2
 * server grpc-js made for the injector (grpc-js keeps it in its private `http2Servers` map): when it cannot be found,
 * this throws at start-up rather than serve calls that would all be refused.
 */
export function createAuthorityRewritingInjector(server: grpc.Server, log: Logger): ConnectionInjector {
  const injector = server.createConnectionInjector(grpc.ServerCredentials.createInsecure());
  const servers = (server as unknown as { http2Servers?: unknown }).http2Servers;
  const http2Server = servers instanceof Map ? [...(servers as Map<unknown, unknown>).keys()].at(-1) : undefined;
  if (!(http2Server instanceof EventEmitter)) {
    injector.destroy();
    throw internal('cannot find the http2 server of the grpc-js connection injector (grpc-js changed?)');
  }
  http2Server.on('session', (session: { socket: Record<string, unknown> }) => {
    // The session socket proxies property reads and writes to Node's wrapping socket, whose `stream` is ours and
    // whose `remoteAddress` getter returns `_peername.address` (its handle has no getpeername).
    const stream = session.socket['stream'];
    if (stream instanceof AuthorityRewritingStream) session.socket['_peername'] = { address: stream.peer };
  });
  return {
    injectConnection(socket) {
      injector.injectConnection(new AuthorityRewritingStream(socket, log));
    },
    destroy() {
      injector.destroy();
    },
  };
}

/** A Duplex over `socket`: reads are the client's bytes with refused authorities rewritten, writes go straight out. */
export class AuthorityRewritingStream extends Duplex {
  private readonly rewriter = new AuthorityFrameRewriter();

  constructor(
    private readonly socket: Socket,
    log: Logger,
  ) {
    super({ allowHalfOpen: false });
    socket.on('data', (chunk: Buffer) => {
      let bytes: Buffer;
      try {
        bytes = this.rewriter.push(chunk);
      } catch (err) {
        log.warn({ err: (err as Error).message }, 'Closed a Workload API connection that sent malformed HTTP/2 frames');
        this.destroy();
        return;
      }
      if (bytes.length > 0 && !this.push(bytes)) socket.pause();
    });
    socket.on('end', () => this.push(null));
    socket.on('error', (err) => this.destroy(err));
    socket.on('close', () => this.destroy());
  }

  /** The raw socket's peer address (the listener's connection tag). */
  get peer(): string | undefined {
    return this.socket.remoteAddress;
  }

  /** Header blocks whose authority was rewritten on this connection. */
  get rewrites(): number {
    return this.rewriter.rewrites;
  }

  override _read(): void {
    this.socket.resume();
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: (err?: Error | null) => void): void {
    this.socket.write(chunk, callback);
  }

  override _final(callback: (err?: Error | null) => void): void {
    this.socket.end(callback);
  }

  override _destroy(err: Error | null, callback: (err?: Error | null) => void): void {
    this.socket.destroy();
    callback(err);
  }
}
