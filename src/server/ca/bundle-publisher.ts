import { createPublicKey, X509Certificate, type JsonWebKey, type KeyObject } from 'node:crypto';
import { isTesseraError } from '../../common/errors.js';
import type { Logger } from '../../common/log.js';
import { SpiffeBundle } from '../../spiffe/bundle/index.js';
import type { TrustDomain } from '../../spiffe/id/index.js';
import type { BundleStore, KeyRecord, KeyStore } from '../datastore/index.js';
import { bundleExpiryMs } from './schedule.js';
import { isSelfSigned } from './upstream.js';

export interface BundlePublisherOptions {
  readonly trustDomain: TrustDomain;
  readonly keys: KeyStore;
  readonly bundles: BundleStore;
  readonly refreshHintSeconds: number;
  readonly log: Logger;
}

const PUT_ATTEMPTS = 3;

/**
 * The trust domain's own SPIFFE bundle, computed from the KeyStore and kept in the BundleStore.
 *
 * Contents: every JWT key record not past notAfter + grace, of ANY server sharing the datastore, in any state
 * (prepared, active, retired); every such X.509 CA record whose certificate is self-signed (a root); and the upstream
 * roots. Intermediates under an upstream authority are never published: leaves carry them in their chain.
 *
 * The sequence moves only when the contents change: each sync compares the desired contents with the stored bundle
 * and adopts the stored sequence when they are equal (restart, or another server already published the change),
 * else puts the bundle with the stored sequence + 1 (re-reading and retrying if another server got there first).
 */
export class BundlePublisher {
  readonly #o: BundlePublisherOptions;
  #current: SpiffeBundle | undefined;
  #nextExpiryMs = Infinity;
  /** Self-signedness per record id (records never change their certificate). */
  readonly #roots = new Map<string, boolean>();

  constructor(o: BundlePublisherOptions) {
    this.#o = o;
  }

  get current(): SpiffeBundle | undefined {
    return this.#current;
  }

  /** When the next key leaves the bundle (ms), for the timer. */
  get nextExpiryMs(): number {
    return this.#nextExpiryMs;
  }

  /** True when the key of `record` is in the current bundle (X.509 intermediates: true, they chain to the roots). */
  publishes(record: KeyRecord): boolean {
    const bundle = this.#current;
    if (!bundle) return false;
    if (record.kind === 'jwt') return bundle.jwtBundle.findJwtAuthority(record.id) !== undefined;
    return this.#isRoot(record) ? bundle.x509Bundle.hasAuthority(record.publicMaterial) : !bundle.x509Bundle.isEmpty();
  }

  /** Brings the bundle up to date at `nowMs`. True when the current bundle changed (its sequence moved). */
  async sync(nowMs: number, upstreamRoots: readonly Uint8Array[]): Promise<boolean> {
    const { trustDomain, keys, bundles, refreshHintSeconds, log } = this.#o;
    const records = await keys.list();
    const x509Authorities: Uint8Array[] = [...upstreamRoots];
    const jwtAuthorities: { kid: string; key: KeyObject }[] = [];
    let nextExpiry = Infinity;
    for (const r of records) {
      const expiry = bundleExpiryMs(r.notAfter * 1000);
      if (nowMs > expiry) continue;
      if (r.kind === 'x509_ca') {
        if (!this.#isRoot(r)) continue;
        x509Authorities.push(r.publicMaterial);
      } else {
        const key = jwtPublicKey(r);
        if (!key) {
          log.warn({ keyId: r.id, serverId: r.serverId }, 'Skipped a JWT key record whose public key cannot be read');
          continue;
        }
        jwtAuthorities.push({ kid: r.id, key });
      }
      nextExpiry = Math.min(nextExpiry, expiry + 1);
    }
    const build = (sequence: bigint) =>
      SpiffeBundle.fromParts({
        trustDomain,
        x509Authorities,
        jwtAuthorities,
        refreshHintSeconds,
        sequenceNumber: sequence,
      });

    for (let attempt = 1; ; attempt++) {
      const stored = await bundles.get(trustDomain.name);
      let next: SpiffeBundle | undefined;
      if (stored) {
        const candidate = build(BigInt(stored.sequence));
        if (sameContents(candidate, stored.document, trustDomain)) next = candidate;
      }
      if (!next) {
        const sequence = (stored?.sequence ?? 0) + 1;
        const bundle = build(BigInt(sequence));
        try {
          await bundles.put(trustDomain.name, bundle.marshal(), sequence);
        } catch (err) {
          if (attempt < PUT_ATTEMPTS && isTesseraError(err) && err.code === 'FAILED_PRECONDITION') continue;
          throw err;
        }
        log.info(
          { sequence, x509Authorities: x509Authorities.length, jwtAuthorities: jwtAuthorities.length },
          'Published trust bundle',
        );
        next = bundle;
      }
      this.#nextExpiryMs = nextExpiry;
      const changed = !this.#current || !this.#current.equals(next);
      this.#current = next;
      return changed;
    }
  }

  #isRoot(record: KeyRecord): boolean {
    let root = this.#roots.get(record.id);
    if (root === undefined) {
      try {
        root = isSelfSigned(new X509Certificate(record.publicMaterial));
      } catch {
        root = false;
      }
      this.#roots.set(record.id, root);
    }
    return root;
  }
}

function jwtPublicKey(record: KeyRecord): KeyObject | undefined {
  try {
    const jwk = JSON.parse(new TextDecoder().decode(record.publicMaterial)) as JsonWebKey;
    return createPublicKey({ key: jwk, format: 'jwk' });
  } catch {
    return undefined;
  }
}

function sameContents(candidate: SpiffeBundle, storedDocument: string, trustDomain: TrustDomain): boolean {
  try {
    return candidate.equals(SpiffeBundle.parse(trustDomain, storedDocument));
  } catch {
    return false; // an unreadable stored document is replaced
  }
}
