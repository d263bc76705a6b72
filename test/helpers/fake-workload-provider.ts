/**
 * A fake WorkloadIdentityProvider for Workload API tests, backed by REAL SVIDs: X509-SVIDs signed by a test authority
 * (src/spiffe X509SvidSigner under createCaCertificate roots, see test-authority.ts) and JWT-SVIDs minted with
 * mintJwtSvid. Tests drive its sessions directly: rotate, change identities, touch (a new state with the same
 * content), close (process exit). Also the real CallerCredentialsReader with failure injection.
 */
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { permissionDenied, unavailable } from '../../src/common/errors.js';
import { createCallerCredentialsReader } from '../../src/agent/workloadattestor/index.js';
import type { JwtBundle } from '../../src/spiffe/bundle/index.js';
import { SpiffeId } from '../../src/spiffe/id/index.js';
import type {
  CallerCredentials,
  CallerCredentialsReader,
  WorkloadIdentityProvider,
  WorkloadJwtSvid,
  WorkloadSession,
  WorkloadState,
  WorkloadX509Svid,
} from '../../src/agent/types.js';
import { createTestAuthority, type TestAuthority } from './test-authority.js';

export interface FakeIdentity {
  readonly spiffeId: string;
  readonly hint?: string;
}

export class FakeWorkloadSession implements WorkloadSession {
  readonly instanceId = randomBytes(16).toString('hex');
  readonly #provider: FakeWorkloadProvider;
  readonly #listeners = new Set<(event: { readonly closed: boolean }) => void>();
  #identities: FakeIdentity[];
  #state: WorkloadState;
  #closed = false;
  /** Every fetchJwtSvids call. */
  readonly jwtRequests: { audience: readonly string[]; spiffeId?: string }[] = [];

  constructor(provider: FakeWorkloadProvider, identities: readonly FakeIdentity[]) {
    this.#provider = provider;
    this.#identities = [...identities];
    this.#state = this.#build();
  }

  current(): WorkloadState {
    return this.#state;
  }

  onChange(listener: (event: { readonly closed: boolean }) => void): () => void {
    const wrapped = (e: { readonly closed: boolean }) => listener(e);
    this.#listeners.add(wrapped);
    return () => void this.#listeners.delete(wrapped);
  }

  async fetchJwtSvids(audience: readonly string[], spiffeId?: string): Promise<WorkloadJwtSvid[]> {
    this.jwtRequests.push({ audience, ...(spiffeId !== undefined && { spiffeId }) });
    const ids = this.#identities.filter((i) => spiffeId === undefined || i.spiffeId === spiffeId);
    if (ids.length === 0) throw permissionDenied('no identity issued');
    return Promise.all(
      ids.map(async (i) => ({
        spiffeId: i.spiffeId,
        hint: i.hint ?? '',
        token: (await this.#provider.authority.signJwtSvid({ spiffeId: SpiffeId.parse(i.spiffeId), audience, ttlSeconds: 300 }))
          .token,
      })),
    );
  }

  /** onChange listeners currently subscribed (leak checks). */
  listenerCount(): number {
    return this.#listeners.size;
  }

  get closed(): boolean {
    return this.#closed;
  }

  /** New keys and SVIDs for the same identities. */
  rotate(): void {
    this.#state = this.#build();
    this.#emit(false);
  }

  setIdentities(identities: readonly FakeIdentity[]): void {
    this.#identities = [...identities];
    this.#state = this.#build();
    this.#emit(false);
  }

  /** A change event with a new state object of identical content (same SVIDs, same bundles). */
  touch(): void {
    this.#state = { ...this.#state };
    this.#emit(false);
  }

  /** Re-reads the bundles from the authorities (after authority.rotate()) and tells the listeners. */
  refreshBundles(): void {
    this.#state = { ...this.#state, ...this.#provider.bundles() };
    this.#emit(false);
  }

  /** The process exited. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#emit(true);
  }

  #emit(closed: boolean): void {
    for (const l of [...this.#listeners]) l({ closed });
  }

  #build(): WorkloadState {
    const x509Svids: WorkloadX509Svid[] = this.#identities.map((i) => this.#provider.issue(i));
    return { x509Svids, trustDomain: this.#provider.authority.trustDomain, ...this.#provider.bundles() };
  }
}

export type SessionResolver = (caller: CallerCredentials) => Promise<WorkloadSession> | WorkloadSession;

export class FakeWorkloadProvider implements WorkloadIdentityProvider {
  readonly authority: TestAuthority;
  readonly federated: TestAuthority;
  /** The session every caller gets unless `resolve` is replaced. */
  readonly defaultSession: FakeWorkloadSession;
  /** Decides what session(caller) does; default: the default session. */
  resolve: SessionResolver;
  /** Every caller session() was asked about. */
  readonly callers: CallerCredentials[] = [];
  x509TtlSeconds = 3600;

  private constructor(authority: TestAuthority, federated: TestAuthority, identities: readonly FakeIdentity[]) {
    this.authority = authority;
    this.federated = federated;
    this.defaultSession = new FakeWorkloadSession(this, identities);
    this.resolve = () => this.defaultSession;
  }

  static async create(
    identities: readonly FakeIdentity[] = [{ spiffeId: 'spiffe://example.org/workload' }],
  ): Promise<FakeWorkloadProvider> {
    const authority = await createTestAuthority({ trustDomain: 'example.org' });
    const federated = await createTestAuthority({ trustDomain: 'federated.test' });
    return new FakeWorkloadProvider(authority, federated, identities);
  }

  newSession(identities: readonly FakeIdentity[]): FakeWorkloadSession {
    return new FakeWorkloadSession(this, identities);
  }

  async session(caller: CallerCredentials): Promise<WorkloadSession> {
    this.callers.push(caller);
    return this.resolve(caller);
  }

  jwtBundles(): { readonly own: JwtBundle; readonly federated: ReadonlyMap<string, JwtBundle> } {
    const b = this.bundles();
    return { own: b.jwtBundle, federated: b.federatedJwtBundles };
  }

  bundles(): Pick<WorkloadState, 'x509Bundle' | 'jwtBundle' | 'federatedX509Bundles' | 'federatedJwtBundles'> {
    const own = this.authority.currentBundle();
    const fed = this.federated.currentBundle();
    return {
      x509Bundle: own.x509Bundle,
      jwtBundle: own.jwtBundle,
      federatedX509Bundles: new Map([[fed.trustDomain.name, fed.x509Bundle]]),
      federatedJwtBundles: new Map([[fed.trustDomain.name, fed.jwtBundle]]),
    };
  }

  issue(identity: FakeIdentity): WorkloadX509Svid {
    const key = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const signed = this.authority.signX509Svid({
      spiffeId: SpiffeId.parse(identity.spiffeId),
      publicKey: key.publicKey,
      ttlSeconds: this.x509TtlSeconds,
    });
    return {
      spiffeId: identity.spiffeId,
      chain: signed.chain,
      privateKeyPkcs8: key.privateKey.export({ type: 'pkcs8', format: 'der' }),
      hint: identity.hint ?? '',
      notAfter: signed.notAfter,
    };
  }
}

/**
 * The REAL CallerCredentialsReader (SO_PEERCRED + SO_PEERPIDFD through koffi, src/agent/workloadattestor), recording
 * what it read; with `fail` set it throws instead, as when the kernel refuses.
 */
export class RecordingCallerCredentialsReader implements CallerCredentialsReader {
  fail = false;
  readonly reads: { fd: number; caller: CallerCredentials }[] = [];
  readonly #real = createCallerCredentialsReader();

  read(fd: number): CallerCredentials {
    if (this.fail) throw unavailable(`getsockopt(SO_PEERCRED) failed on fd ${fd}: EPERM (test)`);
    const caller = this.#real.read(fd);
    this.reads.push({ fd, caller });
    return caller;
  }
}
