import { status, type ServiceError } from '@grpc/grpc-js';
import { TesseraError, type TesseraErrorCode } from '../../common/errors.js';

const CODES: Partial<Record<number, TesseraErrorCode>> = {
  [status.INVALID_ARGUMENT]: 'INVALID_ARGUMENT',
  [status.NOT_FOUND]: 'NOT_FOUND',
  [status.ALREADY_EXISTS]: 'ALREADY_EXISTS',
  [status.PERMISSION_DENIED]: 'PERMISSION_DENIED',
  [status.FAILED_PRECONDITION]: 'FAILED_PRECONDITION',
  [status.UNAVAILABLE]: 'UNAVAILABLE',
  [status.DEADLINE_EXCEEDED]: 'UNAVAILABLE',
  [status.CANCELLED]: 'UNAVAILABLE',
  [status.UNAUTHENTICATED]: 'UNAUTHENTICATED',
  [status.RESOURCE_EXHAUSTED]: 'RESOURCE_EXHAUSTED',
};

/** The TesseraError code for a gRPC status code from the server (unknown codes are INTERNAL). */
export function codeOfStatus(code: number): TesseraErrorCode {
  return CODES[code] ?? 'INTERNAL';
}

/**
 * A server call's failure as a TesseraError: the status code mapped ({@link codeOfStatus}; DEADLINE_EXCEEDED and
 * CANCELLED count as UNAVAILABLE), the server's details as message, the ServiceError as cause. Errors that are not
 * gRPC statuses (a bug, a TLS failure before any call) become UNAVAILABLE.
 */
export function fromServiceError(err: unknown, what: string): TesseraError {
  if (err instanceof TesseraError) return err;
  const e = err as Partial<ServiceError>;
  if (typeof e?.code === 'number') {
    const details = (e.details || e.message || 'no details').split('\n')[0]!;
    return new TesseraError(codeOfStatus(e.code), `${what}: ${details}`, { cause: err });
  }
  return new TesseraError('UNAVAILABLE', `${what}: ${(err as Error)?.message ?? String(err)}`, { cause: err });
}

/** True for failures that say "the server could not be reached" rather than "the server refused". */
export function isConnectivityFailure(err: unknown): boolean {
  return err instanceof TesseraError && err.code === 'UNAVAILABLE';
}
