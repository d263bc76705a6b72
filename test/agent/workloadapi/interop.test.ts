/**
 * go-spiffe's workloadapi client against our Workload API: this file starts the API on a Unix socket with a fake
 * provider serving real SVIDs, then runs the TestWorkload* Go tests of test/interop (workloadapi_test.go) with
 * TESSERA_WORKLOAD_SOCKET set, and checks each one reported PASS. `go test` runs as an async child: the API answers
 * from this process's event loop meanwhile.
 */
import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { delimiter, dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startWorkloadApi, type WorkloadApi } from '../../../src/agent/workloadapi/index.js';
import { RecordingCallerCredentialsReader, FakeWorkloadProvider, type FakeIdentity } from '../../helpers/fake-workload-provider.js';
import { findGo } from '../../helpers/go.js';
import { startCaptureProxy } from '../../helpers/http2-frames.js';
import { captureLogger } from '../../helpers/log-capture.js';
import { expectRoundTrip } from './authority-roundtrip.js';

const INTEROP_DIR = fileURLToPath(new URL('../../interop/', import.meta.url));
const GO_TIMEOUT_MS = 10 * 60_000;
const IDENTITIES: FakeIdentity[] = [
  { spiffeId: 'spiffe://example.org/workload', hint: 'main' },
  { spiffeId: 'spiffe://example.org/second', hint: 'second' },
];
const WITH_IDENTITY = [
  'TestWorkloadX509Context',
  'TestWorkloadX509Source',
  'TestWorkloadJWT',
  'TestWorkloadWatchRotation',
  'TestWorkloadSecurityHeader',
  'TestWorkloadWITUnimplemented',
];

const go = findGo();
let dir: string;
let provider: FakeWorkloadProvider;
let api: WorkloadApi;
let rotation: NodeJS.Timeout | undefined;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'tessera-wlapi-interop-'));
  provider = await FakeWorkloadProvider.create(IDENTITIES);
  api = await startWorkloadApi({
    socketPath: join(dir, 'api.sock'),
    provider,
    credentials: new RecordingCallerCredentialsReader(),
    log: captureLogger('warn').log,
  });
});

afterAll(async () => {
  if (rotation) clearInterval(rotation);
  await api?.stop();
  await rm(dir, { recursive: true, force: true });
});

function runGo(args: string[], env: Record<string, string>): Promise<{ code: number | null; output: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(go!, args, {
      cwd: INTEROP_DIR,
      env: { ...process.env, PATH: [dirname(go!), process.env['PATH'] ?? ''].join(delimiter), ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    child.stdout.on('data', (d: Buffer) => (output += d.toString('utf8')));
    child.stderr.on('data', (d: Buffer) => (output += d.toString('utf8')));
    const timer = setTimeout(() => child.kill('SIGKILL'), GO_TIMEOUT_MS);
    child.once('error', reject);
    child.once('close', (code) => {
      clearTimeout(timer);
      resolve({ code, output });
    });
  });
}

function results(output: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const m of output.matchAll(/^--- (PASS|FAIL|SKIP): (TestWorkload\w*) \(/gm)) out.set(m[2]!, m[1]!);
  return out;
}

/** `go test` selecting exactly `tests` (the Go side fails rather than skips a test run in the wrong mode). */
const goArgs = (tests: readonly string[]) => ['test', '-count=1', '-v', '-run', `^(${tests.join('|')})$`, '.'];

describe('go-spiffe workloadapi against the Workload API', () => {
  it('finds the Go toolchain', () => {
    expect(go, 'no `go` on PATH nor in /usr/local/go/bin').toBeDefined();
  });

  it(
    'a caller with identities: X509 context and source, JWT, validation, rotation watch, header, WIT',
    async () => {
      // Rotate the caller's SVIDs all along, so the watcher sees new ones (other tests only need valid ones).
      rotation = setInterval(() => provider.defaultSession.rotate(), 300);
      const firstCaller = provider.callers.length;
      const r = await runGo(goArgs(WITH_IDENTITY), {
        TESSERA_WORKLOAD_SOCKET: api.socketPath,
        TESSERA_WORKLOAD_MODE: 'identity',
        TESSERA_WORKLOAD_IDS: IDENTITIES.map((i) => i.spiffeId).join(','),
        TESSERA_WORKLOAD_HINTS: IDENTITIES.map((i) => i.hint).join(','),
        TESSERA_WORKLOAD_FEDERATED: 'federated.test',
      });
      clearInterval(rotation);
      rotation = undefined;
      const got = results(r.output);
      expect(
        WITH_IDENTITY.map((t) => [t, got.get(t) ?? 'MISSING']),
        r.output,
      ).toEqual(WITH_IDENTITY.map((t) => [t, 'PASS']));
      expect(got.has('TestWorkloadNoIdentity'), r.output).toBe(false);
      expect(r.output).not.toMatch(/--- SKIP/);
      expect(r.code, r.output).toBe(0);
      // The callers were read from the kernel: the Go test process, not us.
      const callers = provider.callers.slice(firstCaller);
      expect(callers.length).toBeGreaterThan(0);
      expect(callers.filter((c) => c.pid === process.pid || c.pid <= 0)).toEqual([]);
      expect(new Set(callers.map((c) => c.uid))).toEqual(new Set([process.getuid!()]));
      // Everything the Go client opened is gone again.
      const until = Date.now() + 5000;
      while (api.stats().streams > 0 && Date.now() < until) await new Promise((res) => setTimeout(res, 20));
      expect(api.stats()).toMatchObject({ streams: 0, sessions: 0 });
      expect(provider.defaultSession.listenerCount()).toBe(0);
    },
    GO_TIMEOUT_MS,
  );

  it(
    "go-spiffe's HTTP/2 byte stream round-trips through the authority rewriter (differential)",
    async () => {
      const proxy = await startCaptureProxy(join(dir, 'capture.sock'), api.socketPath);
      try {
        const r = await runGo(goArgs(['TestWorkloadJWT']), {
          TESSERA_WORKLOAD_SOCKET: proxy.path,
          TESSERA_WORKLOAD_MODE: 'identity',
          TESSERA_WORKLOAD_IDS: IDENTITIES.map((i) => i.spiffeId).join(','),
          TESSERA_WORKLOAD_HINTS: IDENTITIES.map((i) => i.hint).join(','),
          TESSERA_WORKLOAD_FEDERATED: 'federated.test',
        });
        expect(results(r.output).get('TestWorkloadJWT'), r.output).toBe('PASS');
        const streams = proxy.captured().filter((b) => b.length > 0);
        expect(streams.length).toBeGreaterThan(0);
        // go-spiffe sends "localhost": nothing to rewrite, every block passes as it came.
        for (const bytes of streams) expect(expectRoundTrip(bytes)).toBe(0);
      } finally {
        await proxy.close();
      }
    },
    GO_TIMEOUT_MS,
  );

  it(
    'a caller without identity gets PermissionDenied everywhere',
    async () => {
      provider.defaultSession.setIdentities([]);
      try {
        const r = await runGo(goArgs(['TestWorkloadNoIdentity']), {
          TESSERA_WORKLOAD_SOCKET: api.socketPath,
          TESSERA_WORKLOAD_MODE: 'no-identity',
        });
        const got = results(r.output);
        expect(got.get('TestWorkloadNoIdentity'), r.output).toBe('PASS');
        for (const t of WITH_IDENTITY) expect(got.has(t), t).toBe(false);
        expect(r.output).not.toMatch(/--- SKIP/);
        expect(r.code, r.output).toBe(0);
      } finally {
        provider.defaultSession.setIdentities(IDENTITIES);
      }
    },
    GO_TIMEOUT_MS,
  );

  it(
    'fails (never skips) when TESSERA_WORKLOAD_SOCKET is set but nothing answers',
    async () => {
      const r = await runGo(goArgs(WITH_IDENTITY), { TESSERA_WORKLOAD_SOCKET: join(dir, 'nobody-here.sock') });
      expect(r.code, r.output).not.toBe(0);
      expect(r.output).toMatch(/does not answer/);
      expect(results(r.output).get('TestWorkloadX509Context')).toBe('FAIL');
    },
    GO_TIMEOUT_MS,
  );
});
