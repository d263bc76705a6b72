/**
 * java-spiffe (io.spiffe:java-spiffe-core 0.8.17 from Maven Central, unchanged) against the built agent: its
 * grpc-java sends the Unix socket's path as HTTP/2 :authority, which Node's http2 refuses unless the agent rewrites it
 * (src/agent/workloadapi/authority-rewrite.ts). test/interop/java (built by scripts/test-deps.sh: `mvn package`) fetches
 * the X.509 context and verifies the chain against the fetched bundles, fetches a JWT-SVID and validates it locally
 * and through ValidateJWTSVID; this test checks what it printed against the entry and the server's own bundle.
 * Fails, never skips, when Java or the built project is missing. TESSERA_JAVA overrides the java binary.
 */
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runProcess, type ProcessRun } from '../helpers/run-process.js';
import { expectRoundTrip } from '../agent/workloadapi/authority-roundtrip.js';
import { headerLists, startCaptureProxy } from '../helpers/http2-frames.js';
import { INTEROP_TD, startInteropAgent, validateReceivedJwt, verifyReceivedChain, type InteropAgent } from './clients.js';

const JAVA_DIR = fileURLToPath(new URL('./java/', import.meta.url));
const JAVA = process.env['TESSERA_JAVA'] ?? 'java';
const CLASSPATH = ['target/classes', 'target/lib/*'].join(':');
const SPIFFE_ID = `spiffe://${INTEROP_TD}/interop/java`;
const AUDIENCE = `spiffe://${INTEROP_TD}/java-rp`;

interface JavaResult {
  x509SpiffeId: string;
  x509Chain: string[];
  jwtSpiffeId: string;
  jwtValidatedSpiffeId: string;
  jwtToken: string;
}

function runJava(args: string[]): Promise<ProcessRun> {
  return runProcess(JAVA, ['-cp', CLASSPATH, 'io.tessera.interop.FetchSvids', ...args], { cwd: JAVA_DIR });
}

let agent: InteropAgent;

beforeAll(async () => {
  agent = await startInteropAgent('tessera-java-spiffe-', SPIFFE_ID);
}, 180_000);
afterAll(() => agent?.close());

describe('java-spiffe 0.8.17 against the agent', () => {
  it('is built (scripts/test-deps.sh runs mvn package in test/interop/java)', () => {
    expect(existsSync(fileURLToPath(new URL('./java/target/lib/java-spiffe-core-0.8.17.jar', import.meta.url)))).toBe(true);
    expect(existsSync(fileURLToPath(new URL('./java/target/classes/io/tessera/interop/FetchSvids.class', import.meta.url)))).toBe(
      true,
    );
  });

  it('fetches an X509-SVID and a JWT-SVID with the socket path as :authority, and both are valid', async () => {
    const r = await runJava([agent.socket, AUDIENCE]);
    expect(r.code, `java exited ${r.code}:\n${r.stderr}`).toBe(0);
    const got = JSON.parse(r.stdout) as JavaResult;

    // X.509: the entry's ID, and the chain verifies against the server's bundle (java-spiffe verified it against the
    // bundle it fetched before printing).
    expect(got.x509SpiffeId).toBe(SPIFFE_ID);
    const bundle = agent.bundle();
    expect(verifyReceivedChain(got.x509Chain.map((b) => Buffer.from(b, 'base64')), bundle)).toBe(SPIFFE_ID);

    // JWT: java-spiffe validated it against the fetched JWT bundles and through ValidateJWTSVID; so do we.
    expect(got.jwtSpiffeId).toBe(SPIFFE_ID);
    expect(got.jwtValidatedSpiffeId).toBe(SPIFFE_ID);
    expect(await validateReceivedJwt(got.jwtToken, bundle, AUDIENCE)).toBe(SPIFFE_ID);
  }, 120_000);

  it('sends its socket path as :authority, and its byte stream round-trips through the rewriter (differential)', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'tessera-java-capture-'));
    const proxy = await startCaptureProxy(join(dir, 'proxy.sock'), agent.socket);
    try {
      const r = await runJava([proxy.path, AUDIENCE]);
      expect(r.code, `java exited ${r.code}:\n${r.stderr}`).toBe(0);
      const [bytes] = proxy.captured();
      expect(bytes).toBeDefined();
      const authorities = headerLists(bytes!).flatMap((l) => l.fields.filter(([n]) => n === ':authority').map(([, v]) => v));
      // grpc-java's authority for a Unix socket: the path (what Node's http2 refuses).
      expect(authorities.length).toBeGreaterThanOrEqual(4);
      expect(new Set(authorities)).toEqual(new Set([proxy.path]));
      expect(expectRoundTrip(bytes!)).toBe(authorities.length);
    } finally {
      await proxy.close();
      rmSync(dir, { recursive: true, force: true });
    }
  }, 120_000);
});
