import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { metricsInterceptor } from '../../../src/common/grpc/metrics-interceptor.js';

const raw = { serialize: (b: Buffer) => b, deserialize: (b: Buffer) => b };
const DEFINITION: grpc.ServiceDefinition = {
  Unary: { path: '/t.v1.S/Unary', requestStream: false, responseStream: false, requestSerialize: raw.serialize, requestDeserialize: raw.deserialize, responseSerialize: raw.serialize, responseDeserialize: raw.deserialize },
  Watch: { path: '/t.v1.S/Watch', requestStream: false, responseStream: true, requestSerialize: raw.serialize, requestDeserialize: raw.deserialize, responseSerialize: raw.serialize, responseDeserialize: raw.deserialize },
};

describe('metricsInterceptor', () => {
  const counted: string[] = [];
  const observed: string[] = [];
  let onCount: (() => void) | undefined;
  let dir: string;
  let server: grpc.Server;
  let client: grpc.Client;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'tessera-interceptor-'));
    server = new grpc.Server({
      interceptors: [
        metricsInterceptor({
          rpcTotal: {
            inc: (l) => {
              counted.push(`${l.service}/${l.method}:${l.code}`);
              onCount?.();
            },
          },
          rpcDuration: { observe: (l, s) => observed.push(`${l.service}/${l.method}:${s >= 0}`) },
        }),
      ],
    });
    server.addService(DEFINITION, {
      Unary: (_call: unknown, cb: grpc.sendUnaryData<Buffer>) => cb(null, Buffer.from('ok')),
      Watch: (call: grpc.ServerWritableStream<Buffer, Buffer>) => call.write(Buffer.from('first')), // never ends
    });
    const socket = join(dir, 's.sock');
    await new Promise<void>((resolve, reject) =>
      server.bindAsync(`unix:${socket}`, grpc.ServerCredentials.createInsecure(), (err) => (err ? reject(err) : resolve())),
    );
    client = new grpc.Client(`unix:${socket}`, grpc.credentials.createInsecure());
  });
  afterAll(() => {
    client.close();
    server.forceShutdown();
    rmSync(dir, { recursive: true, force: true });
  });

  it('counts a unary call once by its status and observes its duration', async () => {
    await new Promise<void>((resolve, reject) =>
      client.makeUnaryRequest('/t.v1.S/Unary', raw.serialize, raw.deserialize, Buffer.from('x'), (err) => (err ? reject(err) : resolve())),
    );
    expect(counted).toEqual(['t.v1.S/Unary:OK']);
    expect(observed).toEqual(['t.v1.S/Unary:true']);
  });

  it('counts a stream the client closes as CANCELLED, once', async () => {
    const stream = client.makeServerStreamRequest('/t.v1.S/Watch', raw.serialize, raw.deserialize, Buffer.from('x'));
    stream.on('error', () => undefined);
    await new Promise((resolve) => stream.once('data', resolve));
    expect(counted.filter((c) => c.startsWith('t.v1.S/Watch'))).toEqual([]);
    const cancelled = new Promise<void>((resolve) => (onCount = resolve));
    stream.cancel();
    await cancelled;
    expect(counted.filter((c) => c.startsWith('t.v1.S/Watch'))).toEqual(['t.v1.S/Watch:CANCELLED']);
    expect(observed.filter((c) => c.startsWith('t.v1.S/Watch'))).toEqual(['t.v1.S/Watch:true']);
  });
});
