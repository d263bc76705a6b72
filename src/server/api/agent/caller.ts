import type { PeerCertificate } from 'node:tls';
import type { Clock } from '../../../common/clock.js';
import { permissionDenied, unauthenticated } from '../../../common/errors.js';
import { isSpiffeError } from '../../../spiffe/errors.js';
import { SpiffeId, type TrustDomain } from '../../../spiffe/id/index.js';
import type { SpiffeBundle } from '../../../spiffe/bundle/index.js';
import { verifyX509Svid } from '../../../spiffe/x509svid/index.js';
import type { BundleSource, ServerIdentitySource } from '../../ca/types.js';
import type { AgentRecord, AgentStore } from '../../datastore/index.js';

/** An authenticated agent: the verified SVID it presented and its current record. */
export interface AgentCaller {
  readonly agentId: string;
  readonly spiffeId: SpiffeId;
  /** Serial of the presented SVID, lowercase hex without leading zeros (the AgentStore form). */
  readonly serial: string;
  readonly notAfter: Date;
  readonly record: AgentRecord;
}

export interface AgentAuthenticatorConfig {
  readonly trustDomain: TrustDomain;
  readonly agents: Pick<AgentStore, 'get'>;
  readonly bundle: Pick<BundleSource, 'currentBundle'>;
  readonly serverIdentity?: Pick<ServerIdentitySource, 'currentServerSvid'>;
  readonly clock: Clock;
  /** How long a verified certificate is trusted without re-verifying its chain. */
  readonly cacheMs: number;
}

interface Verified {
  readonly spiffeId: SpiffeId;
  readonly serial: string;
  readonly notAfter: Date;
  readonly bundle: SpiffeBundle;
  readonly untilMs: number;
}

/** Most verified certificates kept; the cache is emptied when it is full (agents simply re-verify). */
const CACHE_LIMIT = 10_000;
/** Most intermediates remembered from issued chains. */
const INTERMEDIATE_LIMIT = 32;

/** A call whose TLS peer can be asked for (grpc-js server calls). */
export interface CallWithAuthContext {
  getAuthContext(): { sslPeerCertificate?: PeerCertificate } | null;
}

/**
 * Authenticates agent calls by their mTLS client certificate (every RPC but Attest).
 *
 * The TLS layer requests a client certificate but does not require one (Attest is called without); grpc-js exposes the
 * peer certificate only when it chained to the CA certificates the TLS layer holds (the bundle roots), and only the
 * leaf. Here the leaf is verified as an X509-SVID (verifyX509Svid) against the CURRENT bundle at now, with the known
 * CA intermediates; its ID must be under `spiffe://<td>/tessera/agent/`. A successful verification is cached by the
 * certificate's SHA-256 for at most `cacheMs` (and never past the certificate's notAfter or a bundle change). The agent
 * record is read on every call (one indexed datastore read): missing = evicted, banned, or an SVID serial that is
 * neither the record's current one nor the previous one still in its renewal grace = PermissionDenied.
 */
export class AgentAuthenticator {
  readonly #config: AgentAuthenticatorConfig;
  readonly #agentPrefix: string;
  readonly #cache = new Map<string, Verified>();
  readonly #intermediates = new Map<string, Uint8Array>();
  /** agent ID → the serial replaced by its last renewal, accepted until that SVID expires. */
  readonly #previousSerials = new Map<string, { serial: string; untilMs: number }>();

  constructor(config: AgentAuthenticatorConfig) {
    this.#config = config;
    this.#agentPrefix = `${config.trustDomain.idString()}/tessera/agent/`;
  }

  /** True when `id` is an agent ID of this trust domain. */
  isAgentId(id: string): boolean {
    return id.startsWith(this.#agentPrefix);
  }

  async authenticate(call: CallWithAuthContext): Promise<AgentCaller> {
    const cert = call.getAuthContext()?.sslPeerCertificate;
    if (!cert?.raw || cert.raw.length === 0) {
      throw unauthenticated('a client certificate (the agent SVID) is required');
    }
    const nowMs = this.#config.clock.now().getTime();
    const verified = this.#verify(cert, nowMs);
    const agentId = verified.spiffeId.toString();
    if (!this.isAgentId(agentId)) {
      throw permissionDenied(`caller ${JSON.stringify(agentId)} is not an agent of this trust domain`);
    }
    const record = await this.#config.agents.get(agentId);
    if (!record) throw permissionDenied('agent is not attested (evicted?)');
    if (record.banned) throw permissionDenied('agent is banned');
    if (record.svidSerial !== verified.serial) {
      const previous = this.#previousSerials.get(agentId);
      if (!previous || previous.serial !== verified.serial || nowMs >= previous.untilMs) {
        throw permissionDenied('agent SVID has been replaced (renewed or re-attested); use the current one');
      }
    }
    return { agentId, spiffeId: verified.spiffeId, serial: verified.serial, notAfter: verified.notAfter, record };
  }

  /** After a renewal: the SVID with `serial` stays acceptable until `untilMs` (its notAfter). */
  allowPreviousSerial(agentId: string, serial: string, untilMs: number): void {
    this.#previousSerials.set(agentId, { serial, untilMs });
    if (this.#previousSerials.size > CACHE_LIMIT) {
      const nowMs = this.#config.clock.now().getTime();
      for (const [id, p] of this.#previousSerials) if (nowMs >= p.untilMs) this.#previousSerials.delete(id);
    }
  }

  /** Remembers the intermediates of a chain this server issued (leaf first), for verifying client certificates. */
  rememberChain(chain: readonly Uint8Array[]): void {
    for (const der of chain.slice(1)) {
      const key = Buffer.from(der).toString('base64');
      if (this.#intermediates.has(key)) continue;
      if (this.#intermediates.size >= INTERMEDIATE_LIMIT) {
        this.#intermediates.delete(this.#intermediates.keys().next().value!);
      }
      this.#intermediates.set(key, der);
    }
  }

  #verify(cert: PeerCertificate, nowMs: number): Verified {
    const bundle = this.#config.bundle.currentBundle();
    const fingerprint = cert.fingerprint256;
    const cached = this.#cache.get(fingerprint);
    if (cached && cached.bundle === bundle && nowMs < cached.untilMs) return cached;
    let result;
    try {
      result = verifyX509Svid([cert.raw, ...this.#knownIntermediates()], bundle, { now: new Date(nowMs) });
    } catch (err) {
      if (isSpiffeError(err)) throw unauthenticated(`client certificate is not a valid agent SVID: ${err.message}`, { cause: err });
      throw err;
    }
    // The chain is verified: the TLS layer's reading of the same leaf gives serial and expiry.
    const leaf = { serial: BigInt('0x' + cert.serialNumber).toString(16), notAfter: new Date(cert.valid_to) };
    if (Number.isNaN(leaf.notAfter.getTime())) throw unauthenticated('client certificate expiry cannot be read');
    const entry: Verified = {
      spiffeId: result.spiffeId,
      serial: leaf.serial,
      notAfter: leaf.notAfter,
      bundle,
      untilMs: Math.min(nowMs + this.#config.cacheMs, leaf.notAfter.getTime() + 1),
    };
    if (this.#cache.size >= CACHE_LIMIT) this.#cache.clear();
    this.#cache.set(fingerprint, entry);
    return entry;
  }

  #knownIntermediates(): Uint8Array[] {
    const out = [...this.#intermediates.values()];
    try {
      const chain = this.#config.serverIdentity?.currentServerSvid().chain;
      if (chain) out.push(...chain.slice(1));
    } catch {
      // no server SVID yet: only the remembered intermediates
    }
    return out;
  }
}
