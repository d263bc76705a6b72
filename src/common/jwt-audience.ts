import { createHash } from 'node:crypto';
import { invalidArgument } from './errors.js';

/**
 * The limits on JWT-SVID audiences, applied by the agent (FetchJWTSVID, ValidateJWTSVID) and again by the server
 * (MintJwtSvid), so a workload cannot make either keep, sign, cache or audit an unbounded token (issue 10: one 3 MB
 * audience grew the agent by hundreds of MiB and the audit trail past the admin API's message limit). Neither the
 * JWT-SVID standard nor RFC 7519 sets limits, and SPIRE/go-spiffe have none; these leave room for any real
 * relying-party identifier (URLs, SPIFFE IDs, client IDs):
 *
 * - at most {@link MAX_JWT_AUDIENCES} values per request;
 * - each value 1 to {@link MAX_JWT_AUDIENCE_LENGTH} characters;
 * - printable ASCII without space (0x21-0x7e): the characters of a URI or a plain identifier. No NUL, no control
 *   characters, no non-ASCII.
 */
export const MAX_JWT_AUDIENCES = 16;
export const MAX_JWT_AUDIENCE_LENGTH = 256;
const AUDIENCE_VALUE = /^[\x21-\x7e]+$/;

/** Throws INVALID_ARGUMENT naming the limit when `audience` breaks one (an empty list included). */
export function checkJwtAudience(audience: readonly string[]): void {
  if (audience.length === 0) throw invalidArgument('audience must be specified');
  if (audience.length > MAX_JWT_AUDIENCES) {
    throw invalidArgument(`audience has ${audience.length} values; at most ${MAX_JWT_AUDIENCES} are allowed`);
  }
  audience.forEach((value, i) => checkJwtAudienceValue(value, `audience[${i}]`));
}

/** Throws INVALID_ARGUMENT when one audience value breaks the length or character rule. */
export function checkJwtAudienceValue(value: string, field = 'audience'): void {
  if (value.length === 0) throw invalidArgument(`${field} must not be empty`);
  if (value.length > MAX_JWT_AUDIENCE_LENGTH) {
    throw invalidArgument(`${field} is ${value.length} characters long; at most ${MAX_JWT_AUDIENCE_LENGTH} are allowed`);
  }
  if (!AUDIENCE_VALUE.test(value)) {
    throw invalidArgument(`${field} may hold only printable ASCII characters without spaces (0x21-0x7e)`);
  }
}

/** What an audit event keeps of an audience: at most this many values, each cut to this many characters. */
export const AUDIT_AUDIENCE_VALUES = MAX_JWT_AUDIENCES;
export const AUDIT_AUDIENCE_VALUE_LENGTH = MAX_JWT_AUDIENCE_LENGTH;

export interface AudienceSummary {
  /** The values (the first AUDIT_AUDIENCE_VALUES, each cut to AUDIT_AUDIENCE_VALUE_LENGTH characters). */
  readonly audience: string[];
  /** How many values the request had. */
  readonly audienceCount: number;
  /** SHA-256 (hex) of the values joined by NUL: identifies the exact list even when the summary is cut. */
  readonly audienceSha256: string;
}

/**
 * The bounded audience record of an audit event (at most ~4 KiB whatever it is given; validated audiences fit whole).
 */
export function audienceSummary(audience: readonly string[]): AudienceSummary {
  return {
    audience: audience.slice(0, AUDIT_AUDIENCE_VALUES).map((v) => v.slice(0, AUDIT_AUDIENCE_VALUE_LENGTH)),
    audienceCount: audience.length,
    audienceSha256: createHash('sha256').update(audience.join('\0')).digest('hex'),
  };
}
