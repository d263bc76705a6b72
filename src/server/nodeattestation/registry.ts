import type { Clock } from '../../common/clock.js';
import type { TrustDomain } from '../../spiffe/id/index.js';
import type { ServerConfig } from '../config.js';
import type { JoinTokenStore } from '../datastore/index.js';
import type { NodeAttestor } from './attestor.js';
import { createJoinTokenAttestor, JOIN_TOKEN_ATTESTOR } from './join-token.js';
import { createX509PopAttestor, readX509PopCaBundle, X509POP_ATTESTOR } from './x509pop.js';

/** What the attestor factories may draw on; each takes only what it needs. */
export interface NodeAttestorDeps {
  readonly trustDomain: TrustDomain;
  readonly clock: Clock;
  readonly joinTokens: Pick<JoinTokenStore, 'consume'>;
  readonly config: ServerConfig['nodeAttestors'];
}

/** Builds the attestor from the server configuration, or returns null when the configuration disables it. */
export type NodeAttestorFactory = (deps: NodeAttestorDeps) => NodeAttestor | null;

/** Every attestor the server knows, by the name agents send. A name not listed here is unknown (InvalidArgument). */
export const NODE_ATTESTOR_FACTORIES: Readonly<Record<string, NodeAttestorFactory>> = {
  [JOIN_TOKEN_ATTESTOR]: (deps) =>
    deps.config.joinToken.enabled
      ? createJoinTokenAttestor({ trustDomain: deps.trustDomain, joinTokens: deps.joinTokens, clock: deps.clock })
      : null,
  [X509POP_ATTESTOR]: (deps) =>
    deps.config.x509pop
      ? createX509PopAttestor({
          trustDomain: deps.trustDomain,
          caBundlePem: readX509PopCaBundle(deps.config.x509pop.caBundleFile),
          clock: deps.clock,
        })
      : null,
};

/** The enabled attestors, by name. Throws at start when an enabled attestor's configuration is unusable. */
export function createNodeAttestors(deps: NodeAttestorDeps): Map<string, NodeAttestor> {
  const enabled = new Map<string, NodeAttestor>();
  for (const [name, factory] of Object.entries(NODE_ATTESTOR_FACTORIES)) {
    const attestor = factory(deps);
    if (attestor) enabled.set(name, attestor);
  }
  return enabled;
}

export function isKnownNodeAttestor(name: string): boolean {
  return Object.hasOwn(NODE_ATTESTOR_FACTORIES, name);
}
