import { createPrivateKey, type KeyObject } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { signX509PopChallenge } from '../../common/x509pop.js';
import { failedPrecondition } from '../../common/errors.js';
import type { TrustDomain } from '../../spiffe/id/index.js';
import { decodePem } from '../../spiffe/pem.js';
import type { NodeAttestorConfig } from '../config.js';

/** The agent side of one node attestor. */
export interface AgentNodeAttestor {
  /** The attestor name on the wire ("join_token", "x509pop"). */
  readonly name: string;
  /** Whether attesting again (after eviction, or once the agent SVID expired) can succeed: a join token is one-time. */
  readonly canReattest: boolean;
  /** The evidence for AttestationStart.payload, and the answer to the server's challenges. */
  prepare(): Promise<{ payload: Buffer; answer: (nonce: Buffer) => Buffer }>;
}

/** join_token: the payload is the token (UTF-8); there is no challenge. The token is never logged. */
export function joinTokenAttestor(token: string): AgentNodeAttestor {
  return {
    name: 'join_token',
    canReattest: false,
    prepare: async () => ({
      payload: Buffer.from(token, 'utf8'),
      answer: () => {
        throw failedPrecondition('the server sent a challenge to a join_token attestation');
      },
    }),
  };
}

/**
 * x509pop: the payload is the node certificate chain (concatenated DER, leaf first) read from `certFile`; challenges
 * are signed with the key in `keyFile` (src/common/x509pop.ts). Both files are read at every attestation, so a
 * renewed node certificate is picked up without a restart.
 */
export function x509popAttestor(trustDomain: TrustDomain, certFile: string, keyFile: string): AgentNodeAttestor {
  return {
    name: 'x509pop',
    canReattest: true,
    async prepare() {
      const [certPem, keyPem] = await Promise.all([readFile(certFile, 'utf8'), readFile(keyFile, 'utf8')]);
      const certs = decodePem(certPem).filter((b) => b.type === 'CERTIFICATE');
      if (certs.length === 0) throw failedPrecondition(`x509pop certFile ${JSON.stringify(certFile)} holds no CERTIFICATE block`);
      let key: KeyObject;
      try {
        key = createPrivateKey(keyPem);
      } catch (err) {
        throw failedPrecondition(`x509pop keyFile ${JSON.stringify(keyFile)} holds no usable private key`, { cause: err });
      }
      return {
        payload: Buffer.concat(certs.map((b) => b.der)),
        answer: (nonce) => signX509PopChallenge(key, trustDomain.name, nonce),
      };
    },
  };
}

export function createNodeAttestor(trustDomain: TrustDomain, config: NodeAttestorConfig): AgentNodeAttestor {
  return config.kind === 'join_token'
    ? joinTokenAttestor(config.token)
    : x509popAttestor(trustDomain, config.certFile, config.keyFile);
}
