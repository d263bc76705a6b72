import { generateKeyPairSync, randomBytes, type KeyObject } from 'node:crypto';
import type { Clock } from '../../common/clock.js';
import { unavailable } from '../../common/errors.js';
import type { Logger } from '../../common/log.js';
import type { SpiffeBundle } from '../../spiffe/bundle/index.js';
import { JwtMintInvalid } from '../../spiffe/errors.js';
import { SpiffeId, type TrustDomain } from '../../spiffe/id/index.js';
import { mintJwtSvid, parseAndValidateJwtSvid } from '../../spiffe/jwtsvid/index.js';
import { verifyX509Svid } from '../../spiffe/x509svid/index.js';
import type { BundleStore, KeyRecord, KeyStore } from '../datastore/index.js';
import { authorityInfo, describeRing } from './authorities.js';
import { BundlePublisher } from './bundle-publisher.js';
import { jwtKeyOps, type JwtKeyMaterial } from './jwt-key.js';
import type { KeyFiles } from './key-files.js';
import { KeyRing } from './key-ring.js';
import type { CaKeyType, JwtKeyType } from './key-types.js';
import { refreshHintSeconds } from './schedule.js';
import { ServerSvidKeeper, type ServerSvid } from './server-svid.js';
import type {
  AuthorityAdmin,
  AuthorityInfo,
  AuthorityKind,
  BundleSource,
  CaHealth,
  IssuedJwtSvid,
  IssuedX509Svid,
  JwtSvidIssuer,
  ServerIdentitySource,
  X509SvidIssuer,
} from './types.js';
import type { UpstreamAuthority, UpstreamAuthorityConfig } from './upstream.js';
import { x509CaOps, type X509CaMaterial } from './x509-ca.js';

/** The timer never sleeps longer than this, so keys published by other servers sharing the datastore show up. */
export const SYNC_INTERVAL_MS = 30_000;
const MIN_TIMER_MS = 1_000;
const HEALTH_AUDIENCE = 'tessera-health';
const HEALTH_TTL_SECONDS = 60;

/** Everything the constructor needs; built by {@link openCertificateAuthority}. */
export interface CertificateAuthorityInit {
  readonly trustDomain: TrustDomain;
  readonly serverId: string;
  readonly keys: KeyStore;
  readonly bundles: BundleStore;
  readonly files: KeyFiles;
  readonly clock: Clock;
  readonly log: Logger;
  readonly ca: {
    readonly keyType: CaKeyType;
    readonly ttlSeconds: number;
    /** Overrides the derived `spiffe_refresh_hint` (schedule.ts refreshHintSeconds). */
    readonly refreshHintSeconds?: number | undefined;
  };
  readonly jwt: { readonly keyType: JwtKeyType; readonly keyTtlSeconds: number; readonly issuer?: string | undefined };
  readonly upstreamAuthority?: UpstreamAuthorityConfig | undefined;
  readonly upstream?: UpstreamAuthority | undefined;
  readonly serverSvidTtlSeconds: number;
}

/**
 * The trust domain's certificate authority: X.509 CA keys and JWT keys with two-phase rotation (schedule.ts), the
 * trust bundle (bundle-publisher.ts) and the server's own SVID (server-svid.ts). Signing is synchronous on in-memory
 * keys (X.509) or one async JOSE call (JWT); everything that touches the datastore or the disk happens in {@link tick},
 * which the timer of {@link start} calls and tests call directly after moving a fake clock. The operator's forced
 * rotation ({@link prepareNow}, {@link activateNow}) runs in the same queue and ends with the same step.
 */
export class CertificateAuthority
  implements X509SvidIssuer, JwtSvidIssuer, BundleSource, ServerIdentitySource, CaHealth, AuthorityAdmin
{
  readonly trustDomain: TrustDomain;
  readonly #clock: Clock;
  readonly #log: Logger;
  readonly #issuer: string | undefined;
  readonly #x509: KeyRing<X509CaMaterial>;
  readonly #jwt: KeyRing<JwtKeyMaterial>;
  readonly #publisher: BundlePublisher;
  readonly #server: ServerSvidKeeper;
  readonly #minPublishMs: number;
  readonly #bundleListeners = new Set<(bundle: SpiffeBundle) => void>();
  readonly #svidListeners = new Set<() => void>();
  #upstream: UpstreamAuthority | undefined;
  #queue: Promise<void> = Promise.resolve();
  #timer: NodeJS.Timeout | undefined;
  #started = false;
  #healthKey: KeyObject | undefined;

  constructor(init: CertificateAuthorityInit) {
    this.trustDomain = init.trustDomain;
    this.#clock = init.clock;
    this.#log = init.log;
    this.#issuer = init.jwt.issuer;
    this.#upstream = init.upstream;
    const ring = { serverId: init.serverId, keys: init.keys, files: init.files, log: init.log };
    this.#x509 = new KeyRing({
      ...ring,
      ops: x509CaOps({
        trustDomain: init.trustDomain,
        keyType: init.ca.keyType,
        ttlSeconds: init.ca.ttlSeconds,
        ...(init.upstreamAuthority ? { upstream: init.upstreamAuthority } : {}),
        getUpstream: () => this.#upstream,
        setUpstream: (u) => void (this.#upstream = u),
      }),
    });
    this.#jwt = new KeyRing({ ...ring, ops: jwtKeyOps(init.jwt) });
    const hint = init.ca.refreshHintSeconds ?? refreshHintSeconds(init.ca.ttlSeconds, init.jwt.keyTtlSeconds);
    this.#minPublishMs = hint * 1000;
    this.#publisher = new BundlePublisher({
      trustDomain: init.trustDomain,
      keys: init.keys,
      bundles: init.bundles,
      refreshHintSeconds: hint,
      log: init.log,
    });
    this.#server = new ServerSvidKeeper(init.trustDomain, init.serverSvidTtlSeconds);
  }

  /** Loads this server's keys from the KeyStore and the key files (FAILED_PRECONDITION naming a bad file). */
  async load(): Promise<void> {
    await this.#x509.load();
    await this.#jwt.load();
  }

  // --- X509SvidIssuer ---

  signX509Svid(p: Parameters<X509SvidIssuer['signX509Svid']>[0]): IssuedX509Svid {
    const active = this.#x509.active;
    if (!active) throw unavailable('no X.509 CA key is active');
    const now = this.#clock.now();
    if (now.getTime() >= active.lifetime.notAfterMs) throw unavailable('the active X.509 CA certificate has expired');
    const signed = active.material.signer.sign({
      spiffeId: p.spiffeId,
      publicKey: p.publicKey,
      now,
      ttlSeconds: p.ttlSeconds,
      ...(p.dnsNames ? { dnsNames: p.dnsNames } : {}),
    });
    return { chain: [signed.der, ...active.material.chain], serial: signed.serial, notAfter: signed.notAfter };
  }

  // --- JwtSvidIssuer ---

  /** The TTL is capped at the signing key's notAfter, so a retired key can leave the bundle at its own expiry. */
  async signJwtSvid(p: Parameters<JwtSvidIssuer['signJwtSvid']>[0]): Promise<IssuedJwtSvid> {
    const active = this.#jwt.active;
    if (!active) throw unavailable('no JWT key is active');
    if (!(p.spiffeId instanceof SpiffeId)) throw new TypeError('spiffeId must be a SpiffeId');
    if (!p.spiffeId.memberOf(this.trustDomain)) {
      throw new JwtMintInvalid(
        'trust-domain-mismatch',
        `SPIFFE ID ${JSON.stringify(p.spiffeId.toString())} is not in trust domain ` +
          JSON.stringify(this.trustDomain.name),
      );
    }
    const now = this.#clock.now();
    const nowSeconds = Math.floor(now.getTime() / 1000);
    let ttlSeconds = p.ttlSeconds;
    if (Number.isSafeInteger(ttlSeconds) && ttlSeconds > 0) {
      ttlSeconds = Math.min(ttlSeconds, Math.floor(active.lifetime.notAfterMs / 1000) - nowSeconds);
      if (ttlSeconds <= 0) throw unavailable('the active JWT key has expired');
    }
    const jti = randomBytes(16).toString('base64url');
    const { kid, privateKey, alg } = active.material;
    const token = await mintJwtSvid({
      spiffeId: p.spiffeId,
      audience: p.audience,
      key: { kid, privateKey, alg },
      now,
      ttlSeconds,
      jti,
      ...(this.#issuer !== undefined ? { issuer: this.#issuer } : {}),
      ...(p.extraClaims ? { extraClaims: { ...p.extraClaims } } : {}),
    });
    return { token, jti, expiresAt: new Date((nowSeconds + ttlSeconds) * 1000) };
  }

  // --- BundleSource ---

  currentBundle(): SpiffeBundle {
    const bundle = this.#publisher.current;
    if (!bundle) throw unavailable('the trust bundle is not loaded yet');
    return bundle;
  }

  onBundleChange(listener: (bundle: SpiffeBundle) => void): () => void {
    this.#bundleListeners.add(listener);
    return () => void this.#bundleListeners.delete(listener);
  }

  // --- ServerIdentitySource ---

  currentServerSvid(): ServerSvid {
    const svid = this.#server.current;
    if (!svid) throw unavailable('the server SVID is not issued yet');
    return svid;
  }

  onServerSvidChange(listener: () => void): () => void {
    this.#svidListeners.add(listener);
    return () => void this.#svidListeners.delete(listener);
  }

  // --- CaHealth ---

  /** Signs a throw-away X509-SVID and JWT-SVID and verifies both against the current bundle. */
  async canSign(): Promise<boolean> {
    try {
      const now = this.#clock.now();
      const bundle = this.currentBundle();
      const spiffeId = SpiffeId.fromSegments(this.trustDomain, 'tessera', 'health');
      this.#healthKey ??= generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey;
      const x509 = this.signX509Svid({ spiffeId, publicKey: this.#healthKey, ttlSeconds: HEALTH_TTL_SECONDS });
      verifyX509Svid(x509.chain, bundle, { now });
      const jwt = await this.signJwtSvid({ spiffeId, audience: [HEALTH_AUDIENCE], ttlSeconds: HEALTH_TTL_SECONDS });
      await parseAndValidateJwtSvid(jwt.token, bundle, [HEALTH_AUDIENCE], { now });
      return true;
    } catch (err) {
      this.#log.warn({ err }, 'CA signing self-check failed');
      return false;
    }
  }

  activeCaNotAfter(): Date {
    const active = this.#x509.active;
    if (!active) throw unavailable('no X.509 CA key is active');
    return new Date(active.lifetime.notAfterMs);
  }

  // --- AuthorityAdmin ---

  listAuthorities(): AuthorityInfo[] {
    return [
      ...describeRing('x509', this.#x509, this.#minPublishMs),
      ...describeRing('jwt', this.#jwt, this.#minPublishMs),
    ];
  }

  prepareNow(kind: AuthorityKind): Promise<AuthorityInfo> {
    return this.#enqueue(async () => {
      const ring = this.#ring(kind);
      const record = await ring.prepareNow(this.#clock.now().getTime());
      await this.#step(); // publishes it: bundle sequence + 1, bundle listeners notified
      const described = describeRing(kind, ring, this.#minPublishMs).find((a) => a.keyId === record.id);
      return described ?? authorityInfo(kind, record);
    });
  }

  activateNow(kind: AuthorityKind): Promise<{ activated: AuthorityInfo; retired?: AuthorityInfo }> {
    return this.#enqueue(async () => {
      const nowMs = this.#clock.now().getTime();
      const { activated, retired } = await this.#ring(kind).activateNow(nowMs, this.#minPublishMs);
      // The rest is what a scheduled activation does: bundle sync, server SVID reissued (its CA changed), listeners.
      await this.#step();
      return {
        activated: authorityInfo(kind, activated, 'active'),
        ...(retired ? { retired: authorityInfo(kind, retired, 'retired') } : {}),
      };
    });
  }

  /** The bundle's `spiffe_refresh_hint`, also the minimum time a prepared key is published before it is activated. */
  get refreshHintSeconds(): number {
    return this.#minPublishMs / 1000;
  }

  #ring(kind: AuthorityKind): KeyRing<X509CaMaterial> | KeyRing<JwtKeyMaterial> {
    if (kind === 'x509') return this.#x509;
    if (kind === 'jwt') return this.#jwt;
    throw new TypeError(`unknown authority kind ${JSON.stringify(kind)}`);
  }

  // --- Rotation ---

  /**
   * One rotation step at the clock's current time: rotate both key kinds, bring the bundle up to date, delete expired
   * keys, renew the server SVID when due; then notify listeners (bundle first, then server SVID). Steps never overlap.
   */
  tick(): Promise<void> {
    return this.#enqueue(() => this.#step());
  }

  /** Runs `fn` after every earlier step (timer, tick, operator), never overlapping one. */
  #enqueue<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.#queue.then(fn);
    this.#queue = run.then(
      () => undefined,
      () => undefined,
    );
    return run;
  }

  /** Starts the rotation timer (unref'd: it never keeps the process alive). Idempotent. */
  start(): void {
    if (this.#started) return;
    this.#started = true;
    this.#schedule();
  }

  /** Stops the timer and waits for a running step to finish. Signing keeps working with the keys in memory. */
  async stop(): Promise<void> {
    this.#started = false;
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = undefined;
    await this.#queue;
  }

  async #step(): Promise<void> {
    const now = this.#clock.now();
    const nowMs = now.getTime();
    const published = (record: KeyRecord) => this.#publisher.publishes(record);
    const x509 = await this.#x509.rotate(nowMs, published, this.#minPublishMs);
    await this.#jwt.rotate(nowMs, published, this.#minPublishMs);
    const bundleChanged = await this.#publisher.sync(nowMs, this.#upstream?.roots ?? []);
    this.#x509.notePublished(nowMs, published);
    this.#jwt.notePublished(nowMs, published);
    try {
      await this.#x509.purge(nowMs);
      await this.#jwt.purge(nowMs);
    } catch (err) {
      // Expired keys are already out of the bundle; deleting their records is retried at the next step.
      this.#log.warn({ err }, 'Could not delete expired keys; will retry');
    }

    const ca = this.#x509.active!;
    let svidChanged = false;
    if (x509.activeChanged || this.#server.needsRenewal(nowMs, ca.record.id)) {
      const svid = this.#server.renew({ id: ca.record.id, signer: ca.material.signer, chain: ca.material.chain }, now);
      this.#log.info({ notAfter: svid.notAfter.toISOString(), caKeyId: ca.record.id }, 'Issued server SVID');
      svidChanged = true;
    }
    if (bundleChanged) {
      const bundle = this.#publisher.current!;
      for (const listener of [...this.#bundleListeners]) this.#notify(() => listener(bundle), 'bundle');
    }
    if (svidChanged) {
      for (const listener of [...this.#svidListeners]) this.#notify(listener, 'server SVID');
    }
  }

  #notify(call: () => void, what: string): void {
    try {
      call();
    } catch (err) {
      this.#log.error({ err }, `A ${what} change listener failed`);
    }
  }

  #schedule(): void {
    if (!this.#started) return;
    const nowMs = this.#clock.now().getTime();
    const due = Math.min(
      this.#x509.nextDueMs(nowMs, this.#minPublishMs),
      this.#jwt.nextDueMs(nowMs, this.#minPublishMs),
      this.#publisher.nextExpiryMs,
      this.#server.renewAtMs,
    );
    const delay = Math.min(SYNC_INTERVAL_MS, Math.max(MIN_TIMER_MS, due - nowMs));
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      this.tick()
        .catch((err: unknown) => this.#log.error({ err }, 'CA rotation step failed; it will be retried'))
        .finally(() => this.#schedule());
    }, delay);
    this.#timer.unref();
  }
}
