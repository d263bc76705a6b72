import { generateKeyPairSync, type KeyObject } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import type { Clock } from '../../common/clock.js';
import { failedPrecondition, permissionDenied, TesseraError } from '../../common/errors.js';
import type { Logger } from '../../common/log.js';
import { X509Bundle } from '../../spiffe/bundle/index.js';
import type { TrustDomain } from '../../spiffe/id/index.js';
import { BACKDATE_SECONDS, parseX509Svid, verifyX509Svid } from '../../spiffe/x509svid/index.js';
import { parseCertificate } from '../../spiffe/x509svid/certificate-info.js';
import { splitDer } from '../../spiffe/x509svid/der-reader.js';
import { encodePublicKey } from '../../spiffe/x509svid/public-key.js';
import { Backoff, jittered, type BackoffOptions } from '../../common/backoff.js';
import type { AgentTlsIdentity } from '../client/credentials.js';
import { derSetKey } from '../client/credentials.js';
import type { RenewAgentResponse } from '../client/messages.js';
import { probeServerChain } from '../client/probe.js';
import type { ServerClient } from '../client/server-client.js';
import type { BootstrapTrust } from '../config.js';
import type { AgentNodeAttestor } from './node-attestor.js';
import type { AgentStateStore } from './store.js';

/** The agent's own SVID and key (mTLS client certificate towards the server). */
export interface AgentSvid extends AgentTlsIdentity {
  readonly spiffeId: string;
  readonly chain: readonly Uint8Array[];
  readonly privateKey: KeyObject;
  readonly notAfter: Date;
  /** When it was issued as far as the agent knows (receipt time, or notBefore + the issuer's backdate when loaded). */
  readonly issuedAt: Date;
  /** Hexadecimal. */
  readonly serial: string;
}

export interface AgentIdentityOptions {
  readonly trustDomain: TrustDomain;
  readonly client: ServerClient;
  readonly store: AgentStateStore;
  readonly attestor: AgentNodeAttestor;
  readonly bootstrap: BootstrapTrust;
  readonly clock: Clock;
  readonly log: Logger;
  /** Fraction of the SVID's life after which it is renewed. Default 0.5. */
  readonly renewFraction?: number;
  /** Retry backoff for attestation and renewal. Default 1 s doubling to 30 s, ±20 % jitter. */
  readonly backoff?: BackoffOptions;
  /** Told after every new agent SVID (attested, renewed, loaded). */
  readonly onSvid?: (svid: AgentSvid) => void;
}

/** Treat an SVID this close to its expiry as expired (it could not be used for a call). */
const EXPIRY_MARGIN_MS = 1_000;
/** The longest wait between checks while nothing can be done (refused join-token agent). */
const IDLE_RECHECK_MS = 30_000;

/**
 * The agent SVID's lifecycle: loaded from the data dir when still valid (a restart needs no new token), else obtained
 * by node attestation; renewed at about half its life (RenewAgent, with a fresh key); written to disk after every
 * change (src/agent/identity/store.ts); handed to the ServerClient as its TLS identity with the current trust roots.
 *
 * When the server refuses the agent (evicted, SVID replaced, or unauthenticated) it re-attests if the attestor can
 * (x509pop); a join token is one-time, so a refused join-token agent logs an error and stays not ready while the sync
 * stream keeps retrying with backoff. Failures to reach the server are retried with backoff and jitter, bounded by the
 * SVID's expiry. Keys and tokens are never logged.
 */
export class AgentIdentity {
  readonly #o: AgentIdentityOptions;
  readonly #log: Logger;
  readonly #backoff: Backoff;
  readonly #serverId: string;
  #svid: AgentSvid | undefined;
  #roots: Uint8Array[] = [];
  #refused: TesseraError | undefined;
  #refusalLogged = false;
  #renewAtMs = 0;
  #stopped = false;
  #running: Promise<void> | undefined;
  #wake: (() => void) | undefined;
  #waiters: ((svid: AgentSvid) => void)[] = [];

  constructor(options: AgentIdentityOptions) {
    this.#o = options;
    this.#log = options.log;
    this.#backoff = new Backoff({ initialMs: 1_000, maxMs: 30_000, jitter: 0.2, ...options.backoff });
    this.#serverId = `${options.trustDomain.idString()}/tessera/server`;
  }

  /** The current agent SVID (possibly expired or refused; see {@link ready}). */
  get svid(): AgentSvid | undefined {
    return this.#svid;
  }

  /** The trust domain's X.509 authorities the agent trusts the server by. */
  get roots(): readonly Uint8Array[] {
    return this.#roots;
  }

  /** Holds an unexpired SVID the server has not refused. */
  get ready(): boolean {
    return this.notReadyReason() === undefined;
  }

  notReadyReason(): string | undefined {
    if (!this.#svid) return 'agent is not attested yet';
    if (this.#expired(this.#svid)) return 'agent SVID has expired';
    if (this.#refused) return `the server refused the agent: ${this.#refused.message}`;
    return undefined;
  }

  /** Reads the trust roots and the stored SVID (kept when still valid), then starts the attest/renew loop. */
  async start(): Promise<void> {
    await this.#o.store.init();
    await this.#loadRoots();
    await this.#loadStoredSvid();
    this.#running = this.#run();
  }

  /** Resolves with the first usable SVID. */
  whenAttested(): Promise<AgentSvid> {
    if (this.#svid && !this.#expired(this.#svid)) return Promise.resolve(this.#svid);
    return new Promise((resolve) => this.#waiters.push(resolve));
  }

  /** The server refused a call or stream made with the agent SVID: re-attest when the attestor can. */
  refused(err: TesseraError): void {
    if (this.#refused === undefined) this.#refusalLogged = false;
    this.#refused = err;
    this.#wakeUp();
  }

  /** The server accepted the agent again (a sync message arrived). */
  accepted(): void {
    if (this.#refused) this.#log.info('The server accepts the agent again');
    this.#refused = undefined;
  }

  /** New X.509 authorities from sync: kept on disk and used for the server connection. */
  async updateRoots(roots: readonly Uint8Array[]): Promise<void> {
    if (roots.length === 0 || derSetKey(roots) === derSetKey(this.#roots)) return;
    this.#roots = [...roots];
    await this.#o.store.saveBundle(this.#roots);
    if (this.#svid) this.#o.client.setCredentials(this.#roots, this.#svid);
    this.#log.info({ authorities: roots.length }, 'Trust bundle updated');
  }

  /** Stops the loop; waits for a step in flight (an attestation or renewal call) at most `graceMs`. */
  async stop(graceMs = 1_000): Promise<void> {
    this.#stopped = true;
    this.#wakeUp();
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([this.#running, new Promise<void>((resolve) => (timer = setTimeout(resolve, graceMs)))]);
    clearTimeout(timer);
  }

  async #loadRoots(): Promise<void> {
    const stored = await this.#o.store.loadBundle();
    const roots = new Map<string, Uint8Array>();
    for (const der of stored ?? []) roots.set(Buffer.from(der).toString('base64'), der);
    const bootstrap = this.#o.bootstrap;
    if (bootstrap.kind === 'bundle') {
      const bundle = await readTrustBundle(this.#o.trustDomain, bootstrap.trustBundlePath);
      for (const der of bundle.x509Authorities) roots.set(Buffer.from(der).toString('base64'), der);
    } else if (roots.size === 0) {
      this.#log.warn(
        { server: this.#o.client.address },
        'Insecure bootstrap: the server will be trusted on first use (its chain is not verified before attestation). Configure trustBundlePath instead',
      );
    }
    this.#roots = [...roots.values()];
  }

  async #loadStoredSvid(): Promise<void> {
    let stored;
    try {
      stored = await this.#o.store.loadSvid();
    } catch (err) {
      this.#log.warn({ err, file: this.#o.store.svidPath }, 'Stored agent SVID cannot be read; attesting anew');
      return;
    }
    if (!stored) return;
    try {
      const svid = this.#checkSvid([...stored.chain], stored.privateKey, undefined);
      const now = this.#o.clock.now();
      if (this.#expired(svid)) throw new Error('it has expired');
      if (this.#roots.length > 0) {
        verifyX509Svid(stored.chain, new X509Bundle(this.#o.trustDomain, this.#roots), { now });
      }
      this.#setSvid(svid);
      this.#log.info({ spiffeId: svid.spiffeId, expiresAt: svid.notAfter.toISOString() }, 'Using the stored agent SVID');
    } catch (err) {
      this.#log.warn({ reason: (err as Error).message, file: this.#o.store.svidPath }, 'Stored agent SVID is not usable; attesting anew');
    }
  }

  async #run(): Promise<void> {
    while (!this.#stopped) {
      const svid = this.#svid;
      try {
        if (!svid || this.#expired(svid)) {
          await this.#attest(svid === undefined ? 'initial' : 'expired');
          continue;
        }
        if (this.#refused) {
          if (this.#o.attestor.canReattest) {
            await this.#attest('refused');
            continue;
          }
          if (!this.#refusalLogged) {
            this.#refusalLogged = true;
            this.#log.error(
              { spiffeId: svid.spiffeId, reason: this.#refused.message, svidFile: this.#o.store.svidPath },
              'The server refused the agent and a join token cannot be used again: mint a new token, set it in the configuration, delete the stored agent SVID and restart',
            );
          }
          await this.#sleep(Math.min(IDLE_RECHECK_MS, this.#untilExpiryMs(svid)));
          continue;
        }
        const waitMs = this.#renewAtMs - this.#o.clock.now().getTime();
        if (waitMs > 0) {
          await this.#sleep(waitMs);
          continue;
        }
        await this.#renew(svid);
      } catch (err) {
        if (this.#stopped) break;
        const delay = this.#backoff.next();
        const e = err instanceof TesseraError ? err : undefined;
        if (e && (e.code === 'PERMISSION_DENIED' || e.code === 'UNAUTHENTICATED')) {
          this.#log.error({ reason: e.message, retryInMs: delay }, 'The server refused the agent');
        } else {
          this.#log.warn({ reason: (err as Error).message, retryInMs: delay }, 'Agent SVID step failed; retrying');
        }
        const current = this.#svid;
        await this.#sleep(current && !this.#expired(current) && !this.#refused ? Math.min(delay, this.#untilExpiryMs(current)) : delay);
      }
    }
  }

  async #attest(why: 'initial' | 'expired' | 'refused'): Promise<void> {
    const attestor = this.#o.attestor;
    const { payload, answer } = await attestor.prepare();
    const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const insecure = this.#roots.length === 0;
    const probed = insecure ? await probeServerChain(this.#o.client.address, this.#serverId) : undefined;
    const outcome = await this.#o.client.attest(
      { attestor: attestor.name, payload, agent_public_key: Buffer.from(encodePublicKey(publicKey).spki) },
      answer,
      insecure ? { insecure: true } : { roots: this.#roots },
    );
    const roots = splitDer(outcome.bundle).map((d) => new Uint8Array(d));
    if (roots.length === 0) throw permissionDenied('the attestation result holds no trust bundle');
    if (probed) this.#checkFirstUse(probed, outcome.serverLeaf, roots);
    const svid = this.#checkSvid(splitDer(outcome.svid_chain).map((d) => new Uint8Array(d)), privateKey, this.#o.clock.now());
    await this.#o.store.saveSvid(svid);
    this.#roots = roots;
    await this.#o.store.saveBundle(roots);
    this.#refused = undefined;
    this.#setSvid(svid);
    this.#backoff.reset();
    this.#log.info(
      { spiffeId: svid.spiffeId, attestor: attestor.name, serial: svid.serial, expiresAt: svid.notAfter.toISOString(), reason: why },
      'Agent attested',
    );
  }

  async #renew(current: AgentSvid): Promise<void> {
    const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const response = await this.#o.client.unary<RenewAgentResponse>('RenewAgent', {
      public_key: Buffer.from(encodePublicKey(publicKey).spki),
    });
    const svid = this.#checkSvid(splitDer(response.svid_chain).map((d) => new Uint8Array(d)), privateKey, this.#o.clock.now());
    if (svid.spiffeId !== current.spiffeId) {
      throw permissionDenied(`the renewed SVID names ${JSON.stringify(svid.spiffeId)}, not ${JSON.stringify(current.spiffeId)}`);
    }
    await this.#o.store.saveSvid(svid);
    this.#setSvid(svid);
    this.#backoff.reset();
    this.#log.info(
      { spiffeId: svid.spiffeId, serial: svid.serial, previousSerial: current.serial, expiresAt: svid.notAfter.toISOString() },
      'Agent SVID renewed',
    );
  }

  /** Insecure bootstrap: the chain the server presented must verify against the bundle it just returned. */
  #checkFirstUse(probed: readonly Uint8Array[], leafOnCall: Uint8Array | undefined, roots: readonly Uint8Array[]): void {
    if (leafOnCall && !Buffer.from(leafOnCall).equals(Buffer.from(probed[0]!))) {
      throw permissionDenied('the server presented different certificates on the probe and the attestation connections');
    }
    let verified;
    try {
      verified = verifyX509Svid(probed, new X509Bundle(this.#o.trustDomain, roots), { now: this.#o.clock.now() });
    } catch (err) {
      throw permissionDenied(`the server's certificate does not verify against the bundle it returned: ${(err as Error).message}`);
    }
    if (verified.spiffeId.toString() !== this.#serverId) {
      throw permissionDenied(`the server presented ${JSON.stringify(verified.spiffeId.toString())}`);
    }
    this.#log.warn({ server: this.#o.client.address }, 'Insecure bootstrap: trusting the bundle the server returned');
  }

  /** Parses a received or stored SVID: an agent ID of our trust domain, for `privateKey`. */
  #checkSvid(chain: Uint8Array[], privateKey: KeyObject, receivedAt: Date | undefined): AgentSvid {
    const pkcs8 = privateKey.export({ type: 'pkcs8', format: 'der' });
    const parsed = parseX509Svid(chain, pkcs8);
    const spiffeId = parsed.spiffeId.toString();
    if (!parsed.spiffeId.memberOf(this.#o.trustDomain) || !parsed.spiffeId.path.startsWith('/tessera/agent/')) {
      throw permissionDenied(`${JSON.stringify(spiffeId)} is not an agent ID of ${this.#o.trustDomain.name}`);
    }
    const leaf = parseCertificate(chain[0]!);
    const issuedAt =
      receivedAt ??
      new Date(Math.min(leaf.notAfter.getTime(), leaf.notBefore.getTime() + BACKDATE_SECONDS * 1000));
    return { spiffeId, chain, privateKey, notAfter: leaf.notAfter, issuedAt, serial: leaf.serial.toString(16) };
  }

  #setSvid(svid: AgentSvid): void {
    this.#svid = svid;
    const lifeMs = svid.notAfter.getTime() - svid.issuedAt.getTime();
    this.#renewAtMs = svid.issuedAt.getTime() + jittered(lifeMs, this.#o.renewFraction ?? 0.5, 0.1);
    if (this.#roots.length > 0) this.#o.client.setCredentials(this.#roots, svid);
    this.#o.onSvid?.(svid);
    for (const w of this.#waiters.splice(0)) w(svid);
  }

  #expired(svid: AgentSvid): boolean {
    return svid.notAfter.getTime() - EXPIRY_MARGIN_MS <= this.#o.clock.now().getTime();
  }

  #untilExpiryMs(svid: AgentSvid): number {
    return Math.max(0, svid.notAfter.getTime() - EXPIRY_MARGIN_MS - this.#o.clock.now().getTime());
  }

  #sleep(ms: number): Promise<void> {
    if (this.#stopped) return Promise.resolve();
    return new Promise((resolve) => {
      const timer = setTimeout(done, Math.max(0, Math.min(ms, 2 ** 31 - 1)));
      function done() {
        clearTimeout(timer);
        resolve();
      }
      this.#wake = done;
    });
  }

  #wakeUp(): void {
    const wake = this.#wake;
    this.#wake = undefined;
    wake?.();
  }
}

/** What to do about a bad trustBundlePath, appended to every error about it. */
const TRUST_BUNDLE_HINT =
  'write the server\'s CA roots there with "tessera bundle show --format pem > FILE" on the server, ' +
  'or set insecureBootstrap: true to trust the server on first use';

/**
 * Reads the bootstrap trust bundle (the `trustBundlePath` setting). A missing, unreadable, unparsable or empty file is
 * FAILED_PRECONDITION naming the setting, the file and how to make it.
 */
async function readTrustBundle(trustDomain: TrustDomain, file: string): Promise<X509Bundle> {
  let pem: string;
  try {
    pem = await readFile(file, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    const what = code === 'ENOENT' ? 'does not exist' : `cannot be read (${code ?? 'error'})`;
    throw failedPrecondition(`trustBundlePath ${JSON.stringify(file)} ${what}: ${TRUST_BUNDLE_HINT}`);
  }
  let bundle: X509Bundle;
  try {
    bundle = X509Bundle.parsePem(trustDomain, pem);
  } catch (err) {
    throw failedPrecondition(
      `trustBundlePath ${JSON.stringify(file)} is not a PEM certificate bundle (${(err as Error).message}): ${TRUST_BUNDLE_HINT}`,
    );
  }
  if (bundle.isEmpty()) {
    throw failedPrecondition(`trustBundlePath ${JSON.stringify(file)} holds no certificate: ${TRUST_BUNDLE_HINT}`);
  }
  return bundle;
}
