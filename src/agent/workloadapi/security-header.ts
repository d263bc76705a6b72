import * as grpc from '@grpc/grpc-js';

/** The Workload API's security header (Workload Endpoint §3): every request carries `workload.spiffe.io: true`. */
export const SECURITY_HEADER = 'workload.spiffe.io';
export const SECURITY_HEADER_VALUE = 'true';
export const SECURITY_HEADER_MISSING = 'security header missing from request';

/** Whether `metadata` carries the security header exactly once with the exact (case-sensitive) value "true". */
export function hasSecurityHeader(metadata: grpc.Metadata): boolean {
  const values = metadata.get(SECURITY_HEADER);
  return values.length === 1 && values[0] === SECURITY_HEADER_VALUE;
}

/**
 * Checks the security header before anything else happens for a call (as SPIRE does, for every method): a call
 * without it ends with InvalidArgument "security header missing from request" before its request is even read, so
 * no handler, attestation or provider runs for it.
 */
export function securityHeaderInterceptor(): grpc.ServerInterceptor {
  return (_method, call) => {
    let refused = false;
    const intercepting: grpc.ServerInterceptingCall = new grpc.ServerInterceptingCall(call, {
      start(next) {
        next({
          onReceiveMetadata(metadata, mdNext) {
            if (hasSecurityHeader(metadata)) {
              mdNext(metadata);
              return;
            }
            refused = true;
            intercepting.sendStatus({ code: grpc.status.INVALID_ARGUMENT, details: SECURITY_HEADER_MISSING });
          },
          onReceiveMessage(message, msgNext) {
            if (!refused) msgNext(message);
          },
          onReceiveHalfClose(halfCloseNext) {
            if (!refused) halfCloseNext();
          },
        });
      },
    });
    return intercepting;
  };
}
