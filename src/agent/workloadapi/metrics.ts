/**
 * What the Workload API reports, as structural shapes that prom-client's Counter / Gauge / Histogram satisfy (the
 * agent core owns the registry and passes its metrics in). Every member is optional.
 */
export interface WorkloadApiMetrics {
  /** Calls by method and final status code (streams count when they end). */
  readonly rpcTotal?: { inc(labels: { method: string; code: string }): void };
  /** Unary latency or stream lifetime, by method. */
  readonly rpcDuration?: { observe(labels: { method: string }, seconds: number): void };
  /** Open connections on the Workload API socket. */
  readonly connections?: { inc(): void; dec(): void };
  /** Connections closed at accept because the kernel would not give their peer credentials. */
  readonly connectionsRefused?: { inc(): void };
  /**
   * Connections the listener closed to protect the socket, by reason: uid_limit, total_limit (refused at accept),
   * no_call_timeout, idle_timeout (see listener.ts).
   */
  readonly connectionsClosed?: { inc(labels: { reason: string }): void };
  /** Open server streams by method. */
  readonly openStreams?: { inc(labels: { method: string }): void; dec(labels: { method: string }): void };
  /** Messages pushed down open streams after a change (not counting the first message), by method. */
  readonly pushes?: { inc(labels: { method: string }): void };
}
