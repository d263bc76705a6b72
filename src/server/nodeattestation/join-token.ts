import { unixSeconds, type Clock } from '../../common/clock.js';
import { invalidArgument, permissionDenied } from '../../common/errors.js';
import type { TrustDomain } from '../../spiffe/id/index.js';
import type { JoinTokenStore } from '../datastore/index.js';
import type { NodeAttestation, NodeAttestor } from './attestor.js';
import { joinTokenAgentId, joinTokenId } from './join-token-id.js';

export const JOIN_TOKEN_ATTESTOR = 'join_token';

/** Longest token accepted (the CLI's are 32 random bytes as hex); longer payloads are refused before any lookup. */
export const MAX_JOIN_TOKEN_LENGTH = 1024;

export interface JoinTokenAttestorConfig {
  readonly trustDomain: TrustDomain;
  readonly joinTokens: Pick<JoinTokenStore, 'consume'>;
  readonly clock: Clock;
}

/**
 * `join_token`: the payload is a one-time token minted by `tessera token generate`. The token is consumed atomically
 * (of concurrent attempts exactly one wins), and never once the attestation's deadline has passed (start.signal). Agent ID `spiffe://<td>/tessera/agent/join_token/<joinTokenId(token)>`,
 * one node selector `join_token:<joinTokenId(token)>`. The token itself appears in no ID, selector, error or log.
 */
export function createJoinTokenAttestor(config: JoinTokenAttestorConfig): NodeAttestor {
  return {
    name: JOIN_TOKEN_ATTESTOR,
    async attest(start): Promise<NodeAttestation> {
      const token = decodeToken(start.payload);
      start.signal?.throwIfAborted();
      const result = await config.joinTokens.consume(token, unixSeconds(config.clock));
      if (!result.ok) {
        switch (result.reason) {
          case 'already_used':
            throw permissionDenied('join token already used');
          case 'expired':
            throw permissionDenied('join token expired');
          case 'not_found':
            throw permissionDenied('join token not found');
        }
      }
      return {
        agentId: joinTokenAgentId(config.trustDomain, token),
        selectors: [{ type: JOIN_TOKEN_ATTESTOR, value: joinTokenId(token) }],
      };
    },
  };
}

function decodeToken(payload: Buffer): string {
  if (payload.length === 0) throw invalidArgument('join token is empty');
  if (payload.length > MAX_JOIN_TOKEN_LENGTH) {
    throw invalidArgument(`join token is longer than ${MAX_JOIN_TOKEN_LENGTH} bytes`);
  }
  const token = new TextDecoder('utf-8', { fatal: false }).decode(payload);
  if (!/^[\x21-\x7e]+$/.test(token)) throw invalidArgument('join token must be printable ASCII');
  return token;
}
