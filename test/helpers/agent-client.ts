/**
 * The agent side of tessera.agent.v1 for tests: a grpc-js client over TLS that trusts the bundle roots and checks the
 * server's SPIFFE ID (URI SAN) instead of a hostname, optionally presenting an agent SVID as client certificate.
 */
import type { PeerCertificate } from 'node:tls';
import * as grpc from '@grpc/grpc-js';
import { loadService } from '../../src/common/grpc/protos.js';
import { splitDer } from '../../src/spiffe/x509svid/der-reader.js';
import { chainPem } from './test-authority.js';

const { Client } = loadService('tessera/agent/v1/agent.proto', 'tessera.agent.v1.AgentService');

export interface AgentClientOptions {
  /** host:port */
  readonly address: string;
  /** PEM of the trust bundle's X.509 authorities. */
  readonly bundlePem: string;
  /** The SPIFFE ID the server must present, e.g. spiffe://example.org/tessera/server. */
  readonly serverId: string;
  /** Client certificate: PKCS#8 key PEM and chain PEM (leaf first). */
  readonly svid?: { readonly keyPem: string; readonly chainPem: string };
}

/**
 * Verifies the server certificate's URI SAN instead of the hostname (the chain itself is verified by TLS against the
 * bundle roots). Returns undefined when `cert` carries exactly the expected SPIFFE ID.
 */
export function spiffeServerIdentityCheck(expected: string) {
  return (_hostname: string, cert: PeerCertificate): Error | undefined => {
    const uris = (cert.subjectaltname ?? '')
      .split(', ')
      .filter((n) => n.startsWith('URI:'))
      .map((n) => n.slice(4));
    if (uris.length === 1 && uris[0] === expected) return undefined;
    return new Error(`server presented ${JSON.stringify(uris)}, expected ${JSON.stringify(expected)}`);
  };
}

export type AgentClient = grpc.Client & Record<string, (...args: unknown[]) => unknown>;

export function createAgentClient(options: AgentClientOptions): AgentClient {
  const credentials = grpc.credentials.createSsl(
    Buffer.from(options.bundlePem),
    options.svid ? Buffer.from(options.svid.keyPem) : null,
    options.svid ? Buffer.from(options.svid.chainPem) : null,
    { checkServerIdentity: spiffeServerIdentityCheck(options.serverId) },
  );
  // SNI must not be an IP address (RFC 6066); the name is not checked (checkServerIdentity verifies the SPIFFE ID).
  return new Client(options.address, credentials, {
    'grpc.ssl_target_name_override': 'localhost',
  }) as unknown as AgentClient;
}

/** Calls a unary RPC. */
export function callUnary<Res = Record<string, unknown>>(client: AgentClient, method: string, request: unknown): Promise<Res> {
  return new Promise((resolve, reject) => {
    (client[method] as (req: unknown, cb: (err: grpc.ServiceError | null, res: Res) => void) => void)(
      request,
      (err, res) => (err ? reject(err) : resolve(res)),
    );
  });
}

/** The status code a promise rejects with (throws when it resolves). */
export async function statusOf(promise: Promise<unknown>): Promise<grpc.status> {
  try {
    await promise;
  } catch (err) {
    return (err as grpc.ServiceError).code;
  }
  throw new Error('expected the call to fail');
}

export interface AttestationResult {
  spiffe_id: string;
  svid_chain: Buffer;
  bundle: Buffer;
  selectors: { type: string; value: string }[];
}

/**
 * Runs Attest: sends `start`, answers each challenge with `answer(nonce)`, resolves with the result. Rejects with the
 * stream's ServiceError.
 */
export function attest(
  client: AgentClient,
  start: { attestor: string; payload: Buffer; agent_public_key: Buffer },
  answer?: (nonce: Buffer) => Buffer,
): Promise<AttestationResult> {
  return new Promise((resolve, reject) => {
    const call = (client['Attest'] as () => grpc.ClientDuplexStream<unknown, Record<string, unknown>>)();
    let result: AttestationResult | undefined;
    call.on('data', (msg: Record<string, unknown>) => {
      if (msg['step'] === 'challenge') {
        if (!answer) {
          call.cancel();
          reject(new Error('unexpected challenge'));
          return;
        }
        call.write({ challenge_response: answer(msg['challenge'] as Buffer) });
      } else if (msg['step'] === 'result') {
        result = msg['result'] as AttestationResult;
        call.end();
      }
    });
    call.on('error', reject);
    call.on('status', (s: grpc.StatusObject) => {
      if (s.code === grpc.status.OK) {
        if (result) resolve(result);
        else reject(new Error('attestation stream ended without a result'));
      }
    });
    call.write({ start });
  });
}

/** An attested agent's mTLS material from an attestation result and its key. */
export function agentSvid(result: AttestationResult, keyPem: string): { keyPem: string; chainPem: string } {
  return { keyPem, chainPem: chainPem(splitDer(result.svid_chain)) };
}
