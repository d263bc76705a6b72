// x509-path-dos: CPU cost of the crafted certificate sets of issue 10 item 8 (a bench, not a test threshold).
//   x509pop_attest   one x509pop Attest whose payload is a node certificate plus 7 CA certificates that all issue
//                    each other (same subject, same key, different serials) and chain to no configured anchor
//   x509pop_valid    the same Attest with an honest chain (node, intermediate) to the configured anchor: the baseline
//   svid_verify      verifyX509Svid of an X509-SVID presented with the same kind of 7 mutually-issuing intermediates
// Reports the payload size, the CPU time (process.cpuUsage, user + system) of one call, median of ROUNDS, and the
// outcome (the refusal message).
// Usage: npm run bench -- x509-path-dos [rounds]   (default 5)
import 'reflect-metadata';
import { webcrypto } from 'node:crypto';
import * as px from '@peculiar/x509';
import { createX509PopAttestor } from '../dist/server/nodeattestation/index.js';
import { X509Bundle } from '../dist/spiffe/bundle/x509-bundle.js';
import { TrustDomain } from '../dist/spiffe/id/index.js';
import { encodePem } from '../dist/spiffe/pem.js';
import { verifyX509Svid } from '../dist/spiffe/x509svid/index.js';

const ROUNDS = Number(process.argv[2] ?? 5);
const crypto = webcrypto;
px.cryptoProvider.set(crypto);
const EC = { name: 'ECDSA', namedCurve: 'P-256' };
const SIG = { name: 'ECDSA', hash: 'SHA-256' };
const KU = px.KeyUsageFlags;
const keyPair = () => crypto.subtle.generateKey(EC, true, ['sign', 'verify']);
let serial = 1;

async function cert({ subject, issuer, key, signingKey, ca, keyUsage, uris = [] }) {
  const extensions = [new px.BasicConstraintsExtension(ca, undefined, true), new px.KeyUsagesExtension(keyUsage, true)];
  if (uris.length > 0) extensions.push(new px.SubjectAlternativeNameExtension(uris.map((value) => ({ type: 'url', value }))));
  const c = await px.X509CertificateGenerator.create({
    serialNumber: (serial++).toString(16).padStart(4, '0'),
    subject,
    issuer,
    notBefore: new Date('2020-01-01T00:00:00Z'),
    notAfter: new Date('2040-01-01T00:00:00Z'),
    publicKey: key.publicKey,
    signingKey,
    signingAlgorithm: SIG,
    extensions,
  });
  return new Uint8Array(c.rawData);
}

/** 7 CA certificates named `CN=loop`, one key, each self-issued: every one verifies as the issuer of every other. */
async function loopSet(uris) {
  const loopKey = await keyPair();
  const cas = [];
  for (let i = 0; i < 7; i++) {
    cas.push(await cert({ subject: 'CN=loop', issuer: 'CN=loop', key: loopKey, signingKey: loopKey.privateKey, ca: true, keyUsage: KU.keyCertSign, uris }));
  }
  return { loopKey, cas };
}

function cpuMs(fn) {
  const start = process.cpuUsage();
  return new Promise((resolve) => resolve(fn())).then(
    (r) => ({ ms: elapsed(start), outcome: r }),
    (err) => ({ ms: elapsed(start), outcome: `${err.code ?? err.name}: ${err.message}` }),
  );
}
function elapsed(start) {
  const d = process.cpuUsage(start);
  return (d.user + d.system) / 1000;
}
async function median(fn) {
  const runs = [];
  for (let i = 0; i < ROUNDS; i++) runs.push(await cpuMs(fn));
  runs.sort((a, b) => a.ms - b.ms);
  return runs[Math.floor(runs.length / 2)];
}

// x509pop: the anchor is an unrelated CA, so no path exists and the search has to give up.
const anchorKey = await keyPair();
const anchor = await cert({ subject: 'CN=anchor', issuer: 'CN=anchor', key: anchorKey, signingKey: anchorKey.privateKey, ca: true, keyUsage: KU.keyCertSign });
const pop = await loopSet([]);
const nodeKey = await keyPair();
const node = await cert({ subject: 'CN=node', issuer: 'CN=loop', key: nodeKey, signingKey: pop.loopKey.privateKey, ca: false, keyUsage: KU.digitalSignature });
const payload = Buffer.concat([node, ...pop.cas]);
const attestor = createX509PopAttestor({
  trustDomain: TrustDomain.parse('example.org'),
  caBundlePem: encodePem('CERTIFICATE', anchor),
  clock: { now: () => new Date('2026-01-01T00:00:00Z') },
});
const attest = await median(() => attestor.attest({ payload }, async () => Buffer.alloc(0)));

// Baseline: an honest chain to the anchor (the challenge answer is not signed, so it ends in PERMISSION_DENIED after
// the path was built and the challenge sent: the same work as a real attestation minus one signature).
const midKey = await keyPair();
const mid = await cert({ subject: 'CN=mid', issuer: 'CN=anchor', key: midKey, signingKey: anchorKey.privateKey, ca: true, keyUsage: KU.keyCertSign });
const honestKey = await keyPair();
const honest = await cert({ subject: 'CN=honest', issuer: 'CN=mid', key: honestKey, signingKey: midKey.privateKey, ca: false, keyUsage: KU.digitalSignature });
const honestPayload = Buffer.concat([honest, mid]);
const valid = await median(() => attestor.attest({ payload: honestPayload }, async () => Buffer.alloc(0)));

// X509-SVID: a SPIFFE leaf under the loop, verified against a bundle holding only an unrelated authority.
const td = TrustDomain.parse('example.org');
const svidLoop = await loopSet(['spiffe://example.org']);
const leafKey = await keyPair();
const leaf = await cert({ subject: 'O=leaf', issuer: 'CN=loop', key: leafKey, signingKey: svidLoop.loopKey.privateKey, ca: false, keyUsage: KU.digitalSignature, uris: ['spiffe://example.org/w'] });
const rootKey = await keyPair();
const root = await cert({ subject: 'CN=root', issuer: 'CN=root', key: rootKey, signingKey: rootKey.privateKey, ca: true, keyUsage: KU.keyCertSign, uris: ['spiffe://example.org'] });
const bundle = new X509Bundle(td, [root]);
const verify = await median(() => verifyX509Svid([leaf, ...svidLoop.cas], bundle, { now: new Date('2026-01-01T00:00:00Z') }));

const rows = [
  ['x509pop_attest', payload.length, attest.ms, attest.outcome],
  ['x509pop_valid', honestPayload.length, valid.ms, valid.outcome],
  ['svid_verify', [leaf, ...svidLoop.cas].reduce((n, d) => n + d.length, 0), verify.ms, verify.outcome],
];
console.log('figure           bytes  cpu_ms  outcome');
for (const [name, bytes, ms, outcome] of rows) {
  console.log(`${name.padEnd(16)} ${String(bytes).padStart(5)}  ${ms.toFixed(1).padStart(6)}  ${String(outcome).slice(0, 120)}`);
}
for (const [name, bytes, ms] of rows) console.log(JSON.stringify({ bench: 'x509-path-dos', figure: name, bytes, cpu_ms: Number(ms.toFixed(1)), rounds: ROUNDS }));
