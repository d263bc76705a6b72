/**
 * Interop fixtures: SPIFFE artefacts written to disk for go-spiffe (test/interop/*_test.go) and for our own validators
 * (test/interop/interop.test.ts) to judge. Valid fixtures come from Tessera's issuing APIs (src/spiffe); invalid ones
 * are built around them with @peculiar/x509, jose or by hand, because our issuer refuses to produce them.
 *
 * `writeFixtures(dir)` writes every file plus `manifest.json` (the {@link Manifest}) and returns the manifest.
 */
import 'reflect-metadata';
import { generateKeyPairSync, randomBytes, sign as cryptoSign, webcrypto, type KeyObject } from 'node:crypto';
import { mkdir, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import * as x509 from '@peculiar/x509';
import { SignJWT } from 'jose';
import { JwtBundle, SpiffeBundle, X509Bundle } from '../../src/spiffe/bundle/index.js';
import { SpiffeId, TrustDomain } from '../../src/spiffe/id/index.js';
import { encodePem } from '../../src/spiffe/pem.js';
import { mintJwtSvid } from '../../src/spiffe/jwtsvid/index.js';
import { X509SvidSigner, createCaCertificate } from '../../src/spiffe/x509svid/index.js';

export const MANIFEST_VERSION = 1;

export type FixtureKind = 'x509-svid' | 'jwt-svid' | 'x509-bundle' | 'jwt-bundle' | 'spiffe-bundle';
/** go-spiffe X509-SVID stages: `parse` = x509svid.ParseRaw/Parse (with key), `verify` = x509svid.Verify (chain+bundle). */
export type X509Stage = 'parse' | 'verify';

export interface BundleExpected {
  readonly x509Authorities: number;
  readonly jwtKeyIds: readonly string[];
  readonly sequenceNumber?: number;
  readonly refreshHintSeconds?: number;
}

/** One fixture. Mirrored by the Go `Fixture` struct in manifest_test.go: keep both in step. */
export interface Fixture {
  /** Unique; also the Go subtest name (TestFixtures/<name>), so only [a-z0-9-]. */
  readonly name: string;
  readonly kind: FixtureKind;
  readonly description: string;
  /**
   * Role → path relative to the fixture dir. Roles per kind:
   * x509-svid: chain, chainPem, key, keyPem, bundle, bundlePem, [spiffeBundle];
   * jwt-svid: token, bundle; x509-bundle: der, pem; jwt-bundle: jwks; spiffe-bundle: json.
   */
  readonly files: Readonly<Record<string, string>>;
  /** The trust domain whose bundle the files hold (and against which SVIDs are judged). */
  readonly trustDomain: string;
  /** Expected SPIFFE ID of a valid SVID. */
  readonly spiffeId?: string;
  /** The relying party's audience (jwt-svid). */
  readonly audience?: readonly string[];
  /** Encoding of a jwt-svid fixture's bundle: plain JWKS or SPIFFE bundle JSON. */
  readonly bundleFormat?: 'jwks' | 'spiffe';
  readonly expect: 'valid' | 'invalid';
  /** Why an invalid fixture is invalid (the one defect it carries). */
  readonly reason?: string;
  /** For invalid X509-SVIDs: the go-spiffe stages that must reject it (go-spiffe does not check everything twice). */
  readonly rejectedBy?: readonly X509Stage[];
  /** For invalid fixtures: a fragment of go-spiffe's error text, proving it rejected for the intended reason. */
  readonly goError?: string;
  /** For valid bundle fixtures: what the parsed bundle must hold. */
  readonly bundle?: BundleExpected;
}

export interface Manifest {
  readonly version: typeof MANIFEST_VERSION;
  readonly generatedAt: string;
  /** The instant at which X.509 chains are verified (issuing time + 1 minute). */
  readonly verifyAt: string;
  readonly fixtures: readonly Fixture[];
}

const TD = TrustDomain.parse('example.org');
const OTHER_TD = TrustDomain.parse('other.test');
/** The relying party's audience for every JWT fixture. */
const AUDIENCE = ['spiffe://example.org/relying-party'];
const HOUR = 3600;

type Curve = 'P-256' | 'P-384';
type KeyPair = { readonly publicKey: KeyObject; readonly privateKey: KeyObject };

function ecKey(curve: Curve): KeyPair {
  return generateKeyPairSync('ec', { namedCurve: curve });
}
function rsaKey(): KeyPair {
  return generateKeyPairSync('rsa', { modulusLength: 2048 });
}

const b64url = (data: Uint8Array | string) => Buffer.from(data).toString('base64url');
const concat = (ders: readonly Uint8Array[]) => new Uint8Array(Buffer.concat(ders));
const pemChain = (type: string, ders: readonly Uint8Array[]) => ders.map((d) => encodePem(type, d)).join('');

/** Writes files under one root and collects the manifest. */
export class FixtureWriter {
  readonly fixtures: Fixture[] = [];
  constructor(readonly root: string) {}

  async file(rel: string, data: Uint8Array | string): Promise<string> {
    const abs = join(this.root, rel);
    await mkdir(dirname(abs), { recursive: true });
    await writeFile(abs, data);
    return rel;
  }

  add(f: Fixture): void {
    if (!/^[a-z0-9-]+$/.test(f.name)) throw new Error(`fixture name ${JSON.stringify(f.name)} must be [a-z0-9-]+`);
    if (this.fixtures.some((g) => g.name === f.name)) throw new Error(`duplicate fixture ${f.name}`);
    this.fixtures.push(f);
  }

  /** Writes an X509-SVID fixture: chain (leaf first) and PKCS#8 key, each as DER and PEM, and the bundle. */
  async x509Svid(
    f: Omit<Fixture, 'files' | 'kind' | 'trustDomain'> & { trustDomain?: string },
    m: {
      chain: readonly Uint8Array[];
      key: KeyObject;
      bundle: readonly Uint8Array[];
      spiffeBundleJson?: string;
    },
  ): Promise<void> {
    const d = `x509/${f.name}`;
    const files: Record<string, string> = {
      chain: await this.file(`${d}/chain.der`, concat(m.chain)),
      chainPem: await this.file(`${d}/chain.pem`, pemChain('CERTIFICATE', m.chain)),
      key: await this.file(`${d}/key.der`, m.key.export({ type: 'pkcs8', format: 'der' })),
      keyPem: await this.file(`${d}/key.pem`, m.key.export({ type: 'pkcs8', format: 'pem' }) as string),
      bundle: await this.file(`${d}/bundle.der`, concat(m.bundle)),
      bundlePem: await this.file(`${d}/bundle.pem`, pemChain('CERTIFICATE', m.bundle)),
    };
    if (m.spiffeBundleJson !== undefined) {
      files['spiffeBundle'] = await this.file(`${d}/bundle.json`, m.spiffeBundleJson);
    }
    this.add({ ...f, kind: 'x509-svid', trustDomain: f.trustDomain ?? TD.name, files });
  }

  async jwtSvid(
    f: Omit<Fixture, 'files' | 'kind' | 'trustDomain' | 'audience' | 'bundleFormat'> & {
      audience?: readonly string[];
    },
    m: { token: string; bundle: { format: 'jwks' | 'spiffe'; path: string } },
  ): Promise<void> {
    const files = { token: await this.file(`jwt/${f.name}.jwt`, m.token), bundle: m.bundle.path };
    this.add({
      ...f,
      kind: 'jwt-svid',
      trustDomain: TD.name,
      audience: f.audience ?? AUDIENCE,
      bundleFormat: m.bundle.format,
      files,
    });
  }
}

/** The CA key as a WebCrypto key, for @peculiar/x509. */
async function toCryptoPrivateKey(key: KeyObject, curve: Curve): Promise<webcrypto.CryptoKey> {
  return webcrypto.subtle.importKey(
    'pkcs8',
    key.export({ type: 'pkcs8', format: 'der' }),
    { name: 'ECDSA', namedCurve: curve },
    false,
    ['sign'],
  );
}
async function toCryptoPublicKey(key: KeyObject, curve: Curve): Promise<webcrypto.CryptoKey> {
  return webcrypto.subtle.importKey(
    'spki',
    key.export({ type: 'spki', format: 'der' }),
    { name: 'ECDSA', namedCurve: curve },
    true,
    ['verify'],
  );
}

interface RawLeafSpec {
  readonly uris?: readonly string[];
  readonly ca?: boolean;
  readonly keyUsage?: number;
  readonly notBefore: Date;
  readonly notAfter: Date;
}

const KU = x509.KeyUsageFlags;
/** What a correct leaf carries (and what our issuer sets): digitalSignature | keyEncipherment | keyAgreement. */
const LEAF_KU = KU.digitalSignature | KU.keyEncipherment | KU.keyAgreement;

/**
 * A leaf built field by field with @peculiar/x509, signed by a P-256 CA. With the defaults it is a correct X509-SVID
 * (the `peculiar-control` fixture proves that); each invalid fixture changes exactly one thing.
 */
async function rawLeaf(
  ca: { der: Uint8Array; key: KeyObject },
  leafPublic: KeyObject,
  spec: RawLeafSpec,
): Promise<Uint8Array> {
  const caCert = new x509.X509Certificate(new Uint8Array(ca.der));
  const publicKey = await toCryptoPublicKey(leafPublic, 'P-256');
  const uris = spec.uris ?? ['spiffe://example.org/workload'];
  const extensions: x509.Extension[] = [
    new x509.BasicConstraintsExtension(spec.ca ?? false, undefined, true),
    new x509.KeyUsagesExtension(spec.keyUsage ?? LEAF_KU, true),
    new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth, x509.ExtendedKeyUsage.clientAuth]),
    await x509.SubjectKeyIdentifierExtension.create(publicKey),
    await x509.AuthorityKeyIdentifierExtension.create(caCert.publicKey),
  ];
  if (uris.length > 0) {
    extensions.push(
      new x509.SubjectAlternativeNameExtension(
        uris.map((value) => ({ type: 'url' as const, value })),
        false,
      ),
    );
  }
  const cert = await x509.X509CertificateGenerator.create({
    serialNumber: '01' + randomBytes(15).toString('hex'),
    subject: 'C=US, O=Tessera Interop',
    issuer: caCert.subjectName,
    notBefore: spec.notBefore,
    notAfter: spec.notAfter,
    signingAlgorithm: { name: 'ECDSA', hash: 'SHA-256' },
    publicKey,
    signingKey: await toCryptoPrivateKey(ca.key, 'P-256'),
    extensions,
  });
  return new Uint8Array(cert.rawData);
}

/** A compact JWS assembled by hand (header and payload as given), signed by `sign` or with an empty signature. */
function handJws(header: object, payload: object, sign?: (input: Buffer) => Buffer): string {
  const input = `${b64url(JSON.stringify(header))}.${b64url(JSON.stringify(payload))}`;
  return `${input}.${sign ? b64url(sign(Buffer.from(input))) : ''}`;
}
const es256 = (key: KeyObject) => (input: Buffer) =>
  cryptoSign('sha256', input, { key, dsaEncoding: 'ieee-p1363' });

/** Generates every fixture into `dir` (which must exist and be empty) and writes `dir/manifest.json`. */
export async function writeFixtures(dir: string, now: Date = new Date()): Promise<Manifest> {
  const w = new FixtureWriter(dir);
  const verifyAt = new Date(now.getTime() + 60_000);
  const nowSec = Math.floor(now.getTime() / 1000);
  const workload = (path: string) => SpiffeId.fromPath(TD, path);

  // ---- Authorities ---------------------------------------------------------------------------------------------
  const rootKey = ecKey('P-256');
  const rootDer = await createCaCertificate({
    trustDomain: TD,
    publicKey: rootKey.publicKey,
    signer: { key: rootKey.privateKey },
    now,
    ttlSeconds: 7 * 24 * HOUR,
  });
  const root2Key = ecKey('P-384');
  const root2Der = await createCaCertificate({
    trustDomain: TD,
    publicKey: root2Key.publicKey,
    signer: { key: root2Key.privateKey },
    now,
    ttlSeconds: 7 * 24 * HOUR,
  });
  const intermediateKey = ecKey('P-384');
  const intermediateDer = await createCaCertificate({
    trustDomain: TD,
    publicKey: intermediateKey.publicKey,
    signer: { key: rootKey.privateKey, certificate: rootDer },
    now,
    ttlSeconds: 3 * 24 * HOUR,
  });
  // A CA of the same trust domain that is in no bundle.
  const rogueKey = ecKey('P-256');
  const rogueDer = await createCaCertificate({
    trustDomain: TD,
    publicKey: rogueKey.publicKey,
    signer: { key: rogueKey.privateKey },
    now,
    ttlSeconds: 7 * 24 * HOUR,
  });

  const rootSigner = await X509SvidSigner.create({ caCertificate: rootDer, caKey: rootKey.privateKey });
  const intermediateSigner = await X509SvidSigner.create({
    caCertificate: intermediateDer,
    caKey: intermediateKey.privateKey,
  });
  const rogueSigner = await X509SvidSigner.create({ caCertificate: rogueDer, caKey: rogueKey.privateKey });

  const bundle = [rootDer];

  // JWT authorities of example.org, one per algorithm.
  const jwtKeys = {
    ES256: { kid: 'es256-key', pair: ecKey('P-256') },
    ES384: { kid: 'es384-key', pair: ecKey('P-384') },
    RS256: { kid: 'rs256-key', pair: rsaKey() },
    PS256: { kid: 'ps256-key', pair: rsaKey() },
  } as const;
  const jwtBundle = new JwtBundle(TD);
  for (const { kid, pair } of Object.values(jwtKeys)) jwtBundle.addAuthority(kid, pair.publicKey);
  const allKids = Object.values(jwtKeys).map((k) => k.kid);

  const spiffeBundle = SpiffeBundle.fromParts({
    trustDomain: TD,
    x509Authorities: [rootDer, root2Der],
    jwtAuthorities: Object.values(jwtKeys).map(({ kid, pair }) => ({ kid, key: pair.publicKey })),
    sequenceNumber: 42n,
    refreshHintSeconds: 300,
  });
  const spiffeBundleJson = spiffeBundle.marshal();

  const jwksPath = await w.file('shared/jwt-bundle.jwks.json', jwtBundle.toJwks());
  const spiffePath = await w.file('shared/spiffe-bundle.json', spiffeBundleJson);
  const JWKS = { format: 'jwks', path: jwksPath } as const;
  const SPIFFE = { format: 'spiffe', path: spiffePath } as const;

  // ---- X509-SVIDs: valid (our issuer) ---------------------------------------------------------------------------
  const leafP256 = ecKey('P-256');
  await w.x509Svid(
    {
      name: 'x509-p256-root-signed',
      description: 'P-256 leaf signed directly by the P-256 root; bundle also given as a SPIFFE bundle',
      spiffeId: 'spiffe://example.org/workload/p256',
      expect: 'valid',
    },
    {
      chain: [
        (await rootSigner.sign({ spiffeId: workload('/workload/p256'), publicKey: leafP256.publicKey, now, ttlSeconds: HOUR }))
          .der,
      ],
      key: leafP256.privateKey,
      bundle,
      spiffeBundleJson,
    },
  );
  const leafP384 = ecKey('P-384');
  await w.x509Svid(
    {
      name: 'x509-p384-root-signed',
      description: 'P-384 leaf signed by the root, with DNS names',
      spiffeId: 'spiffe://example.org/workload/p384',
      expect: 'valid',
    },
    {
      chain: [
        (
          await rootSigner.sign({
            spiffeId: workload('/workload/p384'),
            publicKey: leafP384.publicKey,
            now,
            ttlSeconds: HOUR,
            dnsNames: ['p384.example.org', 'svc.internal'],
          })
        ).der,
      ],
      key: leafP384.privateKey,
      bundle,
    },
  );
  const leafRsa = rsaKey();
  await w.x509Svid(
    {
      name: 'x509-rsa2048-root-signed',
      description: 'RSA-2048 leaf (public key given as SPKI DER) signed by the root',
      spiffeId: 'spiffe://example.org/workload/rsa',
      expect: 'valid',
    },
    {
      chain: [
        (
          await rootSigner.sign({
            spiffeId: workload('/workload/rsa'),
            publicKey: new Uint8Array(leafRsa.publicKey.export({ type: 'spki', format: 'der' })),
            now,
            ttlSeconds: HOUR,
          })
        ).der,
      ],
      key: leafRsa.privateKey,
      bundle,
    },
  );
  const leafUnderInt = ecKey('P-256');
  await w.x509Svid(
    {
      name: 'x509-p256-under-intermediate',
      description: 'leaf + P-384 intermediate in the chain, only the root in the bundle (DER, PEM and SPIFFE bundle)',
      spiffeId: 'spiffe://example.org/ns/agents/sa/planner',
      expect: 'valid',
    },
    {
      chain: [
        (
          await intermediateSigner.sign({
            spiffeId: workload('/ns/agents/sa/planner'),
            publicKey: leafUnderInt.publicKey,
            now,
            ttlSeconds: HOUR,
          })
        ).der,
        intermediateDer,
      ],
      key: leafUnderInt.privateKey,
      bundle,
      spiffeBundleJson,
    },
  );

  // ---- X509-SVIDs: built with @peculiar/x509 --------------------------------------------------------------------
  const rootCa = { der: rootDer, key: rootKey.privateKey };
  const inHour = new Date(now.getTime() + HOUR * 1000);
  const fresh = { notBefore: new Date(now.getTime() - 10_000), notAfter: inHour };
  const rawCase = async (
    name: string,
    spec: Partial<RawLeafSpec>,
    verdict: Pick<Fixture, 'description' | 'expect' | 'reason' | 'rejectedBy' | 'goError' | 'spiffeId'>,
  ) => {
    const leaf = ecKey('P-256');
    await w.x509Svid(
      { name, ...verdict },
      { chain: [await rawLeaf(rootCa, leaf.publicKey, { ...fresh, ...spec })], key: leaf.privateKey, bundle },
    );
  };

  await rawCase(
    'x509-peculiar-control',
    {},
    {
      description: 'control: a correct leaf from the same @peculiar/x509 builder the invalid leaves come from',
      spiffeId: 'spiffe://example.org/workload',
      expect: 'valid',
    },
  );
  await rawCase('x509-invalid-leaf-ca-true', { ca: true }, {
    description: 'leaf with basicConstraints cA=true',
    expect: 'invalid',
    reason: 'a leaf X509-SVID must have cA=false',
    rejectedBy: ['parse', 'verify'],
    goError: 'CA flag',
  });
  await rawCase('x509-invalid-leaf-no-digital-signature', { keyUsage: KU.keyEncipherment | KU.keyAgreement }, {
    description: 'leaf key usage without digitalSignature',
    expect: 'invalid',
    reason: 'a leaf X509-SVID must have the digitalSignature key usage',
    // go-spiffe's Verify does not look at digitalSignature; its Parse (what every Workload API client runs) does.
    rejectedBy: ['parse'],
    goError: 'digitalSignature',
  });
  await rawCase('x509-invalid-leaf-key-cert-sign', { keyUsage: LEAF_KU | KU.keyCertSign }, {
    description: 'leaf key usage with keyCertSign',
    expect: 'invalid',
    reason: 'a leaf X509-SVID must not have the keyCertSign key usage',
    rejectedBy: ['parse', 'verify'],
    goError: 'KeyCertSign',
  });
  await rawCase('x509-invalid-leaf-crl-sign', { keyUsage: LEAF_KU | KU.cRLSign }, {
    description: 'leaf key usage with cRLSign',
    expect: 'invalid',
    reason: 'a leaf X509-SVID must not have the cRLSign key usage',
    rejectedBy: ['parse', 'verify'],
    goError: 'rlSign',
  });
  await rawCase(
    'x509-invalid-two-uri-sans',
    { uris: ['spiffe://example.org/workload/a', 'spiffe://example.org/workload/b'] },
    {
      description: 'leaf with two URI SANs',
      expect: 'invalid',
      reason: 'an X509-SVID must carry exactly one URI SAN',
      rejectedBy: ['parse', 'verify'],
      goError: 'more than one URI SAN',
    },
  );
  await rawCase('x509-invalid-no-uri-san', { uris: [] }, {
    description: 'leaf without any URI SAN',
    expect: 'invalid',
    reason: 'an X509-SVID must carry its SPIFFE ID as a URI SAN',
    rejectedBy: ['parse', 'verify'],
    goError: 'no URI SAN',
  });
  await rawCase('x509-invalid-root-path-id', { uris: ['spiffe://example.org'] }, {
    description: 'leaf whose SPIFFE ID is the trust domain ID (no path)',
    expect: 'invalid',
    reason: 'a leaf SPIFFE ID must have a non-root path',
    // go-spiffe's Verify accepts a path-less leaf ID; its Parse refuses it.
    rejectedBy: ['parse'],
    goError: 'non-root path',
  });
  await rawCase(
    'x509-invalid-expired',
    { notBefore: new Date(now.getTime() - 3 * HOUR * 1000), notAfter: new Date(now.getTime() - HOUR * 1000) },
    {
      description: 'leaf whose notAfter is an hour before the verification time',
      expect: 'invalid',
      reason: 'the leaf is expired',
      // Parse never looks at validity dates.
      rejectedBy: ['verify'],
      goError: 'expired',
    },
  );
  await rawCase('x509-invalid-wrong-trust-domain', { uris: ['spiffe://other.test/workload'] }, {
    description: 'leaf for other.test, signed by the example.org root; only an example.org bundle is available',
    expect: 'invalid',
    reason: 'a leaf is judged by the bundle of its own trust domain, and there is none for other.test',
    rejectedBy: ['verify'],
    goError: 'other.test',
  });
  const rogueLeaf = ecKey('P-256');
  await w.x509Svid(
    {
      name: 'x509-invalid-unknown-ca',
      description: 'well-formed leaf issued by a CA of the same trust domain that is not in the bundle',
      expect: 'invalid',
      reason: 'the chain does not lead to an authority of the bundle',
      rejectedBy: ['verify'],
      goError: 'unknown authority',
    },
    {
      chain: [
        (await rogueSigner.sign({ spiffeId: workload('/workload/rogue'), publicKey: rogueLeaf.publicKey, now, ttlSeconds: HOUR }))
          .der,
      ],
      key: rogueLeaf.privateKey,
      bundle,
    },
  );

  // ---- JWT-SVIDs: valid (our minting) ---------------------------------------------------------------------------
  for (const alg of ['ES256', 'ES384', 'RS256', 'PS256'] as const) {
    const { kid, pair } = jwtKeys[alg];
    const id = `spiffe://example.org/workload/${alg.toLowerCase()}`;
    const token = await mintJwtSvid({
      spiffeId: SpiffeId.parse(id),
      audience: alg === 'ES256' ? [...AUDIENCE, 'spiffe://example.org/another'] : AUDIENCE,
      key: { kid, privateKey: pair.privateKey, alg },
      now,
      ttlSeconds: HOUR,
    });
    await w.jwtSvid(
      {
        name: `jwt-${alg.toLowerCase()}`,
        description: `${alg} token minted by mintJwtSvid, validated against the plain JWKS`,
        spiffeId: id,
        expect: 'valid',
      },
      { token, bundle: JWKS },
    );
  }
  {
    const { kid, pair } = jwtKeys.PS256;
    const token = await mintJwtSvid({
      spiffeId: workload('/workload/spiffe-bundle'),
      audience: AUDIENCE,
      key: { kid, privateKey: pair.privateKey, alg: 'PS256' },
      now,
      ttlSeconds: HOUR,
    });
    await w.jwtSvid(
      {
        name: 'jwt-ps256-spiffe-bundle',
        description: 'PS256 token validated against the SPIFFE bundle JSON (jwt-svid entries)',
        spiffeId: 'spiffe://example.org/workload/spiffe-bundle',
        expect: 'valid',
      },
      { token, bundle: SPIFFE },
    );
  }

  // ---- JWT-SVIDs: invalid ---------------------------------------------------------------------------------------
  const es = jwtKeys.ES256;
  const claims = (over: Record<string, unknown> = {}) => ({
    sub: 'spiffe://example.org/workload/bad',
    aud: AUDIENCE,
    iat: nowSec,
    exp: nowSec + HOUR,
    ...over,
  });
  const invalidJwt = async (name: string, token: string, v: Pick<Fixture, 'description' | 'reason' | 'goError'>) =>
    w.jwtSvid({ name, expect: 'invalid', ...v }, { token, bundle: JWKS });

  await invalidJwt(
    'jwt-invalid-hs256',
    await new SignJWT(claims())
      .setProtectedHeader({ alg: 'HS256', typ: 'JWT', kid: es.kid })
      .sign(new Uint8Array(randomBytes(32))),
    { description: 'HS256 (HMAC) token whose kid names a bundle key', reason: 'HS256 is not an allowed JWT-SVID algorithm', goError: 'unable to parse JWT token' },
  );
  await invalidJwt('jwt-invalid-alg-none', handJws({ alg: 'none', typ: 'JWT', kid: es.kid }, claims()), {
    description: 'unsigned token with alg "none"',
    reason: 'alg "none" is not an allowed JWT-SVID algorithm',
    goError: 'unable to parse JWT token',
  });
  await invalidJwt('jwt-invalid-no-kid', handJws({ alg: 'ES256', typ: 'JWT' }, claims(), es256(es.pair.privateKey)), {
    description: 'ES256 token correctly signed by a bundle key but without a kid header',
    reason: 'the signing key cannot be selected without kid (go-spiffe and SPIRE require it)',
    goError: 'missing key id',
  });
  await invalidJwt(
    'jwt-invalid-typ',
    handJws({ alg: 'ES256', typ: 'at+jwt', kid: es.kid }, claims(), es256(es.pair.privateKey)),
    { description: 'correctly signed token with typ "at+jwt"', reason: 'typ, when present, must be JWT or JOSE', goError: 'type' },
  );
  await invalidJwt(
    'jwt-invalid-expired',
    await mintJwtSvid({
      spiffeId: workload('/workload/expired'),
      audience: AUDIENCE,
      key: { kid: es.kid, privateKey: es.pair.privateKey, alg: 'ES256' },
      now: new Date(now.getTime() - 2 * HOUR * 1000),
      ttlSeconds: HOUR,
    }),
    { description: 'token that expired an hour ago', reason: 'the token is expired', goError: 'expired' },
  );
  await invalidJwt(
    'jwt-invalid-audience-mismatch',
    await mintJwtSvid({
      spiffeId: workload('/workload/aud'),
      audience: ['spiffe://example.org/someone-else'],
      key: { kid: es.kid, privateKey: es.pair.privateKey, alg: 'ES256' },
      now,
      ttlSeconds: HOUR,
    }),
    {
      description: 'token for a different audience than the relying party',
      reason: 'the relying party is not in aud',
      goError: 'expected audience',
    },
  );
  const stranger = ecKey('P-256');
  await invalidJwt(
    'jwt-invalid-unknown-kid',
    await mintJwtSvid({
      spiffeId: workload('/workload/stranger'),
      audience: AUDIENCE,
      key: { kid: 'not-in-bundle', privateKey: stranger.privateKey, alg: 'ES256' },
      now,
      ttlSeconds: HOUR,
    }),
    { description: 'token signed by a key whose kid is not in the bundle', reason: 'no authority for kid', goError: 'no JWT authority' },
  );
  await invalidJwt(
    'jwt-invalid-wrong-key',
    await mintJwtSvid({
      spiffeId: workload('/workload/impostor'),
      audience: AUDIENCE,
      key: { kid: es.kid, privateKey: stranger.privateKey, alg: 'ES256' },
      now,
      ttlSeconds: HOUR,
    }),
    {
      description: 'token whose kid names a bundle key but that was signed by another key',
      reason: 'the signature does not verify with the bundle key',
      goError: 'unable to get claims',
    },
  );
  await invalidJwt(
    'jwt-invalid-foreign-trust-domain',
    await mintJwtSvid({
      spiffeId: SpiffeId.fromPath(OTHER_TD, '/workload'),
      audience: AUDIENCE,
      key: { kid: es.kid, privateKey: es.pair.privateKey, alg: 'ES256' },
      now,
      ttlSeconds: HOUR,
    }),
    {
      description: 'token for spiffe://other.test/workload signed with an example.org key',
      reason: 'a token is judged by the bundle of its subject trust domain, and there is none for other.test',
      goError: 'other.test',
    },
  );

  // ---- Bundles --------------------------------------------------------------------------------------------------
  const twoRoots = new X509Bundle(TD, [rootDer, root2Der]);
  w.add({
    name: 'x509-bundle-two-roots',
    kind: 'x509-bundle',
    description: 'X.509 bundle with a P-256 and a P-384 root, as concatenated DER and as PEM',
    trustDomain: TD.name,
    expect: 'valid',
    files: {
      der: await w.file('bundles/x509-two-roots.der', twoRoots.toConcatenatedDer()),
      pem: await w.file('bundles/x509-two-roots.pem', twoRoots.toPem()),
    },
    bundle: { x509Authorities: 2, jwtKeyIds: [] },
  });
  w.add({
    name: 'jwt-bundle-jwks',
    kind: 'jwt-bundle',
    description: 'plain JWKS from JwtBundle.toJwks() with P-256, P-384 and two RSA keys',
    trustDomain: TD.name,
    expect: 'valid',
    files: { jwks: jwksPath },
    bundle: { x509Authorities: 0, jwtKeyIds: allKids },
  });
  w.add({
    name: 'spiffe-bundle-full',
    kind: 'spiffe-bundle',
    description: 'SPIFFE bundle with two X.509 roots, four JWT keys, spiffe_sequence 42, spiffe_refresh_hint 300',
    trustDomain: TD.name,
    expect: 'valid',
    files: { json: spiffePath },
    bundle: { x509Authorities: 2, jwtKeyIds: allKids, sequenceNumber: 42, refreshHintSeconds: 300 },
  });

  type Jwk = Record<string, unknown> & { use?: string; kid?: string; x5c?: string[] };
  const doc = () => JSON.parse(spiffeBundleJson) as { keys: Jwk[] } & Record<string, unknown>;
  {
    const d = doc();
    const entry = d.keys.find((k) => k.use === 'x509-svid');
    if (!entry?.x5c) throw new Error('our SPIFFE bundle has no x509-svid entry with x5c');
    entry.x5c = [...entry.x5c, Buffer.from(root2Der).toString('base64')];
    w.add({
      name: 'spiffe-bundle-invalid-two-x5c',
      kind: 'spiffe-bundle',
      description: 'our SPIFFE bundle with a second certificate appended to the first x509-svid entry',
      trustDomain: TD.name,
      expect: 'invalid',
      reason: 'an x509-svid entry must carry exactly one certificate',
      goError: 'single certificate',
      files: { json: await w.file('bundles/spiffe-two-x5c.json', JSON.stringify(d, null, 2)) },
    });
  }
  {
    const d = doc();
    const entry = d.keys.find((k) => k.use === 'jwt-svid');
    if (!entry) throw new Error('our SPIFFE bundle has no jwt-svid entry');
    delete entry.kid;
    w.add({
      name: 'spiffe-bundle-invalid-jwt-no-kid',
      kind: 'spiffe-bundle',
      description: 'our SPIFFE bundle with the kid of one jwt-svid entry removed',
      trustDomain: TD.name,
      expect: 'invalid',
      reason: 'a jwt-svid entry must have a kid',
      goError: 'keyID cannot be empty',
      files: { json: await w.file('bundles/spiffe-jwt-no-kid.json', JSON.stringify(d, null, 2)) },
    });
  }
  w.add({
    name: 'spiffe-bundle-invalid-no-keys',
    kind: 'spiffe-bundle',
    description: 'bundle document with spiffe_sequence and spiffe_refresh_hint but no keys member',
    trustDomain: TD.name,
    expect: 'invalid',
    reason: 'the keys member must be present',
    goError: 'no authorities found',
    files: {
      json: await w.file('bundles/spiffe-no-keys.json', JSON.stringify({ spiffe_sequence: 1, spiffe_refresh_hint: 60 })),
    },
  });
  {
    const d = JSON.parse(jwtBundle.toJwks()) as { keys: Jwk[] };
    delete d.keys[1]!.kid;
    w.add({
      name: 'jwt-bundle-invalid-no-kid',
      kind: 'jwt-bundle',
      description: 'our JWKS with the kid of the second key removed',
      trustDomain: TD.name,
      expect: 'invalid',
      reason: 'every key of a JWT bundle must have a kid',
      goError: 'keyID cannot be empty',
      files: { jwks: await w.file('bundles/jwks-no-kid.json', JSON.stringify(d, null, 2)) },
    });
  }

  const manifest: Manifest = {
    version: MANIFEST_VERSION,
    generatedAt: now.toISOString(),
    verifyAt: verifyAt.toISOString(),
    fixtures: w.fixtures,
  };
  await w.file('manifest.json', JSON.stringify(manifest, null, 2) + '\n');
  return manifest;
}
