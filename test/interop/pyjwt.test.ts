/**
 * A second, non-TypeScript validator: PyJWT (from PyPI, installed by .ci/run into .tessera/pyjwt-venv) validates
 * JWT-SVIDs of a real `tessera server` process through OIDC discovery and jwt.PyJWKClient. Fails, never skips, when
 * Python or PyJWT is missing. TESSERA_PYTHON overrides the interpreter.
 */
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { OIDC_TD, startOidcServer, type OidcServer } from '../helpers/oidc-server.js';

const VENV_PYTHON = fileURLToPath(new URL('../../.tessera/pyjwt-venv/bin/python', import.meta.url));
const PYTHON = process.env['TESSERA_PYTHON'] ?? (existsSync(VENV_PYTHON) ? VENV_PYTHON : 'python3');
const SCRIPT = fileURLToPath(new URL('./validate_jwt.py', import.meta.url));
const AUDIENCE = `spiffe://${OIDC_TD}/python-rp`;

function validate(issuer: string, audience: string, token: string) {
  const r = spawnSync(PYTHON, [SCRIPT, issuer, audience], { input: token, encoding: 'utf8', timeout: 30_000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr + (r.error ? String(r.error) : '') };
}

let oidc: OidcServer;
let entry: string;

beforeAll(async () => {
  oidc = await startOidcServer();
  entry = oidc.createEntry(`spiffe://${OIDC_TD}/agents/py`);
}, 60_000);
afterAll(() => oidc?.close());

describe('PyJWT validates JWT-SVIDs through OIDC discovery', () => {
  it('has Python with PyJWT (installed by .ci/run)', () => {
    const r = spawnSync(PYTHON, ['-c', 'import jwt, cryptography; print(jwt.__version__)'], { encoding: 'utf8' });
    expect(r.status, `${PYTHON} cannot import jwt/cryptography (run .ci/run): ${r.stderr}${r.error ?? ''}`).toBe(0);
  });

  it('accepts a valid token', async () => {
    const token = await oidc.mint(entry, [AUDIENCE]);
    const r = validate(oidc.issuer, AUDIENCE, token);
    expect(r.code, r.stderr).toBe(0);
    const out = JSON.parse(r.stdout) as { claims: Record<string, unknown> };
    expect(out.claims['sub']).toBe(`spiffe://${OIDC_TD}/agents/py`);
    expect(out.claims['iss']).toBe(oidc.issuer);
  });

  it('refuses a token for another audience', async () => {
    const token = await oidc.mint(entry, ['spiffe://example.org/someone-else']);
    const r = validate(oidc.issuer, AUDIENCE, token);
    expect(r.code, r.stdout).toBe(1);
    expect(r.stderr).toMatch(/InvalidAudienceError/);
  });
});
