import { generateKeyPairSync, type KeyObject } from 'node:crypto';
import { SpiffeId, type TrustDomain } from '../../spiffe/id/index.js';
import type { X509SvidSigner } from '../../spiffe/x509svid/index.js';

export interface ServerSvid {
  readonly chain: readonly Uint8Array[];
  readonly privateKey: KeyObject;
  readonly notAfter: Date;
}

/** The CA key that signs the server SVID. */
export interface ServerSvidCa {
  readonly id: string;
  readonly signer: X509SvidSigner;
  readonly chain: readonly Uint8Array[];
}

/** DNS SAN of the server SVID. The leaf signer has no IP SAN support, so no 127.0.0.1. */
export const SERVER_SVID_DNS_NAMES: readonly string[] = ['localhost'];

export function serverSpiffeId(trustDomain: TrustDomain): SpiffeId {
  return SpiffeId.fromSegments(trustDomain, 'tessera', 'server');
}

/**
 * The server's own X509-SVID `spiffe://<td>/tessera/server` (DNS SAN `localhost`): a fresh P-256 key per renewal, kept
 * in memory only; renewed at half its life and whenever another CA key becomes active.
 */
export class ServerSvidKeeper {
  readonly #spiffeId: SpiffeId;
  readonly #ttlSeconds: number;
  #current: { svid: ServerSvid; renewAtMs: number; caId: string } | undefined;

  constructor(trustDomain: TrustDomain, ttlSeconds: number) {
    this.#spiffeId = serverSpiffeId(trustDomain);
    this.#ttlSeconds = ttlSeconds;
  }

  get current(): ServerSvid | undefined {
    return this.#current?.svid;
  }

  get renewAtMs(): number {
    return this.#current?.renewAtMs ?? -Infinity;
  }

  needsRenewal(nowMs: number, caId: string): boolean {
    return !this.#current || this.#current.caId !== caId || nowMs >= this.#current.renewAtMs;
  }

  renew(ca: ServerSvidCa, now: Date): ServerSvid {
    const { publicKey, privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const signed = ca.signer.sign({
      spiffeId: this.#spiffeId,
      publicKey,
      now,
      ttlSeconds: this.#ttlSeconds,
      dnsNames: SERVER_SVID_DNS_NAMES,
    });
    const svid: ServerSvid = { chain: [signed.der, ...ca.chain], privateKey, notAfter: signed.notAfter };
    const nowMs = now.getTime();
    this.#current = { svid, renewAtMs: nowMs + Math.floor((signed.notAfter.getTime() - nowMs) / 2), caId: ca.id };
    return svid;
  }
}
