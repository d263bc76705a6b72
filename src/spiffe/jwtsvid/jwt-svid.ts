import type { SpiffeId } from '../id/index.js';

/** Algorithms Tessera mints JWT-SVIDs with. ES256 (P-256) is the default. */
export type JwtSvidAlgorithm = 'ES256' | 'ES384' | 'RS256' | 'PS256';

/** The algorithms a JWT-SVID may carry (JWT-SVID §3); everything else (`none`, HS*, EdDSA…) is refused first. */
export const JWT_SVID_VALIDATION_ALGORITHMS: readonly string[] = Object.freeze([
  'RS256',
  'RS384',
  'RS512',
  'ES256',
  'ES384',
  'ES512',
  'PS256',
  'PS384',
  'PS512',
]);

/** Clock skew allowed on `exp`, `nbf` and `iat` unless told otherwise (go-spiffe uses one minute). */
export const DEFAULT_LEEWAY_SECONDS = 60;

/** The JOSE header members a JWT-SVID may carry. */
export interface JwtSvidJoseHeader {
  readonly alg: string;
  readonly kid?: string;
  readonly typ?: string;
}

/** A parsed (and, from parseAndValidateJwtSvid, verified) JWT-SVID. */
export interface JwtSvid {
  /** The `sub` claim. */
  readonly spiffeId: SpiffeId;
  /** The `aud` claim, always as a list. */
  readonly audience: string[];
  /** The `exp` claim. */
  readonly expiry: Date;
  /** The `iat` claim, when present. */
  readonly issuedAt?: Date;
  /** Every claim of the payload, as decoded. */
  readonly claims: Record<string, unknown>;
  readonly header: JwtSvidJoseHeader;
  /** The compact token as given. */
  readonly token: string;
}
