import { status } from '@grpc/grpc-js';
import { isSpiffeError, type SpiffeErrorCode } from '../../spiffe/errors.js';
import { isTesseraError, type TesseraErrorCode } from '../errors.js';
import type { Logger } from '../log.js';

/**
 * The one place where an error becomes a gRPC status (SPIRE's `pkg/common/api/status.go:MakeErr`). Handlers throw
 * `TesseraError`/`SpiffeError` and pass whatever they caught here; nothing else builds a status by hand.
 *
 * - The returned `details` is the error's own lowercase message, never its cause chain.
 * - NotFound is neither logged nor given any detail beyond its message; PermissionDenied and Unauthenticated are
 *   expected refusals, logged at info with their reason and no stack trace.
 * - Anything that is not one of our coded errors (and TesseraError INTERNAL) becomes Internal with the generic
 *   message "internal error"; the real error is logged at error level.
 */
export interface GrpcStatus {
  code: number;
  details: string;
}

export const INTERNAL_DETAILS = 'internal error';

const TESSERA_STATUS: Record<TesseraErrorCode, status> = {
  INVALID_ARGUMENT: status.INVALID_ARGUMENT,
  NOT_FOUND: status.NOT_FOUND,
  ALREADY_EXISTS: status.ALREADY_EXISTS,
  PERMISSION_DENIED: status.PERMISSION_DENIED,
  FAILED_PRECONDITION: status.FAILED_PRECONDITION,
  UNAVAILABLE: status.UNAVAILABLE,
  INTERNAL: status.INTERNAL,
  UNAUTHENTICATED: status.UNAUTHENTICATED,
  RESOURCE_EXHAUSTED: status.RESOURCE_EXHAUSTED,
};

/**
 * Exhaustive on purpose: a new SpiffeErrorCode does not compile until it is mapped here. Everything the caller
 * handed us that fails a rule (IDs, certificates, tokens, keys, bundles, issuing parameters derived from the request)
 * is InvalidArgument; a chain or token that does not lead to a trusted authority is PermissionDenied.
 */
const SPIFFE_STATUS: Record<SpiffeErrorCode, status> = {
  ERR_SPIFFE_ID_INVALID: status.INVALID_ARGUMENT,
  ERR_TRUST_DOMAIN_INVALID: status.INVALID_ARGUMENT,
  ERR_X509_SVID_INVALID: status.INVALID_ARGUMENT,
  ERR_X509_SVID_EXPIRED: status.INVALID_ARGUMENT,
  ERR_X509_ISSUE_INVALID: status.INVALID_ARGUMENT,
  ERR_JWT_SVID_MALFORMED: status.INVALID_ARGUMENT,
  ERR_JWT_SVID_ALG: status.INVALID_ARGUMENT,
  ERR_JWT_SVID_HEADER: status.INVALID_ARGUMENT,
  ERR_JWT_SVID_CLAIMS: status.INVALID_ARGUMENT,
  ERR_JWT_SVID_AUDIENCE: status.INVALID_ARGUMENT,
  ERR_JWT_SVID_EXPIRED: status.INVALID_ARGUMENT,
  ERR_JWT_SVID_SIGNATURE: status.INVALID_ARGUMENT,
  ERR_JWT_MINT_INVALID: status.INVALID_ARGUMENT,
  ERR_BUNDLE_MALFORMED: status.INVALID_ARGUMENT,
  ERR_KEY_INVALID: status.INVALID_ARGUMENT,
  ERR_BUNDLE_NOT_FOUND: status.NOT_FOUND,
  ERR_X509_SVID_UNTRUSTED: status.PERMISSION_DENIED,
  ERR_JWT_SVID_UNTRUSTED: status.PERMISSION_DENIED,
};

export function toStatus(err: unknown, log?: Logger): GrpcStatus {
  let code: status | undefined;
  let errorCode: string | undefined;
  if (isTesseraError(err)) {
    code = TESSERA_STATUS[err.code];
    errorCode = err.code;
  } else if (isSpiffeError(err)) {
    code = SPIFFE_STATUS[err.code];
    errorCode = err.code;
  }

  if (code === undefined || code === status.INTERNAL) {
    log?.error({ err }, 'Internal error');
    return { code: status.INTERNAL, details: INTERNAL_DETAILS };
  }

  const details = (err as Error).message;
  switch (code) {
    case status.NOT_FOUND:
      break;
    case status.UNAVAILABLE:
      log?.warn({ code: errorCode, err }, 'Service unavailable');
      break;
    case status.PERMISSION_DENIED:
    case status.UNAUTHENTICATED:
      // Expected (a workload with no entry, a banned agent): the reason, not a stack trace.
      log?.info({ code: errorCode, reason: details }, 'Request refused');
      break;
    default:
      log?.debug({ code: errorCode, err }, 'Request failed');
  }
  return { code, details };
}
