import { createHash } from 'node:crypto';
import { SpiffeId, type TrustDomain } from '../../spiffe/id/index.js';

/**
 * The stable, non-secret name of a join token: the first 32 hex digits (128 bits) of its SHA-256. It names the agent
 * the token attests (below) and is the value of that agent's `join_token` node selector; the token itself never
 * appears in an ID, a selector, the audit trail or a log.
 */
export function joinTokenId(token: string): string {
  if (typeof token !== 'string') throw new TypeError('token must be a string');
  return createHash('sha256').update(token, 'utf8').digest('hex').slice(0, 32);
}

/** The agent SPIFFE ID a join token attests to: `spiffe://<td>/tessera/agent/join_token/<joinTokenId(token)>`. */
export function joinTokenAgentId(trustDomain: TrustDomain, token: string): SpiffeId {
  return SpiffeId.fromSegments(trustDomain, 'tessera', 'agent', 'join_token', joinTokenId(token));
}
