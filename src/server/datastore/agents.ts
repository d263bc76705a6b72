import type { Selector } from './entries.js';

/** An attested node agent (proto tessera.admin.v1.Agent). Times are Unix seconds. */
export interface AgentRecord {
  readonly spiffeId: string;
  /** "join_token", "x509pop", ... */
  readonly attestor: string;
  readonly selectors: readonly Selector[];
  /** Serial (hex) of the agent's current SVID. */
  readonly svidSerial: string;
  readonly svidExpiresAt: number;
  readonly banned: boolean;
  readonly attestedAt: number;
  readonly lastSeenAt: number;
}

export interface AgentAttestation {
  readonly spiffeId: string;
  readonly attestor: string;
  readonly selectors: readonly Selector[];
  readonly svidSerial: string;
  readonly svidExpiresAt: number;
  /** Also the new lastSeenAt. */
  readonly attestedAt: number;
}

export interface AgentStore {
  /**
   * Creates the record, or replaces attestor, selectors, SVID and times of an existing one (re-attestation).
   * PERMISSION_DENIED if the agent is banned: the check and the write are one step, so a ban cannot be raced.
   */
  upsertAttested(attestation: AgentAttestation): Promise<AgentRecord>;
  get(spiffeId: string): Promise<AgentRecord | null>;
  /** Banned agents included; ordered by spiffeId. */
  list(): Promise<AgentRecord[]>;
  /**
   * Records a renewed SVID. NOT_FOUND; PERMISSION_DENIED if banned; FAILED_PRECONDITION if `previousSerial` is given
   * and is not the stored serial (a stale or replayed renewal).
   */
  updateSvid(
    spiffeId: string,
    svid: { serial: string; expiresAt: number; previousSerial?: string },
  ): Promise<AgentRecord>;
  /** NOT_FOUND. A banned agent stays listed until deleted. */
  setBanned(spiffeId: string, banned: boolean): Promise<AgentRecord>;
  /** Evicts: the agent must attest again. NOT_FOUND. */
  delete(spiffeId: string): Promise<void>;
  /** Sets lastSeenAt (Unix seconds). NOT_FOUND. */
  touch(spiffeId: string, atSeconds: number): Promise<void>;
}
