/**
 * One-time join tokens for node attestation. The store never keeps a token: it keeps the SHA-256 of it, computed
 * here from the token the caller passes. Tokens must be random with at least 128 bits of entropy (the CLI's are), so
 * an unsalted hash cannot be reversed by guessing.
 */
export interface JoinTokenRecord {
  /** SHA-256 of the token, lowercase hex. */
  readonly tokenHash: string;
  /** Unix seconds; the token is refused from this second on. */
  readonly expiresAt: number;
  readonly createdAt: number;
  /** Optional SPIFFE ID that becomes a node alias of the agent that uses the token. */
  readonly aliasSpiffeId: string | null;
  /** Unix seconds of the successful consume; null while unused. */
  readonly usedAt: number | null;
}

export type JoinTokenConsumeResult =
  | { readonly ok: true; readonly token: JoinTokenRecord }
  | { readonly ok: false; readonly reason: 'not_found' | 'already_used' | 'expired' };

export interface JoinTokenStore {
  /** ALREADY_EXISTS if the same token was stored before. */
  create(token: string, options: { expiresAt: number; aliasSpiffeId?: string }): Promise<JoinTokenRecord>;
  /**
   * Marks the token used if it is unused and `nowSeconds < expiresAt`, in one atomic statement: of any number of
   * concurrent consumers (connections or processes) exactly one gets `ok: true`. Expected refusals are results, not
   * errors; an error means the store failed.
   */
  consume(token: string, nowSeconds: number): Promise<JoinTokenConsumeResult>;
  /** Deletes tokens (used or not) whose expiresAt <= nowSeconds; returns how many. */
  prune(nowSeconds: number): Promise<number>;
}
