/**
 * A change pushed to 1,000 open FetchX509SVID streams over real connections: every stream gets it
 * and nothing stays subscribed afterwards. Timings are logged (the bench measures them properly, out of process).
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { startWorkloadApi, type WorkloadApi } from '../../../src/agent/workloadapi/index.js';
import {
  RecordingCallerCredentialsReader,
  FakeWorkloadProvider,
  type FakeWorkloadSession,
} from '../../helpers/fake-workload-provider.js';
import { openFanoutStreams, type FanoutStreams } from '../../helpers/workload-fanout.js';
import { captureLogger } from '../../helpers/log-capture.js';

const STREAMS = 1000;
let dir: string | undefined;
let api: WorkloadApi | undefined;
let streams: FanoutStreams | undefined;

afterEach(async () => {
  streams?.close();
  await api?.stop();
  if (dir) await rm(dir, { recursive: true, force: true });
  [dir, api, streams] = [undefined, undefined, undefined];
});

async function start(provider: FakeWorkloadProvider): Promise<string> {
  dir = await mkdtemp(join(tmpdir(), 'tessera-fanout-'));
  const socketPath = join(dir, 'api.sock');
  api = await startWorkloadApi({
    socketPath,
    provider,
    credentials: new RecordingCallerCredentialsReader(),
    log: captureLogger('warn').log,
  });
  return socketPath;
}

describe(`push to ${STREAMS} streams`, () => {
  it('one session (one process, many streams): every stream gets the rotation', async () => {
    const provider = await FakeWorkloadProvider.create();
    streams = await openFanoutStreams(await start(provider), STREAMS);
    expect(api!.stats()).toMatchObject({ streams: STREAMS, sessions: 1 });
    expect(provider.defaultSession.listenerCount()).toBe(1);
    const ms = await streams.measure(() => provider.defaultSession.rotate());
    console.log(`fan-out: ${STREAMS} streams of one session: open ${streams.openMs.toFixed(0)} ms, push ${ms.toFixed(1)} ms`);
    streams.close();
    const until = Date.now() + 5000;
    while (api!.stats().streams > 0 && Date.now() < until) await new Promise((r) => setTimeout(r, 20));
    expect(api!.stats()).toMatchObject({ streams: 0, sessions: 0 });
    expect(provider.defaultSession.listenerCount()).toBe(0);
  });

  it(`${STREAMS} sessions (one stream each): every stream gets its own rotation`, async () => {
    const provider = await FakeWorkloadProvider.create();
    const sessions: FakeWorkloadSession[] = [];
    provider.resolve = () => {
      const s = provider.newSession([{ spiffeId: `spiffe://example.org/w/${sessions.length}` }]);
      sessions.push(s);
      return s;
    };
    streams = await openFanoutStreams(await start(provider), STREAMS);
    expect(api!.stats()).toMatchObject({ streams: STREAMS, sessions: STREAMS });
    const ms = await streams.measure(() => {
      for (const s of sessions) s.rotate();
    });
    console.log(`fan-out: ${STREAMS} sessions (re-signing included): push ${ms.toFixed(1)} ms`);
    streams.close();
    const until = Date.now() + 5000;
    while (api!.stats().sessions > 0 && Date.now() < until) await new Promise((r) => setTimeout(r, 20));
    expect(sessions.every((s) => s.listenerCount() === 0)).toBe(true);
  });
});
