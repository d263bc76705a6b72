/**
 * go-spiffe's svid/x509svid/testdata (spiffe-notes §8): each file through parseX509SvidPem / parseX509Svid with the
 * reference parser's verdict, mapped to our error codes. The files are read from the go-spiffe module that the
 * interop harness downloads (test/helpers/go-spiffe-testdata.ts).
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { decodePem } from '../../../src/spiffe/pem.js';
import { parseX509Svid, parseX509SvidPem } from '../../../src/spiffe/x509svid/index.js';
import { goSpiffeTestdata } from '../../helpers/go-spiffe-testdata.js';

const DIR = goSpiffeTestdata('svid/x509svid');
const read = (name: string): string => readFileSync(join(DIR, name), 'utf8');

interface Row {
  readonly cert: string;
  readonly key: string;
  /** Expected SPIFFE ID and certificate count, or the error code and rule. */
  readonly ok?: { id: string; certs: number };
  readonly error?: { code: string; rule: string };
}

const INVALID = 'ERR_X509_SVID_INVALID';
const KEY = 'ERR_KEY_INVALID';
const WORKLOAD = 'spiffe://example.org/workload-1';

const ROWS: readonly Row[] = [
  { cert: 'good-leaf-only.pem', key: 'key-pkcs8-rsa.pem', ok: { id: WORKLOAD, certs: 1 } },
  { cert: 'good-leaf-and-intermediate.pem', key: 'key-pkcs8-ecdsa.pem', ok: { id: WORKLOAD, certs: 2 } },
  { cert: 'good-cert-and-key.pem', key: 'good-cert-and-key.pem', ok: { id: WORKLOAD, certs: 1 } },
  { cert: 'good-key-and-cert.pem', key: 'good-key-and-cert.pem', ok: { id: WORKLOAD, certs: 1 } },
  { cert: 'good-leaf-and-intermediate.pem', key: 'key-pkcs8-rsa.pem', error: { code: KEY, rule: 'key-mismatch' } },
  { cert: 'key-pkcs8-rsa.pem', key: 'key-pkcs8-rsa.pem', error: { code: INVALID, rule: 'no-certificates' } },
  { cert: 'key-pkcs8-ecdsa.pem', key: 'key-pkcs8-ecdsa.pem', error: { code: INVALID, rule: 'no-certificates' } },
  { cert: 'good-leaf-only.pem', key: 'good-leaf-only.pem', error: { code: KEY, rule: 'no-private-key' } },
  { cert: 'not-pem', key: 'key-pkcs8-rsa.pem', error: { code: INVALID, rule: 'no-pem-blocks' } },
  { cert: 'good-leaf-only.pem', key: 'not-pem', error: { code: KEY, rule: 'no-pem-blocks' } },
  { cert: 'corrupt-cert.pem', key: 'key-pkcs8-rsa.pem', error: { code: INVALID, rule: 'malformed-certificate' } },
  { cert: 'good-leaf-only.pem', key: 'corrupt-key.pem', error: { code: KEY, rule: 'malformed-private-key' } },
  { cert: 'wrong-leaf-empty-id.pem', key: 'key-pkcs8-ecdsa.pem', error: { code: INVALID, rule: 'no-uri-san' } },
  { cert: 'wrong-leaf-ca-true.pem', key: 'key-pkcs8-ecdsa.pem', error: { code: INVALID, rule: 'leaf-ca-flag' } },
  {
    cert: 'wrong-leaf-no-digital-signature.pem',
    key: 'key-pkcs8-ecdsa.pem',
    error: { code: INVALID, rule: 'leaf-digital-signature' },
  },
  { cert: 'wrong-leaf-cert-sign.pem', key: 'key-pkcs8-ecdsa.pem', error: { code: INVALID, rule: 'leaf-key-cert-sign' } },
  { cert: 'wrong-leaf-crl-sign.pem', key: 'key-pkcs8-ecdsa.pem', error: { code: INVALID, rule: 'leaf-crl-sign' } },
  { cert: 'wrong-intermediate-no-ca.pem', key: 'key-pkcs8-ecdsa.pem', error: { code: INVALID, rule: 'signing-not-ca' } },
  {
    cert: 'wrong-intermediate-no-key-cert-sign.pem',
    key: 'key-pkcs8-ecdsa.pem',
    error: { code: INVALID, rule: 'signing-key-cert-sign' },
  },
];

function outcome(fn: () => { spiffeId: { toString(): string }; certificates: unknown[] }): unknown {
  try {
    const svid = fn();
    return { ok: { id: svid.spiffeId.toString(), certs: svid.certificates.length } };
  } catch (err) {
    const e = err as { code?: string; rule?: string };
    if (!e.code) throw err;
    return { error: { code: e.code, rule: e.rule } };
  }
}

/** DER form of a PEM file for the DER entry point (ParseRaw): certificates concatenated, first private key. */
function derOf(name: string, type: string): Uint8Array | undefined {
  let blocks;
  try {
    blocks = decodePem(read(name));
  } catch {
    return undefined;
  }
  const matching = blocks.filter((b) => b.type === type).map((b) => b.der);
  return matching.length ? Buffer.concat(matching) : undefined;
}

describe('go-spiffe x509svid testdata', () => {
  it('covers every file of the directory', () => {
    const used = new Set(ROWS.flatMap((r) => [r.cert, r.key]));
    const files = readdirSync(DIR).sort();
    expect(files.filter((f) => !used.has(f))).toEqual([]);
  });

  for (const row of ROWS) {
    const expected = row.ok ? { ok: row.ok } : { error: row.error };
    it(`PEM ${row.cert} + ${row.key} → ${row.ok ? 'ok' : row.error!.rule}`, () => {
      expect(outcome(() => parseX509SvidPem(read(row.cert), read(row.key)))).toEqual(expected);
    });
  }

  // The DER entry point (go-spiffe ParseRaw) on the rows whose inputs are certificates and a key.
  for (const row of ROWS) {
    const certs = derOf(row.cert, 'CERTIFICATE');
    const key = derOf(row.key, 'PRIVATE KEY');
    if (!certs || !key || row.cert === 'corrupt-cert.pem' || row.key === 'corrupt-key.pem') continue;
    const expected = row.ok ? { ok: row.ok } : { error: row.error };
    it(`DER ${row.cert} + ${row.key} → ${row.ok ? 'ok' : row.error!.rule}`, () => {
      expect(outcome(() => parseX509Svid(certs, key))).toEqual(expected);
    });
  }

  it('DER forms of the corrupt files', () => {
    const certs = derOf('corrupt-cert.pem', 'CERTIFICATE')!;
    const key = derOf('corrupt-key.pem', 'PRIVATE KEY')!;
    const goodCert = derOf('good-leaf-only.pem', 'CERTIFICATE')!;
    expect(outcome(() => parseX509Svid(certs))).toEqual({ error: { code: INVALID, rule: 'malformed-certificate' } });
    expect(outcome(() => parseX509Svid(goodCert, key))).toEqual({ error: { code: KEY, rule: 'malformed-private-key' } });
  });
});
