/**
 * The seams between the agent's parts. The Workload API handlers (src/agent/workloadapi) see only
 * WorkloadIdentityProvider; workload attestation (src/agent/workloadattestor) implements CallerCredentialsReader and
 * WorkloadAttestor; the agent core (src/agent/manager, client, …) implements WorkloadIdentityProvider on top of them.
 */
import type { X509Bundle, JwtBundle } from '../spiffe/bundle/index.js';
import type { TrustDomain } from '../spiffe/id/index.js';

/** What the kernel says about the peer of an accepted Workload API connection (SO_PEERCRED + SO_PEERPIDFD). */
export interface CallerCredentials {
  readonly pid: number;
  readonly uid: number;
  readonly gid: number;
  /**
   * A pidfd for the peer process taken from the socket itself (pins the process against pid reuse and becomes
   * readable when it exits), or undefined where the kernel has none. Owned by the connection: closed with it.
   */
  readonly pidfd?: number;
  /**
   * The binary the peer ran when the connection was accepted (stat through /proc/<pid>/exe right after SO_PEERCRED),
   * or undefined when it could not be read. Attestation refuses a process that runs another binary by then (an exec
   * after connecting: the socket may have been handed to a child before it).
   */
  readonly exe?: FileIdentity;
}

/** A file's identity: device and inode numbers (what `stat` says; the same file whatever path reached it). */
export interface FileIdentity {
  readonly dev: bigint;
  readonly ino: bigint;
}

export interface CallerCredentialsReader {
  /** Reads the peer credentials of a connected Unix socket file descriptor. Throws when the kernel refuses. */
  read(fd: number): CallerCredentials;
}

/** A selector as "type:value" parts, e.g. { type: 'unix', value: 'uid:1000' }. */
export interface WorkloadSelector {
  readonly type: string;
  readonly value: string;
}

/** One attested process instance: identified by (pid, start time), with the selectors its kernel facts give. */
export interface AttestedProcess {
  readonly pid: number;
  /** Process start time in clock ticks since boot (/proc/<pid>/stat field 22): with pid, the instance's identity. */
  readonly startTime: bigint;
  readonly selectors: readonly WorkloadSelector[];
  /** Parent pid at attestation time (for supervisor ancestry, issue 5). */
  readonly ppid: number;
  /** The binary it ran (undefined when /proc/<pid>/exe could not be read): an exec changes it. */
  readonly exe?: FileIdentity;
  /** Its cgroup v2 path (undefined on a pure cgroup v1 host). */
  readonly cgroup?: string;
  /** Whether hashing its binary was asked for (AttestOptions.wantSha256); false = no unix:sha256 selector tried. */
  readonly sha256Tried: boolean;
}

export interface AttestOptions {
  /**
   * Whether a process with these selectors (all but unix:sha256) needs its binary hashed: true only when some entry
   * using unix:sha256 could match it. Default: always hash.
   */
  readonly wantSha256?: (selectors: readonly WorkloadSelector[]) => boolean;
}

export interface WorkloadAttestor {
  /**
   * Attests the caller: reads selectors from /proc (and the pidfd when given), and checks the process is still the
   * same one afterwards (start time unchanged / pidfd still refers to a live process). Throws a TesseraError
   * PERMISSION_DENIED on a pid-reuse mismatch and UNAVAILABLE when the process facts cannot be read.
   */
  attest(caller: CallerCredentials, options?: AttestOptions): Promise<AttestedProcess>;
  /**
   * The cheap check for a later call on a connection first attested as `bound`: the process is still alive (pidfd,
   * or the same start time), runs the same binary (dev, ino) and is in the same cgroup. Throws TesseraError
   * PERMISSION_DENIED otherwise (an exec since: the connection may have been handed to another program).
   */
  recheck(caller: CallerCredentials, bound: AttestedProcess): void;
  /** Resolves when the process exits (pidfd readable, or /proc/<pid> gone / start time changed when polled). */
  watchExit(caller: CallerCredentials, process: AttestedProcess, signal: AbortSignal): Promise<void>;
}

/**
 * What one Workload API connection was first attested as. The provider sets `bound` on the connection's first call
 * and, on every later call, serves only a process that is still that one (WorkloadAttestor.recheck): a connection
 * never receives an identity of another program than the one it was first attested as.
 *
 * Decisions (issue 10, exec race):
 * - The connection's caller is the process that connected (SO_PEERCRED/SO_PEERPIDFD), as in SPIRE, and its image
 *   (pid, start time, binary dev/ino, cgroup) is bound: at accept the binary is recorded (CallerCredentials.exe), at
 *   the first call the whole attestation, and every later call checks pidfd alive + same binary + same cgroup.
 *   Once the connector exec's, every call on the connection is PERMISSION_DENIED, whoever makes it.
 * - A child that inherited the socket while the connector still runs the same binary is served the connector's
 *   identity: the socket is a capability its owner chose to hand on (it could hand on its SVID and key as well).
 * - Not used: SO_PASSCRED/SCM_CREDENTIALS (the pid of each message's sender). grpc-js reads the socket through
 *   libuv, which discards ancillary data; using it would mean our own recvmsg loop under HTTP/2, and the sender of
 *   the first bytes of a call may not be the sender of the rest. The bound image gives the guarantee above.
 * - Not seen: an exec between the peer's connect() and the agent's accept (microseconds; the kernel records no binary
 *   with the peer credentials).
 */
export interface ConnectionBinding {
  bound?: AttestedProcess;
}

/** One X509-SVID as served to a workload. */
export interface WorkloadX509Svid {
  readonly spiffeId: string;
  /** Leaf first, then intermediates. DER. */
  readonly chain: readonly Uint8Array[];
  /** PKCS#8 DER of the instance's private key. */
  readonly privateKeyPkcs8: Uint8Array;
  readonly hint: string;
  readonly notAfter: Date;
}

export interface WorkloadJwtSvid {
  readonly spiffeId: string;
  readonly token: string;
  readonly hint: string;
}

/** A snapshot of everything one workload instance is entitled to right now (full state, never a delta). */
export interface WorkloadState {
  /** Default identity first. Empty = no identity (the API answers PermissionDenied). */
  readonly x509Svids: readonly WorkloadX509Svid[];
  readonly trustDomain: TrustDomain;
  readonly x509Bundle: X509Bundle;
  readonly jwtBundle: JwtBundle;
  /** Bundles of federated trust domains the instance's entries federate with, by trust domain name. */
  readonly federatedX509Bundles: ReadonlyMap<string, X509Bundle>;
  readonly federatedJwtBundles: ReadonlyMap<string, JwtBundle>;
}

/** The identities of one attested caller; lives as long as the caller's process (or until it is closed). */
export interface WorkloadSession {
  readonly instanceId: string;
  current(): WorkloadState;
  /** Called after every change of current() (rotation, bundle, entries), and once with `closed` when the process exits. */
  onChange(listener: (event: { readonly closed: boolean }) => void): () => void;
  /** Mints JWT-SVIDs for `audience`: one per identity, or only `spiffeId`'s. Throws PERMISSION_DENIED when none. */
  fetchJwtSvids(audience: readonly string[], spiffeId?: string): Promise<WorkloadJwtSvid[]>;
}

export interface WorkloadIdentityProvider {
  /**
   * Attests the caller and returns its session (shared by all connections of the same process instance). Throws
   * TesseraError PERMISSION_DENIED (no identity / pid reuse) or UNAVAILABLE (attestation failed, agent not ready).
   */
  session(caller: CallerCredentials, connection?: ConnectionBinding): Promise<WorkloadSession>;
  /** Own and federated JWT bundles, for ValidateJWTSVID (any caller with an identity may validate). */
  jwtBundles(): { readonly own: JwtBundle; readonly federated: ReadonlyMap<string, JwtBundle> };
}
