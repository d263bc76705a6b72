export type { AttestationStart, ChallengeFn, NodeAttestation, NodeAttestor } from './attestor.js';
export { joinTokenAgentId, joinTokenId } from './join-token-id.js';
export {
  createJoinTokenAttestor,
  JOIN_TOKEN_ATTESTOR,
  MAX_JOIN_TOKEN_LENGTH,
  type JoinTokenAttestorConfig,
} from './join-token.js';
export {
  createX509PopAttestor,
  readX509PopCaBundle,
  X509POP_ATTESTOR,
  MAX_X509POP_CHAIN,
  MAX_X509POP_PAYLOAD,
  type X509PopAttestorConfig,
} from './x509pop.js';
export {
  createNodeAttestors,
  isKnownNodeAttestor,
  NODE_ATTESTOR_FACTORIES,
  type NodeAttestorDeps,
  type NodeAttestorFactory,
} from './registry.js';
