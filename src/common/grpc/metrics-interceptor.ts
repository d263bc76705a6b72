import * as grpc from '@grpc/grpc-js';

/** What the interceptor reports into: prom-client's Counter and Histogram fit these shapes. */
export interface RpcMetrics {
  readonly rpcTotal: { inc(labels: { service: string; method: string; code: string }): void };
  readonly rpcDuration: { observe(labels: { service: string; method: string }, seconds: number): void };
}

/**
 * A grpc-js server interceptor that counts every call by its final status code (CANCELLED when the client left first) and observes its duration (for
 * streams: the stream's lifetime). Installed on every gRPC server a daemon runs (server: agent and admin APIs; agent:
 * its admin API — the Workload API has its own, see src/agent/workloadapi/service.ts).
 */
export function metricsInterceptor(metrics: RpcMetrics): grpc.ServerInterceptor {
  return (method, call) => {
    const started = process.hrtime.bigint();
    const [service, name] = splitPath(method.path);
    // Once per call: its final status, or CANCELLED when the client went away first (a stream it closes gets none).
    let counted = false;
    const count = (code: grpc.status) => {
      if (counted) return;
      counted = true;
      const seconds = Number(process.hrtime.bigint() - started) / 1e9;
      metrics.rpcTotal.inc({ service, method: name, code: grpc.status[code] ?? String(code) });
      metrics.rpcDuration.observe({ service, method: name }, seconds);
    };
    return new grpc.ServerInterceptingCall(call, {
      start(next) {
        next({ onCancel: () => count(grpc.status.CANCELLED) });
      },
      sendStatus(status, next) {
        count(status.code);
        next(status);
      },
    });
  };
}

function splitPath(path: string): [string, string] {
  const m = /^\/([^/]+)\/([^/]+)$/.exec(path);
  return m ? [m[1]!, m[2]!] : ['unknown', path];
}
