import type { SpiffeId } from '../../spiffe/id/index.js';
import type { Selector } from '../datastore/index.js';

/** What an attestation proved: the agent's SPIFFE ID and the node selectors it earned. */
export interface NodeAttestation {
  /** `spiffe://<td>/tessera/agent/<attestor>/<id>`. */
  readonly agentId: SpiffeId;
  readonly selectors: Selector[];
}

/** The first message of an attestation: the attestor-specific payload (a token, a certificate chain). */
export interface AttestationStart {
  readonly payload: Buffer;
  /**
   * Aborted at the exchange's deadline. An attestor checks it before any step that cannot be undone (consuming a
   * join token), so a timed-out attestation leaves nothing used up.
   */
  readonly signal?: AbortSignal;
}

/**
 * Sends `nonce` to the agent and resolves with its answer. Rejects when the agent goes away or sends something else;
 * an attestor lets such a rejection propagate.
 */
export type ChallengeFn = (nonce: Buffer) => Promise<Buffer>;

/**
 * A node attestor (architecture §4): proves which node an agent runs on. Expected refusals are TesseraErrors
 * (PERMISSION_DENIED for a proof that fails, INVALID_ARGUMENT for a payload that is not even well-formed). An attestor
 * never logs the secret it is given (join tokens).
 */
export interface NodeAttestor {
  /** The name agents use in AttestationStart.attestor. */
  readonly name: string;
  attest(start: AttestationStart, challenge: ChallengeFn): Promise<NodeAttestation>;
}
