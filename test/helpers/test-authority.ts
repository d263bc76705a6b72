/**
 * A small, real certificate authority for tests of server components, built from src/spiffe pieces: a root CA
 * (optionally with a signing intermediate), X509SvidSigner, mintJwtSvid and SpiffeBundle. It implements the
 * capabilities of src/server/ca/types.ts the way the real CA does, without key files, rotation schedules or a datastore.
 */
import { generateKeyPairSync, randomBytes, type KeyObject } from 'node:crypto';
import { systemClock, type Clock } from '../../src/common/clock.js';
import { SpiffeBundle } from '../../src/spiffe/bundle/index.js';
import { SpiffeId, TrustDomain } from '../../src/spiffe/id/index.js';
import { mintJwtSvid } from '../../src/spiffe/jwtsvid/index.js';
import { encodePem } from '../../src/spiffe/pem.js';
import { createCaCertificate, X509SvidSigner } from '../../src/spiffe/x509svid/index.js';
import type {
  BundleSource,
  IssuedJwtSvid,
  IssuedX509Svid,
  JwtSvidIssuer,
  ServerIdentitySource,
  X509SvidIssuer,
} from '../../src/server/ca/types.js';

export interface TestAuthorityOptions {
  readonly trustDomain?: string;
  readonly clock?: Clock;
  /** Sign with an intermediate under the root; the bundle then holds only the root. */
  readonly intermediate?: boolean;
  readonly caTtlSeconds?: number;
}

export interface TestAuthority extends X509SvidIssuer, JwtSvidIssuer, BundleSource, ServerIdentitySource {
  readonly trustDomain: TrustDomain;
  readonly serverId: SpiffeId;
  /** The bundle's X.509 authorities as PEM. */
  bundlePem(): string;
  /** A new root (and intermediate) is added to the bundle and signs from now on; listeners are told. */
  rotate(): Promise<void>;
  /** Re-issues the server SVID; listeners are told. */
  renewServerSvid(): void;
  /** How many listeners of each kind are subscribed (leak checks). */
  listenerCounts(): { bundle: number; serverSvid: number };
}

interface Ca {
  readonly rootDer: Uint8Array;
  readonly signer: X509SvidSigner;
  /** Intermediates between the signing key and the root (empty without an intermediate). */
  readonly intermediates: Uint8Array[];
}

export async function createTestAuthority(options: TestAuthorityOptions = {}): Promise<TestAuthority> {
  const trustDomain = TrustDomain.parse(options.trustDomain ?? 'example.org');
  const clock = options.clock ?? systemClock;
  const serverId = SpiffeId.fromSegments(trustDomain, 'tessera', 'server');
  const caTtlSeconds = options.caTtlSeconds ?? 86_400;
  const jwtKey = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const jwtKid = randomBytes(8).toString('hex');
  const roots: Uint8Array[] = [];
  const bundleListeners = new Set<(b: SpiffeBundle) => void>();
  const svidListeners = new Set<() => void>();
  let sequence = 0n;
  let ca: Ca;
  let bundle: SpiffeBundle;
  let serverSvid: { chain: Uint8Array[]; privateKey: KeyObject; notAfter: Date };

  async function newCa(): Promise<Ca> {
    const rootKey = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const now = clock.now();
    const rootDer = await createCaCertificate({
      trustDomain,
      publicKey: rootKey.publicKey,
      signer: { key: rootKey.privateKey },
      now,
      ttlSeconds: caTtlSeconds,
    });
    if (!options.intermediate) {
      return { rootDer, signer: X509SvidSigner.create({ caCertificate: rootDer, caKey: rootKey.privateKey }), intermediates: [] };
    }
    const intKey = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const intDer = await createCaCertificate({
      trustDomain,
      publicKey: intKey.publicKey,
      signer: { key: rootKey.privateKey, certificate: rootDer },
      now,
      ttlSeconds: caTtlSeconds,
    });
    return {
      rootDer,
      signer: X509SvidSigner.create({ caCertificate: intDer, caKey: intKey.privateKey }),
      intermediates: [intDer],
    };
  }

  function rebuildBundle(): void {
    sequence++;
    bundle = SpiffeBundle.fromParts({
      trustDomain,
      x509Authorities: roots,
      jwtAuthorities: [{ kid: jwtKid, key: jwtKey.publicKey }],
      sequenceNumber: sequence,
    });
  }

  function issueServerSvid(): void {
    const key = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const signed = ca.signer.sign({
      spiffeId: serverId,
      publicKey: key.publicKey,
      now: clock.now(),
      ttlSeconds: 3600,
      dnsNames: ['localhost'],
    });
    serverSvid = { chain: [signed.der, ...ca.intermediates], privateKey: key.privateKey, notAfter: signed.notAfter };
  }

  ca = await newCa();
  roots.push(ca.rootDer);
  rebuildBundle();
  issueServerSvid();

  return {
    trustDomain,
    serverId,
    signX509Svid(p): IssuedX509Svid {
      const signed = ca.signer.sign({ ...p, now: clock.now() });
      return { chain: [signed.der, ...ca.intermediates], serial: signed.serial, notAfter: signed.notAfter };
    },
    async signJwtSvid(p): Promise<IssuedJwtSvid> {
      const now = clock.now();
      const jti = randomBytes(16).toString('base64url');
      const token = await mintJwtSvid({
        spiffeId: p.spiffeId,
        audience: p.audience,
        key: { kid: jwtKid, privateKey: jwtKey.privateKey },
        now,
        ttlSeconds: p.ttlSeconds,
        jti,
        ...(p.extraClaims ? { extraClaims: { ...p.extraClaims } } : {}),
      });
      return { token, jti, expiresAt: new Date((Math.floor(now.getTime() / 1000) + p.ttlSeconds) * 1000) };
    },
    currentBundle: () => bundle,
    onBundleChange(listener) {
      const wrapped = (b: SpiffeBundle) => listener(b);
      bundleListeners.add(wrapped);
      return () => void bundleListeners.delete(wrapped);
    },
    currentServerSvid: () => serverSvid,
    onServerSvidChange(listener) {
      const wrapped = () => listener();
      svidListeners.add(wrapped);
      return () => void svidListeners.delete(wrapped);
    },
    bundlePem: () => bundle.x509Bundle.toPem(),
    async rotate() {
      ca = await newCa();
      roots.push(ca.rootDer);
      rebuildBundle();
      for (const l of [...bundleListeners]) l(bundle);
    },
    renewServerSvid() {
      issueServerSvid();
      for (const l of [...svidListeners]) l();
    },
    listenerCounts: () => ({ bundle: bundleListeners.size, serverSvid: svidListeners.size }),
  };
}

/** A fresh P-256 key pair with its SPKI DER and PKCS#8 PEM. */
export function newAgentKey(): { privateKey: KeyObject; publicKey: KeyObject; spki: Buffer; pem: string } {
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  return {
    privateKey,
    publicKey,
    spki: publicKey.export({ type: 'spki', format: 'der' }),
    pem: privateKey.export({ type: 'pkcs8', format: 'pem' }) as string,
  };
}

/** Concatenated DER chain → PEM. */
export function chainPem(chain: readonly Uint8Array[]): string {
  return chain.map((der) => encodePem('CERTIFICATE', der)).join('');
}
