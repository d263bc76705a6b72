import type * as grpc from '@grpc/grpc-js';
import { isTesseraError } from '../../../common/errors.js';
import { toStatus } from '../../../common/grpc/status.js';
import type { Logger } from '../../../common/log.js';
import { isSpiffeError } from '../../../spiffe/errors.js';

/**
 * Adapts an async handler to grpc-js's callback style. Whatever it throws becomes a status through toStatus, the one
 * place errors are mapped.
 */
export function unary<Req, Res>(log: Logger, fn: (request: Req) => Promise<Res>): grpc.handleUnaryCall<Req, Res> {
  return (call, callback) => {
    let pending: Promise<Res>;
    try {
      pending = fn(call.request);
    } catch (err) {
      pending = Promise.reject(err);
    }
    pending.then(
      (response) => callback(null, response),
      (err: unknown) => {
        const status = toStatus(err, log.child({ rpc: call.getPath() }));
        callback({ code: status.code, details: status.details });
      },
    );
  };
}

/**
 * True for the errors a request item can cause (bad field, conflict, not found): those are reported per item in a
 * batch. Anything else (datastore down, a bug) fails the whole call.
 */
export function isItemError(err: unknown): boolean {
  if (isSpiffeError(err)) return true;
  return isTesseraError(err) && err.code !== 'INTERNAL' && err.code !== 'UNAVAILABLE';
}

/** Runs async sections one at a time (check-then-write sequences that must not interleave within this process). */
export class Serializer {
  #tail: Promise<unknown> = Promise.resolve();

  run<T>(fn: () => Promise<T>): Promise<T> {
    const result = this.#tail.then(fn);
    this.#tail = result.catch(() => undefined);
    return result;
  }
}
