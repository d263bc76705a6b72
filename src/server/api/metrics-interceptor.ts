import * as grpc from '@grpc/grpc-js';
import type { ServerMetrics } from '../metrics.js';

/**
 * A grpc-js server interceptor that counts every call by its final status code and observes its duration (for
 * streams: the stream's lifetime). Installed on every gRPC server the process runs.
 */
export function metricsInterceptor(metrics: ServerMetrics): grpc.ServerInterceptor {
  return (method, call) => {
    const started = process.hrtime.bigint();
    const [service, name] = splitPath(method.path);
    return new grpc.ServerInterceptingCall(call, {
      sendStatus(status, next) {
        const seconds = Number(process.hrtime.bigint() - started) / 1e9;
        metrics.rpcTotal.inc({ service, method: name, code: grpc.status[status.code] ?? String(status.code) });
        metrics.rpcDuration.observe({ service, method: name }, seconds);
        next(status);
      },
    });
  };
}

function splitPath(path: string): [string, string] {
  const m = /^\/([^/]+)\/([^/]+)$/.exec(path);
  return m ? [m[1]!, m[2]!] : ['unknown', path];
}
