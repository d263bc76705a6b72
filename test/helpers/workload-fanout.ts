/**
 * Opens many FetchX509SVID streams on a Workload API socket (spread over several connections) and measures how long a
 * pushed change takes to reach all of them. Used by the fan-out test; the workload-api bench can reuse it.
 */
import * as grpc from '@grpc/grpc-js';
import { headerMetadata, workloadClient, type WorkloadClient } from './workload-client.js';

export interface FanoutStreams {
  /** Messages received per stream so far. */
  readonly counts: Int32Array;
  /** Milliseconds it took to open every stream and receive its first message. */
  readonly openMs: number;
  /**
   * Runs `trigger` and resolves with the milliseconds until every stream has received `expected` more messages
   * (default 1).
   */
  measure(trigger: () => void | Promise<void>, expected?: number, timeoutMs?: number): Promise<number>;
  close(): void;
}

export async function openFanoutStreams(
  socketPath: string,
  streams: number,
  connections = Math.max(1, Math.ceil(streams / 100)),
): Promise<FanoutStreams> {
  const clients: WorkloadClient[] = Array.from({ length: connections }, () =>
    // A local subchannel pool per client: each client gets a connection of its own.
    workloadClient(socketPath, { 'grpc.use_local_subchannel_pool': 1, 'grpc.max_receive_message_length': -1 }),
  );
  const counts = new Int32Array(streams);
  const calls: grpc.ClientReadableStream<unknown>[] = [];
  let waiter: { target: Int32Array; resolve: () => void } | undefined;
  const check = () => {
    if (!waiter) return;
    for (let i = 0; i < streams; i++) if (counts[i]! < waiter.target[i]!) return;
    const w = waiter;
    waiter = undefined;
    w.resolve();
  };
  const started = performance.now();
  const firsts: Promise<void>[] = [];
  for (let i = 0; i < streams; i++) {
    const client = clients[i % connections]!;
    const call = (client['FetchX509SVID'] as (r: object, m: grpc.Metadata) => grpc.ClientReadableStream<unknown>).call(
      client,
      {},
      headerMetadata(),
    );
    calls.push(call);
    firsts.push(
      new Promise<void>((resolve, reject) => {
        call.on('data', () => {
          counts[i]!++;
          if (counts[i] === 1) resolve();
          check();
        });
        call.on('error', (e: grpc.ServiceError) => {
          if (e.code !== grpc.status.CANCELLED) reject(e);
        });
      }),
    );
  }
  await Promise.all(firsts);
  const openMs = performance.now() - started;
  return {
    counts,
    openMs,
    async measure(trigger, expected = 1, timeoutMs = 30_000) {
      const target = counts.map((c) => c + expected);
      const done = new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => {
          waiter = undefined;
          const missing = target.filter((t, i) => counts[i]! < t).length;
          reject(new Error(`${missing} of ${streams} streams did not receive the push within ${timeoutMs} ms`));
        }, timeoutMs);
        waiter = {
          target,
          resolve: () => {
            clearTimeout(timer);
            resolve();
          },
        };
      });
      const t0 = performance.now();
      await trigger();
      check();
      await done;
      return performance.now() - t0;
    },
    close() {
      for (const c of calls) c.cancel();
      for (const c of clients) c.close();
    },
  };
}
