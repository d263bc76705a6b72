// svid-sign: what one core does for leaf X509-SVIDs (architecture §8).
//   raw_sign_per_s   crypto.sign('sha256', 300-byte buffer, cached P-256 KeyObject): the floor
//   fast_per_s       X509SvidSigner.sign (DER template), leaf public key given as a KeyObject
//   fast_spki_per_s  the same with the key given as SPKI DER (what an agent sends the server)
//   peculiar_per_s   @peculiar/x509 X509CertificateGenerator.create with the same leaf profile
// Leaf keys: a pool of 4096 distinct P-256 keys generated before timing, used round-robin (key generation is not
// timed; no per-key state is cached by the signer). CA: P-256. Each figure runs for a fixed wall time, split into
// rounds that alternate between figures so that drift in machine speed hits all of them alike.
// Usage: npm run bench -- svid-sign [seconds-per-figure]   (default 2.5)
import 'reflect-metadata';
import { generateKeyPairSync, randomBytes, sign, webcrypto } from 'node:crypto';
import * as px from '@peculiar/x509';
import { SpiffeId, TrustDomain } from '../dist/spiffe/id/index.js';
import { createCaCertificate, X509SvidSigner } from '../dist/spiffe/x509svid/index.js';

const SECONDS = Number(process.argv[2] ?? 2.5);
const POOL = 4096;

/** Runs `fn` in batches for `ms` and returns operations per second (awaiting each call when `async`). */
async function timed(fn, ms, batch, async) {
  let n = 0;
  const start = performance.now();
  const end = start + ms;
  while (performance.now() < end) {
    if (async) for (let i = 0; i < batch; i++) await fn(n + i);
    else for (let i = 0; i < batch; i++) fn(n + i);
    n += batch;
  }
  return n / ((performance.now() - start) / 1000);
}

/**
 * Measures several figures fairly on a machine whose speed drifts: after a warm-up, the figures take turns in
 * ROUNDS short rounds, and each figure reports its median round. Total time per figure is SECONDS.
 */
const ROUNDS = 5;
async function interleaved(figures) {
  for (const f of figures) await timed(f.fn, 300, f.batch ?? 64, f.async);
  const results = figures.map(() => []);
  for (let r = 0; r < ROUNDS; r++) {
    for (const [k, f] of figures.entries()) results[k].push(await timed(f.fn, (SECONDS * 1000) / ROUNDS, f.batch ?? 64, f.async));
  }
  return results.map((rs) => rs.sort((a, b) => a - b)[Math.floor(rs.length / 2)]);
}

const td = TrustDomain.parse('example.org');
const now = new Date();
const ca = generateKeyPairSync('ec', { namedCurve: 'P-256' });
const caDer = await createCaCertificate({ trustDomain: td, publicKey: ca.publicKey, signer: { key: ca.privateKey }, now, ttlSeconds: 86400 });
const signer = X509SvidSigner.create({ caCertificate: caDer, caKey: ca.privateKey });

const keys = Array.from({ length: POOL }, () => generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey);
const spkis = keys.map((k) => new Uint8Array(k.export({ type: 'spki', format: 'der' })));
const ids = Array.from({ length: 64 }, (_, i) => SpiffeId.parse(`spiffe://example.org/ns/agents/sa/worker-${i}/instance/${randomBytes(8).toString('hex')}`));

// 1-2. Raw signature and the fast path, interleaved.
const buf = randomBytes(300);
const sample = signer.sign({ spiffeId: ids[0], publicKey: keys[0], now, ttlSeconds: 3600 });
const [rawSign, fast, fastSpki] = await interleaved([
  { fn: () => sign('sha256', buf, ca.privateKey) },
  { fn: (i) => signer.sign({ spiffeId: ids[i & 63], publicKey: keys[i % POOL], now, ttlSeconds: 3600 }) },
  { fn: (i) => signer.sign({ spiffeId: ids[i & 63], publicKey: spkis[i % POOL], now, ttlSeconds: 3600 }) },
]);

// 3. @peculiar/x509 generator, same profile.
const crypto = webcrypto;
const caCert = new px.X509Certificate(caDer);
const caSigningKey = await crypto.subtle.importKey('pkcs8', ca.privateKey.export({ type: 'pkcs8', format: 'der' }), { name: 'ECDSA', namedCurve: 'P-256' }, false, ['sign']);
const akiId = caCert.getExtension(px.SubjectKeyIdentifierExtension).keyId;
const fixed = [
  new px.BasicConstraintsExtension(false, undefined, true),
  new px.KeyUsagesExtension(px.KeyUsageFlags.digitalSignature | px.KeyUsageFlags.keyEncipherment | px.KeyUsageFlags.keyAgreement, true),
  new px.ExtendedKeyUsageExtension([px.ExtendedKeyUsage.serverAuth, px.ExtendedKeyUsage.clientAuth], false),
  new px.AuthorityKeyIdentifierExtension(akiId, false),
];
const [peculiar] = await interleaved([{
  async: true,
  batch: 8,
  fn: async (i) => {
    const spki = spkis[i % POOL];
    await px.X509CertificateGenerator.create(
      {
        serialNumber: randomBytes(16).toString('hex'),
        subject: 'C=US, O=Tessera',
        issuer: caCert.subjectName,
        notBefore: new Date(now.getTime() - 10_000),
        notAfter: new Date(now.getTime() + 3_600_000),
        publicKey: spki,
        signingKey: caSigningKey,
        signingAlgorithm: { name: 'ECDSA', hash: 'SHA-256' },
        extensions: [
          ...fixed,
          await px.SubjectKeyIdentifierExtension.create(spki, false, crypto),
          new px.SubjectAlternativeNameExtension([{ type: 'url', value: ids[i & 63].toString() }], false),
        ],
      },
      crypto,
    );
  },
}]);

const rows = [
  ['raw crypto.sign P-256 (300 B)', rawSign],
  ['fast path leaf (KeyObject)', fast],
  ['fast path leaf (SPKI DER)', fastSpki],
  ['@peculiar/x509 generator leaf', peculiar],
];
console.log(`svid-sign: node ${process.version}, ${SECONDS}s per figure (median of ${ROUNDS} interleaved rounds), leaf ${sample.der.length} B, CA P-256, pool of ${POOL} P-256 leaf keys`);
console.log('figure                              per second   vs raw sign');
for (const [label, v] of rows) {
  console.log(`${label.padEnd(34)} ${Math.round(v).toString().padStart(10)}   ${(v / rawSign).toFixed(2).padStart(8)}x`);
}
const emit = (metric, value) => console.log(JSON.stringify({ bench: 'svid-sign', metric, value }));
emit('raw_sign_per_s', Math.round(rawSign));
emit('fast_per_s', Math.round(fast));
emit('fast_spki_per_s', Math.round(fastSpki));
emit('peculiar_per_s', Math.round(peculiar));
emit('fast_vs_raw_sign', Number((fast / rawSign).toFixed(3)));
emit('fast_spki_vs_raw_sign', Number((fastSpki / rawSign).toFixed(3)));
