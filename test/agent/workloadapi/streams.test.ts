/**
 * StreamRegistry in isolation (fake grpc-js calls): chunked fan-out, one encode per change, coalescing, dedup,
 * subscription bookkeeping. Plus the message builders' Struct conversion.
 */
import { EventEmitter } from 'node:events';
import * as grpc from '@grpc/grpc-js';
import { describe, expect, it } from 'vitest';
import { loadService } from '../../../src/common/grpc/protos.js';
import { toStruct } from '../../../src/agent/workloadapi/messages.js';
import { StreamRegistry, type StreamMethod } from '../../../src/agent/workloadapi/streams.js';
import type { WorkloadState } from '../../../src/agent/types.js';
import { FakeWorkloadProvider } from '../../helpers/fake-workload-provider.js';
import { captureLogger } from '../../helpers/log-capture.js';

class FakeCall extends EventEmitter {
  cancelled = false;
  writableEnded = false;
  destroyed = false;
  readonly writes: Buffer[] = [];
  status: { code: number; details: string } | undefined;
  constructor() {
    super();
    this.on('error', (e: { code: number; details: string }) => {
      this.status = { code: e.code, details: e.details };
      this.writableEnded = true;
    });
  }
  write(b: Buffer): boolean {
    this.writes.push(b);
    return true;
  }
  cancel(): void {
    this.cancelled = true;
    this.emit('cancelled');
  }
}

const asCall = (c: FakeCall) => c as unknown as grpc.ServerWritableStream<unknown, unknown>;
const tick = () => new Promise((r) => setImmediate(r));

async function setup(chunk = 100) {
  const provider = await FakeWorkloadProvider.create();
  const encodes: Record<StreamMethod, number> = { FetchX509SVID: 0, FetchX509Bundles: 0, FetchJWTBundles: 0 };
  let n = 0;
  const bundleBytes = (s: WorkloadState) => Buffer.from(s.x509Bundle.toConcatenatedDer());
  const registry = new StreamRegistry({
    log: captureLogger('warn').log,
    chunk,
    encoders: {
      FetchX509SVID: (s) => (encodes.FetchX509SVID++, s.x509Svids.length ? Buffer.from(`svid-${++n}`) : null),
      FetchX509Bundles: (s) => (encodes.FetchX509Bundles++, s.x509Svids.length ? bundleBytes(s) : null),
      FetchJWTBundles: (s) => (encodes.FetchJWTBundles++, s.x509Svids.length ? Buffer.from(s.jwtBundle.toJwks()) : null),
    },
  });
  return { provider, registry, encodes, session: provider.defaultSession };
}

describe('StreamRegistry', () => {
  it('writes the first message synchronously on open', async () => {
    const { registry, session } = await setup();
    const c = new FakeCall();
    registry.open('FetchX509SVID', asCall(c), session);
    expect(c.writes).toHaveLength(1);
  });

  it('fans a change out in chunks of `chunk` streams per event-loop turn, encoding once', async () => {
    const { registry, session, encodes } = await setup(100);
    const calls = Array.from({ length: 250 }, () => new FakeCall());
    for (const c of calls) registry.open('FetchX509SVID', asCall(c), session);
    expect(encodes.FetchX509SVID).toBe(1); // one snapshot shared by every opening stream
    expect(session.listenerCount()).toBe(1);
    session.rotate();
    const delivered = () => calls.filter((c) => c.writes.length === 2).length;
    expect(delivered()).toBe(0); // nothing written inside the change notification
    await tick();
    expect(delivered()).toBe(100);
    await tick();
    expect(delivered()).toBe(200);
    await registry.idle();
    expect(delivered()).toBe(250);
    expect(encodes.FetchX509SVID).toBe(2);
    // Every stream got the very same bytes.
    expect(new Set(calls.map((c) => c.writes[1])).size).toBe(1);
  });

  it('coalesces changes: a stream still queued gets only the newest state', async () => {
    const { registry, session, encodes } = await setup(10);
    const calls = Array.from({ length: 30 }, () => new FakeCall());
    for (const c of calls) registry.open('FetchX509SVID', asCall(c), session);
    session.rotate();
    await tick(); // 10 delivered from the first change
    session.rotate();
    await registry.idle();
    const counts = calls.map((c) => c.writes.length);
    expect(counts.slice(0, 10)).toEqual(Array(10).fill(3));
    expect(counts.slice(10)).toEqual(Array(20).fill(2));
    expect(encodes.FetchX509SVID).toBe(3);
  });

  it('suppresses identical consecutive bundle messages only', async () => {
    const { registry, session } = await setup();
    const [x, j, s] = [new FakeCall(), new FakeCall(), new FakeCall()];
    registry.open('FetchX509Bundles', asCall(x), session);
    registry.open('FetchJWTBundles', asCall(j), session);
    registry.open('FetchX509SVID', asCall(s), session);
    session.touch();
    await registry.idle();
    session.rotate();
    await registry.idle();
    expect([x.writes.length, j.writes.length, s.writes.length]).toEqual([1, 1, 3]);
  });

  it('ends streams of a closed session and of a caller that lost its identity; unsubscribes', async () => {
    const { registry, session, provider } = await setup();
    const a = new FakeCall();
    registry.open('FetchX509SVID', asCall(a), session);
    session.setIdentities([]);
    await registry.idle();
    expect(a.status?.code).toBe(grpc.status.PERMISSION_DENIED);
    expect(session.listenerCount()).toBe(0);

    const other = provider.newSession([{ spiffeId: 'spiffe://example.org/x' }]);
    const b = new FakeCall();
    const c = new FakeCall();
    registry.open('FetchJWTBundles', asCall(b), other);
    registry.open('FetchX509SVID', asCall(c), other);
    other.rotate(); // queued …
    other.close(); // … then the process exits: nothing more is written
    await registry.idle();
    expect([b.status?.code, c.status?.code]).toEqual([grpc.status.PERMISSION_DENIED, grpc.status.PERMISSION_DENIED]);
    expect(c.writes).toHaveLength(1);
    expect(other.listenerCount()).toBe(0);
    expect([registry.streamCount(), registry.sessionCount()]).toEqual([0, 0]);
  });

  it('a cancelled stream is dropped (and its queued delivery skipped)', async () => {
    const { registry, session } = await setup();
    const a = new FakeCall();
    const b = new FakeCall();
    registry.open('FetchX509SVID', asCall(a), session);
    registry.open('FetchX509SVID', asCall(b), session);
    session.rotate();
    a.cancel();
    await registry.idle();
    expect([a.writes.length, b.writes.length]).toEqual([1, 2]);
    b.cancel();
    expect([registry.streamCount(), registry.sessionCount(), session.listenerCount()]).toEqual([0, 0, 0]);
  });

  it('closeAll ends every stream and refuses new ones', async () => {
    const { registry, session } = await setup();
    const a = new FakeCall();
    registry.open('FetchX509SVID', asCall(a), session);
    registry.closeAll();
    const b = new FakeCall();
    registry.open('FetchX509SVID', asCall(b), session);
    expect([a.status?.code, b.status?.code]).toEqual([grpc.status.UNAVAILABLE, grpc.status.UNAVAILABLE]);
    expect(b.writes).toHaveLength(0);
    expect(session.listenerCount()).toBe(0);
  });
});

describe('toStruct', () => {
  it('round-trips JSON claims through google.protobuf.Struct', () => {
    const { definition } = loadService('spiffe/workload/workload.proto', 'SpiffeWorkloadAPI');
    const m = definition['ValidateJWTSVID']!;
    const claims = { s: 'x', n: 1.5, b: true, z: null, l: ['a', 2], o: { p: { q: [] } } };
    const decoded = m.responseDeserialize(m.responseSerialize({ spiffe_id: 'spiffe://a/b', claims: toStruct(claims) })) as {
      claims: { fields: Record<string, Record<string, unknown>> };
    };
    const f = decoded.claims.fields;
    expect(f['s']).toMatchObject({ stringValue: 'x' });
    expect(f['n']).toMatchObject({ numberValue: 1.5 });
    expect(f['b']).toMatchObject({ boolValue: true });
    expect(f['z']).toMatchObject({ nullValue: 'NULL_VALUE' });
    expect(f['l']).toMatchObject({ listValue: { values: [{ stringValue: 'a' }, { numberValue: 2 }] } });
    expect(f['o']).toMatchObject({ structValue: { fields: { p: { structValue: { fields: { q: { listValue: {} } } } } } } });
  });
});
