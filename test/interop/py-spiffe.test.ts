/**
 * py-spiffe (PyPI `spiffe` 0.3.2, unchanged; grpcio underneath) against the built agent: py_spiffe_fetch.py fetches
 * the X.509 context and a JWT-SVID, validates the JWT locally and through ValidateJWTSVID; this test checks what it
 * printed against the entry and the server's own bundle. py-spiffe lives in .tessera/py-spiffe-venv (installed by
 * scripts/test-deps.sh). Fails, never skips, when it is missing. TESSERA_PY_SPIFFE_PYTHON overrides the interpreter.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runProcess, type ProcessRun } from '../helpers/run-process.js';
import { expectRoundTrip } from '../agent/workloadapi/authority-roundtrip.js';
import { startCaptureProxy } from '../helpers/http2-frames.js';
import { INTEROP_TD, startInteropAgent, validateReceivedJwt, verifyReceivedChain, type InteropAgent } from './clients.js';

const PYTHON =
  process.env['TESSERA_PY_SPIFFE_PYTHON'] ?? fileURLToPath(new URL('../../.tessera/py-spiffe-venv/bin/python', import.meta.url));
const SCRIPT = fileURLToPath(new URL('./py_spiffe_fetch.py', import.meta.url));
const SPIFFE_ID = `spiffe://${INTEROP_TD}/interop/python`;
const AUDIENCE = `spiffe://${INTEROP_TD}/python-rp`;

interface PyResult {
  x509SpiffeId: string;
  x509Chain: string[];
  x509BundleAuthorities: number;
  jwtSpiffeId: string;
  jwtValidatedSpiffeId: string;
  jwtToken: string;
}

function run(args: string[]): Promise<ProcessRun> {
  return runProcess(PYTHON, args);
}

let agent: InteropAgent;

beforeAll(async () => {
  agent = await startInteropAgent('tessera-py-spiffe-', SPIFFE_ID);
}, 180_000);
afterAll(() => agent?.close());

describe('py-spiffe against the agent', () => {
  it('is installed (scripts/test-deps.sh)', async () => {
    const r = await run(['-c', 'import spiffe, importlib.metadata as m; print(m.version("spiffe"))']);
    expect(r.code, `${PYTHON} cannot import spiffe (run scripts/test-deps.sh): ${r.stderr}`).toBe(0);
    expect(r.stdout.trim()).toBe('0.3.2');
  });

  it('fetches an X509-SVID and a JWT-SVID, and both are valid', async () => {
    const r = await run([SCRIPT, agent.socket, AUDIENCE]);
    expect(r.code, `py-spiffe exited ${r.code}:\n${r.stderr}`).toBe(0);
    const got = JSON.parse(r.stdout) as PyResult;

    expect(got.x509SpiffeId).toBe(SPIFFE_ID);
    expect(got.x509BundleAuthorities).toBeGreaterThan(0);
    const bundle = agent.bundle();
    expect(verifyReceivedChain(got.x509Chain.map((b) => Buffer.from(b, 'base64')), bundle)).toBe(SPIFFE_ID);

    expect(got.jwtSpiffeId).toBe(SPIFFE_ID);
    expect(got.jwtValidatedSpiffeId).toBe(SPIFFE_ID);
    expect(await validateReceivedJwt(got.jwtToken, bundle, AUDIENCE)).toBe(SPIFFE_ID);
  }, 120_000);

  it('its byte stream (grpcio) passes the authority rewriter unchanged in meaning (differential)', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'tessera-py-capture-'));
    const proxy = await startCaptureProxy(join(dir, 'proxy.sock'), agent.socket);
    try {
      const r = await run([SCRIPT, proxy.path, AUDIENCE]);
      expect(r.code, `py-spiffe exited ${r.code}:\n${r.stderr}`).toBe(0);
      const [bytes] = proxy.captured();
      expect(bytes).toBeDefined();
      // grpcio sends an authority Node accepts: nothing to rewrite, and the bytes pass unchanged.
      expect(expectRoundTrip(bytes!)).toBe(0);
    } finally {
      await proxy.close();
      rmSync(dir, { recursive: true, force: true });
    }
  }, 120_000);
});
