/**
 * go-spiffe interop: generate every fixture (fixtures.ts) into a temp dir, let go-spiffe judge them (`go test` in this
 * directory, one subtest per fixture) and let our own validators judge the same files. Both must reach the verdict
 * the manifest states, so go-spiffe and Tessera agree on what is and is not a valid SVID or bundle.
 */
import { spawnSync } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { delimiter, dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { JwtBundle, SpiffeBundle, X509Bundle, type JwtBundleSource } from '../../src/spiffe/bundle/index.js';
import { TrustDomain } from '../../src/spiffe/id/index.js';
import { parseAndValidateJwtSvid } from '../../src/spiffe/jwtsvid/index.js';
import { parseX509Svid, parseX509SvidPem, verifyX509Svid } from '../../src/spiffe/x509svid/index.js';
import { findGo } from '../helpers/go.js';
import { writeFixtures, type Fixture, type X509Stage } from './fixtures.js';

const INTEROP_DIR = fileURLToPath(new URL('.', import.meta.url));
const GO_TIMEOUT_MS = 10 * 60_000;

const dir = await mkdtemp(join(tmpdir(), 'tessera-interop-'));
const manifest = await writeFixtures(dir);
const verifyAt = new Date(manifest.verifyAt);

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

const read = (f: Fixture, role: string): Promise<Buffer> => {
  const rel = f.files[role];
  if (rel === undefined) throw new Error(`fixture ${f.name} has no ${role} file`);
  return readFile(join(dir, rel));
};

/** Splits concatenated DER (the Workload API chain form) into its top-level SEQUENCEs. */
function splitDer(bytes: Uint8Array): Uint8Array[] {
  const out: Uint8Array[] = [];
  let i = 0;
  while (i < bytes.length) {
    if (bytes[i] !== 0x30) throw new Error(`not a DER SEQUENCE at offset ${i}`);
    let len = bytes[i + 1]!;
    let header = 2;
    if (len & 0x80) {
      const n = len & 0x7f;
      len = 0;
      for (let k = 0; k < n; k++) len = len * 256 + bytes[i + 2 + k]!;
      header += n;
    }
    out.push(bytes.subarray(i, i + header + len));
    i += header + len;
  }
  return out;
}

function goEnv(go: string, fixtures: string): NodeJS.ProcessEnv {
  return { ...process.env, PATH: [dirname(go), process.env['PATH'] ?? ''].join(delimiter), TESSERA_FIXTURES: fixtures };
}

/** Runs `go <args>` in test/interop with TESSERA_FIXTURES pointing at `fixtures` (default: this run's fixtures). */
function runGo(go: string, args: string[], fixtures: string = dir) {
  const r = spawnSync(go, args, {
    cwd: INTEROP_DIR,
    env: goEnv(go, fixtures),
    encoding: 'utf8',
    timeout: GO_TIMEOUT_MS,
    maxBuffer: 64 * 1024 * 1024,
  });
  if (r.error) throw r.error;
  return { code: r.status, signal: r.signal, output: `${r.stdout}${r.stderr}` };
}

describe('fixture manifest', () => {
  it('covers the required valid and invalid cases', () => {
    const names = new Set(manifest.fixtures.map((f) => f.name));
    const required = [
      // valid, from our issuer APIs
      'x509-p256-root-signed',
      'x509-p384-root-signed',
      'x509-rsa2048-root-signed',
      'x509-p256-under-intermediate',
      'jwt-es256',
      'jwt-es384',
      'jwt-rs256',
      'jwt-ps256',
      'x509-bundle-two-roots',
      'jwt-bundle-jwks',
      'spiffe-bundle-full',
      // invalid
      'x509-invalid-leaf-ca-true',
      'x509-invalid-leaf-no-digital-signature',
      'x509-invalid-leaf-key-cert-sign',
      'x509-invalid-two-uri-sans',
      'x509-invalid-no-uri-san',
      'x509-invalid-root-path-id',
      'x509-invalid-unknown-ca',
      'x509-invalid-expired',
      'jwt-invalid-hs256',
      'jwt-invalid-alg-none',
      'jwt-invalid-no-kid',
      'jwt-invalid-expired',
      'jwt-invalid-audience-mismatch',
      'jwt-invalid-wrong-key',
      'jwt-invalid-foreign-trust-domain',
      'spiffe-bundle-invalid-two-x5c',
      'spiffe-bundle-invalid-jwt-no-kid',
    ];
    expect(required.filter((n) => !names.has(n))).toEqual([]);
    for (const f of manifest.fixtures) {
      if (f.expect === 'invalid') expect(f.reason, f.name).toBeTruthy();
      if (f.kind === 'x509-svid' && f.expect === 'invalid') expect(f.rejectedBy?.length, f.name).toBeGreaterThan(0);
    }
  });
});

describe('go-spiffe (test/interop/*_test.go)', () => {
  const go = findGo();

  it('finds the Go toolchain (PATH or /usr/local/go/bin)', () => {
    expect(go, 'no `go` on PATH nor in /usr/local/go/bin; install Go ≥ 1.24').toBeDefined();
  });

  it(
    'accepts every valid fixture and rejects every invalid one',
    () => {
      const r = runGo(go!, ['test', './...', '-count=1', '-v', '-run', '^TestFixtures$']);
      const results = new Map<string, string>();
      for (const m of r.output.matchAll(/^\s*--- (PASS|FAIL|SKIP): TestFixtures\/(\S+) \(/gm)) {
        results.set(m[2]!, m[1]!);
      }
      const notPassed = manifest.fixtures
        .map((f) => [f.name, results.get(f.name) ?? 'MISSING'] as const)
        .filter(([, status]) => status !== 'PASS');
      expect(notPassed, r.output).toEqual([]);
      expect(results.size, 'go test reported subtests that are not in the manifest').toBe(manifest.fixtures.length);
      expect(r.output).toMatch(/^--- PASS: TestFixtures \(/m);
      expect(r.output, 'no Go test may skip').not.toMatch(/--- SKIP/);
      expect(r.code, r.output).toBe(0);
    },
    GO_TIMEOUT_MS,
  );

  it(
    'fails (never passes silently) when the manifest is missing or lists no fixtures',
    async () => {
      const empty = await mkdtemp(join(tmpdir(), 'tessera-interop-empty-'));
      try {
        const missing = runGo(go!, ['test', './...', '-count=1', '-run', '^TestFixtures$'], empty);
        expect(missing.code, missing.output).not.toBe(0);
        expect(missing.output).toMatch(/cannot read the fixture manifest/);
        await writeFile(
          join(empty, 'manifest.json'),
          JSON.stringify({ ...manifest, fixtures: [] }),
        );
        const none = runGo(go!, ['test', './...', '-count=1', '-run', '^TestFixtures$'], empty);
        expect(none.code, none.output).not.toBe(0);
        expect(none.output).toMatch(/lists no fixtures/);
      } finally {
        await rm(empty, { recursive: true, force: true });
      }
    },
    GO_TIMEOUT_MS,
  );

  it(
    'go vet is clean',
    () => {
      const r = runGo(go!, ['vet', './...']);
      expect(r.code, r.output).toBe(0);
    },
    GO_TIMEOUT_MS,
  );
});

type Outcome = { ok: true; spiffeId?: string } | { ok: false; error: unknown };

async function outcome(fn: () => unknown): Promise<Outcome> {
  try {
    const v = await fn();
    const id = (v as { spiffeId?: { toString(): string } } | undefined)?.spiffeId;
    return id === undefined ? { ok: true } : { ok: true, spiffeId: id.toString() };
  } catch (error) {
    return { ok: false, error };
  }
}

function describeError(o: Outcome): string {
  if (o.ok) return 'accepted';
  const e = o.error as { code?: string; message?: string };
  return `${e.code ?? 'no code'}: ${e.message ?? String(o.error)}`;
}

describe('Tessera validators agree with the manifest', () => {
  it.each(manifest.fixtures.map((f) => [f.name, f] as const))('%s', async (_name, f) => {
    const td = TrustDomain.parse(f.trustDomain);
    switch (f.kind) {
      case 'x509-svid': {
        const chainDer = new Uint8Array(await read(f, 'chain'));
        const chain = splitDer(chainDer);
        const key = new Uint8Array(await read(f, 'key'));
        const [chainPem, keyPem] = [(await read(f, 'chainPem')).toString('utf8'), (await read(f, 'keyPem')).toString('utf8')];
        const sources = [
          X509Bundle.parseDer(td, await read(f, 'bundle')),
          X509Bundle.parsePem(td, (await read(f, 'bundlePem')).toString('utf8')),
        ];
        if (f.files['spiffeBundle'] !== undefined) sources.push(SpiffeBundle.parse(td, await read(f, 'spiffeBundle')).x509Bundle);
        const stages: Record<X509Stage, Outcome[]> = {
          parse: [await outcome(() => parseX509Svid(chainDer, key)), await outcome(() => parseX509SvidPem(chainPem, keyPem))],
          verify: await Promise.all(sources.map((s) => outcome(() => verifyX509Svid(chain, s, { now: verifyAt })))),
        };
        if (f.expect === 'valid') {
          for (const [stage, outcomes] of Object.entries(stages)) {
            for (const o of outcomes) {
              expect(o.ok, `${stage}: ${describeError(o)}`).toBe(true);
              if (o.ok && o.spiffeId !== undefined) expect(o.spiffeId, stage).toBe(f.spiffeId);
            }
          }
          expect((stages.verify[0] as { spiffeId?: string }).spiffeId).toBe(f.spiffeId);
        } else {
          // Where go-spiffe rejects, we reject too (our stages may be stricter than go-spiffe's, never laxer).
          for (const stage of f.rejectedBy ?? []) {
            for (const o of stages[stage]) expect(o.ok, `${stage} must reject (${f.reason})`).toBe(false);
          }
        }
        break;
      }
      case 'jwt-svid': {
        const raw = await read(f, 'bundle');
        const source: JwtBundleSource = f.bundleFormat === 'spiffe' ? SpiffeBundle.parse(td, raw) : JwtBundle.parseJwks(td, raw);
        const token = (await read(f, 'token')).toString('utf8');
        const o = await outcome(() => parseAndValidateJwtSvid(token, source, f.audience ?? [], { now: new Date() }));
        if (f.expect === 'valid') {
          expect(o.ok, describeError(o)).toBe(true);
          expect(o.ok && o.spiffeId).toBe(f.spiffeId);
        } else {
          expect(o.ok, `must reject (${f.reason})`).toBe(false);
        }
        break;
      }
      case 'x509-bundle': {
        const parsed = [
          await outcome(async () => X509Bundle.parseDer(td, await read(f, 'der'))),
          await outcome(async () => X509Bundle.parsePem(td, (await read(f, 'pem')).toString('utf8'))),
        ];
        for (const o of parsed) expect(o.ok, describeError(o)).toBe(f.expect === 'valid');
        if (f.expect === 'valid') {
          const a = X509Bundle.parseDer(td, await read(f, 'der'));
          const b = X509Bundle.parsePem(td, (await read(f, 'pem')).toString('utf8'));
          expect(a.x509Authorities.length).toBe(f.bundle!.x509Authorities);
          expect(a.equals(b)).toBe(true);
        }
        break;
      }
      case 'jwt-bundle': {
        const raw = await read(f, 'jwks');
        const o = await outcome(() => JwtBundle.parseJwks(td, raw));
        expect(o.ok, describeError(o)).toBe(f.expect === 'valid');
        if (f.expect === 'valid') {
          expect([...JwtBundle.parseJwks(td, raw).jwtAuthorities.keys()].sort()).toEqual([...f.bundle!.jwtKeyIds].sort());
        }
        break;
      }
      case 'spiffe-bundle': {
        const raw = await read(f, 'json');
        const o = await outcome(() => SpiffeBundle.parse(td, raw));
        expect(o.ok, describeError(o)).toBe(f.expect === 'valid');
        if (f.expect === 'valid') {
          const b = SpiffeBundle.parse(td, raw);
          const want = f.bundle!;
          expect(b.x509Bundle.x509Authorities.length).toBe(want.x509Authorities);
          expect([...b.jwtBundle.jwtAuthorities.keys()].sort()).toEqual([...want.jwtKeyIds].sort());
          expect(b.sequenceNumber).toBe(want.sequenceNumber === undefined ? undefined : BigInt(want.sequenceNumber));
          expect(b.refreshHintSeconds).toBe(want.refreshHintSeconds);
        }
        break;
      }
    }
  });
});
