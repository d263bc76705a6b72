/**
 * A plain grpc-js Workload API client for tests (insecure, `unix://` target), with helpers to read server streams
 * message by message and to await their final status.
 */
import * as grpc from '@grpc/grpc-js';
import { loadService } from '../../src/common/grpc/protos.js';

const { Client } = loadService('spiffe/workload/workload.proto', 'SpiffeWorkloadAPI');

export type WorkloadClient = grpc.Client & Record<string, (...args: unknown[]) => unknown>;

export function workloadClient(socketPath: string, options: grpc.ClientOptions = {}): WorkloadClient {
  return new Client(`unix://${socketPath}`, grpc.credentials.createInsecure(), options) as unknown as WorkloadClient;
}

/** Metadata with the security header (or the given value(s); `null` = none at all). */
export function headerMetadata(value: string | string[] | null = 'true'): grpc.Metadata {
  const md = new grpc.Metadata();
  if (value === null) return md;
  for (const v of Array.isArray(value) ? value : [value]) md.add('workload.spiffe.io', v);
  return md;
}

export interface StreamReader<T> {
  readonly call: grpc.ClientReadableStream<T>;
  /** The next message, or rejects with the stream's status error / after `timeoutMs`. */
  next(timeoutMs?: number): Promise<T>;
  /** Resolves when no message arrives within `ms` (and the stream has not ended). */
  quiet(ms: number): Promise<void>;
  /** The final status (code + details), once the stream ends. */
  readonly status: Promise<grpc.StatusObject>;
  /** Messages received so far but not yet taken by next(). */
  readonly buffered: T[];
  readonly received: () => number;
}

export function readStream<T>(call: grpc.ClientReadableStream<T>): StreamReader<T> {
  const buffered: T[] = [];
  let waiter: { resolve: (v: T) => void; reject: (e: unknown) => void } | undefined;
  let ended: grpc.ServiceError | undefined;
  let count = 0;
  call.on('data', (m: T) => {
    count++;
    if (waiter) {
      const w = waiter;
      waiter = undefined;
      w.resolve(m);
    } else buffered.push(m);
  });
  call.on('error', (e: grpc.ServiceError) => {
    ended = e;
    if (waiter) {
      const w = waiter;
      waiter = undefined;
      w.reject(e);
    }
  });
  const status = new Promise<grpc.StatusObject>((resolve) => call.on('status', resolve));
  return {
    call,
    buffered,
    status,
    received: () => count,
    next(timeoutMs = 5000) {
      if (buffered.length > 0) return Promise.resolve(buffered.shift()!);
      if (ended) return Promise.reject(ended);
      return new Promise<T>((resolve, reject) => {
        const timer = setTimeout(() => {
          waiter = undefined;
          reject(new Error(`no message within ${timeoutMs} ms`));
        }, timeoutMs);
        waiter = {
          resolve: (v) => {
            clearTimeout(timer);
            resolve(v);
          },
          reject: (e) => {
            clearTimeout(timer);
            reject(e);
          },
        };
      });
    },
    async quiet(ms) {
      const before = count;
      await new Promise((r) => setTimeout(r, ms));
      if (count !== before) throw new Error(`expected no message within ${ms} ms, got ${count - before}`);
      if (ended) throw ended;
    },
  };
}

/** Opens a server stream `method` with `md` and returns its reader. */
export function openStream<T>(client: WorkloadClient, method: string, md: grpc.Metadata = headerMetadata()): StreamReader<T> {
  const call = (client[method] as (req: object, md: grpc.Metadata) => grpc.ClientReadableStream<T>).call(client, {}, md);
  return readStream(call);
}

/** Calls unary `method`; resolves with the response or rejects with the ServiceError. */
export function unary<T>(
  client: WorkloadClient,
  method: string,
  request: object,
  md: grpc.Metadata = headerMetadata(),
): Promise<T> {
  return new Promise((resolve, reject) => {
    (client[method] as (r: object, m: grpc.Metadata, cb: (e: grpc.ServiceError | null, v?: T) => void) => void).call(
      client,
      request,
      md,
      (err, value) => (err ? reject(err) : resolve(value as T)),
    );
  });
}

/** Awaits a rejection and returns its gRPC code and details. */
export async function statusOf(p: Promise<unknown>): Promise<{ code: number; details: string }> {
  try {
    await p;
  } catch (e) {
    const err = e as grpc.ServiceError;
    return { code: err.code, details: err.details };
  }
  throw new Error('expected the call to fail');
}
