/**
 * The daemons' shared entry point in-process (src/common/daemon.ts), with a fake process spec: signals arriving before
 * the process is up, SIGHUP reloads, and a config file that no longer validates. The signals are delivered by calling
 * the listener runDaemonCli installed (the seam), not by kill(2) on the test runner. Real processes: test/integration/
 * signals.test.ts.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { runDaemonCli, type DaemonSpec } from '../../src/common/daemon.js';
import type { Logger, LogLevel } from '../../src/common/log.js';

interface FakeConfig {
  readonly logLevel: LogLevel;
  readonly port: number;
  readonly warnings: readonly string[];
}

function deferred<T = void>(): { promise: Promise<T>; resolve: (v: T) => void } {
  let resolve!: (v: T) => void;
  const promise = new Promise<T>((r) => (resolve = r));
  return { promise, resolve };
}

/** The listener runDaemonCli added for `signal` (the last one added). */
function listenerFor(signal: NodeJS.Signals, before: number): (s: NodeJS.Signals) => void {
  const all = process.listeners(signal);
  expect(all.length).toBe(before + 1);
  return all.at(-1) as (s: NodeJS.Signals) => void;
}

let dir: string;
let file: string;
let stderr: string[];
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'tessera-daemon-'));
  file = join(dir, 'fake.json');
  stderr = [];
  logged = [];
  vi.spyOn(process.stderr, 'write').mockImplementation((chunk: string | Uint8Array) => {
    stderr.push(String(chunk));
    return true;
  });
});
afterEach(() => {
  vi.restoreAllMocks();
  rmSync(dir, { recursive: true, force: true });
});

const write = (config: unknown) => writeFileSync(file, JSON.stringify(config));
const load = (f: string): FakeConfig => {
  const raw = JSON.parse(readFileSync(f, 'utf8')) as Partial<FakeConfig> & { bad?: boolean };
  if (raw.bad) throw new Error('bad is set');
  return { logLevel: raw.logLevel ?? 'info', port: raw.port ?? 1, warnings: raw.warnings ?? [] };
};
/** What the daemon logged (its logger writes JSON lines here). */
let logged: Record<string, unknown>[] = [];
const logs = () => logged;
const destination = { write: (line: string) => void logged.push(JSON.parse(line) as Record<string, unknown>) };

function spec(start: DaemonSpec<FakeConfig>['start']): DaemonSpec<FakeConfig> {
  return { noun: 'server', usage: 'usage\n', exampleConfig: 'deploy/x.yaml', load, start, stoppingMessage: 'Stopping fake' };
}

describe('runDaemonCli signals', () => {
  it('stops with exit code 0 when SIGTERM arrives while the process is still starting', async () => {
    write({ warnings: ['old data dir in use'] });
    const started = deferred();
    const stop = vi.fn(async () => undefined);
    const before = process.listenerCount('SIGTERM');
    const exit = runDaemonCli(spec(async () => {
        await started.promise;
        return { stop };
      }), ['run', '--config', file], destination);
    await vi.waitFor(() => expect(process.listenerCount('SIGTERM')).toBe(before + 1));
    listenerFor('SIGTERM', before)('SIGTERM');
    expect(stop).not.toHaveBeenCalled();
    started.resolve();
    expect(await exit).toBe(0);
    expect(stop).toHaveBeenCalledTimes(1);
    expect(process.listenerCount('SIGTERM')).toBe(before);
    expect(process.listenerCount('SIGHUP')).toBe(0);
    const msgs = logs().map((l) => l['msg']);
    expect(msgs).toEqual(['old data dir in use', 'Stopping fake', 'Stopped cleanly']);
  });

  it('reloads on SIGHUP: applies the log level, reports what the process re-read and what needs a restart', async () => {
    write({ logLevel: 'info', port: 1 });
    let log!: Logger;
    const reload = vi.fn(async (c: FakeConfig) => (c.port === 1 ? ['port'] : []));
    const up = deferred();
    const beforeTerm = process.listenerCount('SIGTERM');
    const beforeHup = process.listenerCount('SIGHUP');
    const exit = runDaemonCli(
      spec(async (_c, l) => {
        log = l;
        up.resolve();
        return { stop: async () => undefined, reload };
      }),
      ['run', '--config', file],
      destination,
    );
    await up.promise;
    const hup = listenerFor('SIGHUP', beforeHup);

    write({ logLevel: 'debug', port: 1 });
    hup('SIGHUP');
    await vi.waitFor(() => expect(logs().filter((l) => l['msg'] === 'Configuration reloaded')).toHaveLength(1));
    expect(log.level).toBe('debug');
    expect(logs().at(-1)).toMatchObject({ reloaded: ['logLevel', 'port'], needsRestart: [] });

    write({ logLevel: 'debug', port: 2 });
    hup('SIGHUP');
    await vi.waitFor(() => expect(logs().filter((l) => l['msg'] === 'Configuration reloaded')).toHaveLength(2));
    expect(logs().find((l) => l['msg'] === 'Configuration reloaded' && (l['needsRestart'] as string[]).length > 0)).toMatchObject({
      reloaded: [],
      needsRestart: ['port'],
    });
    expect(logs().at(-1)).toMatchObject({ level: 'warn', settings: ['port'] });

    write({ bad: true });
    hup('SIGHUP');
    await vi.waitFor(() => expect(logs().some((l) => String(l['msg']).startsWith('Configuration not reloaded'))).toBe(true));
    expect(logs().at(-1)).toMatchObject({ reason: 'bad is set' });
    expect(log.level).toBe('debug');
    expect(reload).toHaveBeenCalledTimes(2);

    listenerFor('SIGTERM', beforeTerm)('SIGTERM');
    expect(await exit).toBe(0);
  });

  it('reloads once the process is up when SIGHUP arrived while it was starting', async () => {
    write({ logLevel: 'info' });
    const started = deferred();
    const reload = vi.fn(async () => []);
    const beforeHup = process.listenerCount('SIGHUP');
    const beforeTerm = process.listenerCount('SIGTERM');
    const exit = runDaemonCli(spec(async () => {
        await started.promise;
        return { stop: async () => undefined, reload };
      }), ['run', '--config', file], destination);
    await vi.waitFor(() => expect(process.listenerCount('SIGHUP')).toBe(beforeHup + 1));
    listenerFor('SIGHUP', beforeHup)('SIGHUP');
    started.resolve();
    await vi.waitFor(() => expect(reload).toHaveBeenCalledTimes(1));
    listenerFor('SIGTERM', beforeTerm)('SIGTERM');
    expect(await exit).toBe(0);
  });
});
