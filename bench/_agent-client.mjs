// The agent side of tessera.agent.v1 for benchmarks (plain JS over dist/, no tsx): a grpc-js client over TLS that
// trusts the bundle roots and checks the server's SPIFFE ID (URI SAN) instead of a hostname, optionally presenting an
// agent SVID as client certificate; Attest with a join token; unary calls as promises. Mirrors test/helpers/agent-client.ts.
import { generateKeyPairSync } from 'node:crypto';
import * as grpc from '@grpc/grpc-js';
import { loadService } from '../dist/common/grpc/protos.js';
import { encodePem } from '../dist/spiffe/pem.js';
import { splitDer } from '../dist/spiffe/x509svid/der-reader.js';

const { Client } = loadService('tessera/agent/v1/agent.proto', 'tessera.agent.v1.AgentService');

/** TLS check of the server's identity: exactly one URI SAN, equal to `expected`. */
function spiffeServerIdentityCheck(expected) {
  return (_hostname, cert) => {
    const uris = (cert.subjectaltname ?? '')
      .split(', ')
      .filter((n) => n.startsWith('URI:'))
      .map((n) => n.slice(4));
    if (uris.length === 1 && uris[0] === expected) return undefined;
    return new Error(`server presented ${JSON.stringify(uris)}, expected ${JSON.stringify(expected)}`);
  };
}

/**
 * @param {{address: string, bundlePem: string, serverId: string, svid?: {keyPem: string, chainPem: string}}} options
 */
export function createAgentClient(options) {
  const credentials = grpc.credentials.createSsl(
    Buffer.from(options.bundlePem),
    options.svid ? Buffer.from(options.svid.keyPem) : null,
    options.svid ? Buffer.from(options.svid.chainPem) : null,
    { checkServerIdentity: spiffeServerIdentityCheck(options.serverId) },
  );
  // SNI must not be an IP address (RFC 6066); the name is not checked (checkServerIdentity verifies the SPIFFE ID).
  return new Client(options.address, credentials, {
    'grpc.ssl_target_name_override': 'localhost',
    'grpc.max_receive_message_length': 64 * 1024 * 1024,
  });
}

/** Calls a unary RPC; rejects with the ServiceError. */
export function callUnary(client, method, request, deadlineMs = 15_000) {
  return new Promise((resolve, reject) => {
    client[method](request, { deadline: Date.now() + deadlineMs }, (err, res) => (err ? reject(err) : resolve(res)));
  });
}

/** A fresh P-256 agent key: PKCS#8 PEM and SPKI DER. */
export function newAgentKey() {
  const { publicKey, privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  return {
    pem: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
    spki: publicKey.export({ type: 'spki', format: 'der' }),
  };
}

/** Runs Attest with a join token (no challenges); resolves with the AttestationResult message. */
export function attestJoinToken(client, token, agentPublicKey) {
  return new Promise((resolve, reject) => {
    const call = client.Attest({ deadline: Date.now() + 15_000 });
    let result;
    call.on('data', (msg) => {
      if (msg.step === 'result') {
        result = msg.result;
        call.end();
      } else {
        call.cancel();
        reject(new Error(`unexpected attestation step ${JSON.stringify(msg.step)}`));
      }
    });
    call.on('error', reject);
    call.on('status', (s) => {
      if (s.code === grpc.status.OK) {
        if (result) resolve(result);
        else reject(new Error('attestation stream ended without a result'));
      }
    });
    call.write({ start: { attestor: 'join_token', payload: Buffer.from(token), agent_public_key: agentPublicKey } });
  });
}

/** Concatenated DER (leaf first) to a PEM chain. */
export function chainPem(concatenatedDer) {
  return splitDer(concatenatedDer).map((der) => encodePem('CERTIFICATE', der)).join('');
}
