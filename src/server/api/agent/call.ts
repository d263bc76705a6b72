import * as grpc from '@grpc/grpc-js';
import { isTesseraError } from '../../../common/errors.js';
import { toStatus } from '../../../common/grpc/status.js';
import type { Logger } from '../../../common/log.js';
import { isSpiffeError } from '../../../spiffe/errors.js';

/** Adapts an async handler to grpc-js's callback style; whatever it throws becomes a status through toStatus. */
export function unary<Req, Res>(
  log: Logger,
  fn: (call: grpc.ServerUnaryCall<Req, Res>) => Promise<Res>,
): grpc.handleUnaryCall<Req, Res> {
  return (call, callback) => {
    let pending: Promise<Res>;
    try {
      pending = fn(call);
    } catch (err) {
      pending = Promise.reject(err);
    }
    pending.then(
      (response) => callback(null, response),
      (err: unknown) => callback(statusError(err, log, call.getPath())),
    );
  };
}

/** Ends a server or bidi stream with the status of `err` (through toStatus). */
export function failStream(
  call: grpc.ServerWritableStream<unknown, unknown> | grpc.ServerDuplexStream<unknown, unknown>,
  err: unknown,
  log: Logger,
): void {
  if (call.cancelled || call.destroyed || call.writableEnded) return;
  call.emit('error', statusError(err, log, call.getPath()));
}

function statusError(err: unknown, log: Logger, rpc: string): Partial<grpc.StatusObject> {
  const status = toStatus(err, log.child({ rpc }));
  return { code: status.code, details: status.details, metadata: new grpc.Metadata() };
}

/**
 * True for the errors one request item can cause (bad key, unauthorised entry, bad instance ID): those are reported
 * per item in a batch. Anything else (datastore down, no active CA, a bug) fails the whole call.
 */
export function isItemError(err: unknown): boolean {
  if (isSpiffeError(err)) return true;
  return isTesseraError(err) && err.code !== 'INTERNAL' && err.code !== 'UNAVAILABLE';
}
