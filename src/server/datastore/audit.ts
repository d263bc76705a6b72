/** The audit trail (proto tessera.admin.v1.AuditEvent): one event per issued credential and per security decision. */
export interface AuditEventInput {
  /** Unix milliseconds. */
  readonly atMs: number;
  /** e.g. "x509_svid.issued", "jwt_svid.issued", "agent.attested", "agent.banned", "entry.created". */
  readonly kind: string;
  readonly spiffeId?: string;
  readonly entryId?: string;
  readonly agentId?: string;
  readonly instanceId?: string;
  readonly serial?: string;
  readonly jti?: string;
  /** Unix seconds. */
  readonly expiresAt?: number;
  /** Free-form details, stored as JSON. Never key material. */
  readonly details?: Readonly<Record<string, unknown>>;
}

export interface AuditEvent {
  /** Increases with every append; the order of the trail. */
  readonly id: number;
  readonly atMs: number;
  readonly kind: string;
  readonly spiffeId: string | null;
  readonly entryId: string | null;
  readonly agentId: string | null;
  readonly instanceId: string | null;
  readonly serial: string | null;
  readonly jti: string | null;
  readonly expiresAt: number | null;
  readonly details: Record<string, unknown> | null;
  /** Set when the query's maxDetailsBytes left the details out: their stored size in bytes. */
  readonly detailsOmittedBytes?: number;
}

export interface AuditQuery {
  /** Events with atMs >= sinceMs. */
  sinceMs?: number;
  /** Events with id > afterId (paging: pass the last id seen). */
  afterId?: number;
  spiffeId?: string;
  instanceId?: string;
  kind?: string;
  /** Default 1000, at most 10000. */
  limit?: number;
  /** Details whose stored JSON is longer than this many bytes are not read (detailsOmittedBytes says their size). */
  maxDetailsBytes?: number;
}

export const AUDIT_DEFAULT_LIMIT = 1000;
export const AUDIT_MAX_LIMIT = 10_000;

export interface AuditStore {
  /** Returns the new event's id. */
  append(event: AuditEventInput): Promise<number>;
  /** All or nothing, in one transaction; ids in input order. */
  appendMany(events: readonly AuditEventInput[]): Promise<number[]>;
  /** Ordered by id. INVALID_ARGUMENT for a limit outside 1..10000. */
  list(query?: AuditQuery): Promise<AuditEvent[]>;
}
