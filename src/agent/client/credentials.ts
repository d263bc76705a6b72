import { createHash, type KeyObject } from 'node:crypto';
import type { PeerCertificate } from 'node:tls';
import * as grpc from '@grpc/grpc-js';
import { encodePem } from '../../spiffe/pem.js';

/** The agent SVID presented as TLS client certificate. */
export interface AgentTlsIdentity {
  /** Leaf first, DER. */
  readonly chain: readonly Uint8Array[];
  readonly privateKey: KeyObject;
}

/** The URI SANs of a peer certificate as Node reports them (`subjectaltname: "URI:spiffe://…, DNS:…"`). */
export function uriSans(cert: Pick<PeerCertificate, 'subjectaltname'>): string[] {
  return (cert.subjectaltname ?? '')
    .split(', ')
    .filter((n) => n.startsWith('URI:'))
    .map((n) => n.slice(4));
}

/**
 * A checkServerIdentity callback that accepts exactly one URI SAN, `expected` (the server's SPIFFE ID), instead of a
 * host name. The chain itself is verified by TLS against the trust roots before this runs.
 */
export function spiffeServerIdentityCheck(expected: string) {
  return (_hostname: string, cert: PeerCertificate): Error | undefined => {
    const uris = uriSans(cert);
    if (uris.length === 1 && uris[0] === expected) return undefined;
    return new Error(`server presented ${JSON.stringify(uris)}, expected ${JSON.stringify(expected)}`);
  };
}

export function chainToPem(chain: readonly Uint8Array[]): string {
  return chain.map((der) => encodePem('CERTIFICATE', der)).join('');
}

/**
 * Channel credentials for the agent API: TLS that trusts only `roots` (the trust domain's X.509 authorities), checks
 * the server's SPIFFE ID, and presents `identity` (the agent SVID) when given.
 */
export function agentChannelCredentials(
  roots: readonly Uint8Array[],
  serverId: string,
  identity: AgentTlsIdentity | null,
): grpc.ChannelCredentials {
  return grpc.credentials.createSsl(
    Buffer.from(chainToPem(roots), 'utf8'),
    identity ? Buffer.from(identity.privateKey.export({ type: 'pkcs8', format: 'pem' }) as string, 'utf8') : null,
    identity ? Buffer.from(chainToPem(identity.chain), 'utf8') : null,
    { checkServerIdentity: spiffeServerIdentityCheck(serverId) },
  );
}

/**
 * Channel credentials that accept any server chain (insecure bootstrap: trust on first use). Node does not call
 * checkServerIdentity for a chain it could not verify, so the caller must check the server's identity another way
 * (see probeServerChain).
 */
export function insecureChannelCredentials(): grpc.ChannelCredentials {
  return grpc.credentials.createSsl(null, null, null, { rejectUnauthorized: false });
}

/** Channel options every agent API channel uses. */
export const CHANNEL_OPTIONS: grpc.ChannelOptions = {
  // SNI must not be an IP address (RFC 6066); the name is not checked (checkServerIdentity verifies the SPIFFE ID).
  'grpc.ssl_target_name_override': 'localhost',
  // Our own subchannels: a channel built for new credentials never reuses a connection made with the old ones.
  'grpc.use_local_subchannel_pool': 1,
  'grpc.keepalive_time_ms': 60_000,
  'grpc.keepalive_timeout_ms': 20_000,
};

/** A stable key for a set of DER certificates (to tell whether trust roots changed). */
export function derSetKey(ders: readonly Uint8Array[]): string {
  const h = createHash('sha256');
  for (const d of ders) h.update(createHash('sha256').update(d).digest());
  return h.digest('hex');
}
