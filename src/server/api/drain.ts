import * as grpc from '@grpc/grpc-js';

/**
 * Tracks open server-streaming calls (the agents' Sync streams) so a stopping server can end them with UNAVAILABLE
 * (agents reconnect to another server or after restart) instead of waiting for them: grpc-js's tryShutdown waits
 * for every open call, and a sync stream never ends by itself.
 */
export function createStreamDrain(): { interceptor: grpc.ServerInterceptor; endStreams(details: string): void } {
  const open = new Set<grpc.ServerInterceptingCall>();
  const interceptor: grpc.ServerInterceptor = (method, call) => {
    if (!method.responseStream || method.requestStream) return new grpc.ServerInterceptingCall(call);
    const intercepting: grpc.ServerInterceptingCall = new grpc.ServerInterceptingCall(call, {
      sendStatus(status, next) {
        open.delete(intercepting);
        next(status);
      },
    });
    open.add(intercepting);
    return intercepting;
  };
  return {
    interceptor,
    endStreams(details) {
      for (const call of [...open]) {
        open.delete(call);
        call.sendStatus({ code: grpc.status.UNAVAILABLE, details });
      }
    },
  };
}
