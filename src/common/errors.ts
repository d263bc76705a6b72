/**
 * The error family of the server and the agent (outside the pure SPIFFE domain, which has its own in
 * src/spiffe/errors.ts). Every failure has a stable `code`, named after the gRPC status it becomes at the API boundary
 * (src/common/grpc/status.ts is the one place that maps it). Assert on `code` in tests, never on the wording.
 * Messages are lowercase with no trailing period; quote values with JSON.stringify.
 */

export type TesseraErrorCode =
  | 'INVALID_ARGUMENT'
  | 'NOT_FOUND'
  | 'ALREADY_EXISTS'
  | 'PERMISSION_DENIED'
  | 'FAILED_PRECONDITION'
  | 'UNAVAILABLE'
  | 'INTERNAL'
  | 'UNAUTHENTICATED'
  | 'RESOURCE_EXHAUSTED';

export class TesseraError extends Error {
  readonly code: TesseraErrorCode;

  constructor(code: TesseraErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
    this.name = new.target.name;
  }
}

export function isTesseraError(err: unknown): err is TesseraError {
  return err instanceof TesseraError;
}

type Options = { cause?: unknown };

/** The request itself is wrong (bad field, out of range); retrying it unchanged fails again. */
export const invalidArgument = (message: string, options?: Options) =>
  new TesseraError('INVALID_ARGUMENT', message, options);
/** The named thing does not exist. The message is returned to the caller as-is; the cause never is. */
export const notFound = (message: string, options?: Options) => new TesseraError('NOT_FOUND', message, options);
export const alreadyExists = (message: string, options?: Options) =>
  new TesseraError('ALREADY_EXISTS', message, options);
/** The caller is known but not allowed (banned agent, supervisor/worker rule, ...). */
export const permissionDenied = (message: string, options?: Options) =>
  new TesseraError('PERMISSION_DENIED', message, options);
/** The system is not in the state the operation needs (stale revision, lower bundle sequence, ...). */
export const failedPrecondition = (message: string, options?: Options) =>
  new TesseraError('FAILED_PRECONDITION', message, options);
/** A transient failure (datastore busy or unreachable); the caller may retry. */
export const unavailable = (message: string, options?: Options) => new TesseraError('UNAVAILABLE', message, options);
/** A bug or broken invariant. The message is logged, never returned to the caller. */
export const internal = (message: string, options?: Options) => new TesseraError('INTERNAL', message, options);
export const unauthenticated = (message: string, options?: Options) =>
  new TesseraError('UNAUTHENTICATED', message, options);
export const resourceExhausted = (message: string, options?: Options) =>
  new TesseraError('RESOURCE_EXHAUSTED', message, options);
