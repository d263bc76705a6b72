import { status } from '@grpc/grpc-js';
import type { PeerCertificate } from 'node:tls';
import * as grpc from '@grpc/grpc-js';
import { afterEach, describe, expect, it } from 'vitest';
import { loadService } from '../../../../src/common/grpc/protos.js';
import { SpiffeId } from '../../../../src/spiffe/id/index.js';
import {
  agentSvid,
  attest,
  callUnary,
  spiffeServerIdentityCheck,
  statusOf,
  type AgentClient,
} from '../../../helpers/agent-client.js';
import { chainPem, newAgentKey } from '../../../helpers/test-authority.js';
import { newLeaf, newRootCa } from '../../../helpers/test-ca.js';
import { startHarness, type Harness } from './harness.js';

/** The first Sync message, or the stream's error code. */
function firstSync(client: AgentClient): Promise<Record<string, unknown> | number> {
  return new Promise((resolve) => {
    const call = (client['Sync'] as (req: unknown) => grpc.ClientReadableStream<Record<string, unknown>>)({});
    call.on('data', (msg: Record<string, unknown>) => {
      resolve(msg);
      call.cancel();
    });
    call.on('error', (err: grpc.ServiceError) => resolve(err.code));
  });
}

describe('agent API TLS (createAgentApiCredentials)', () => {
  let h: Harness | undefined;
  afterEach(async () => {
    await h?.close();
    h = undefined;
  });

  it.each([false, true])('attests without a client certificate, then syncs with the agent SVID (intermediate CA: %s)', async (intermediate) => {
    h = await startHarness({ intermediate });
    const agent = await h.attestAgent();
    const msg = await firstSync(agent.client);
    expect(typeof msg).toBe('object');
    expect(JSON.parse((msg as { bundle: Buffer }).bundle.toString()).keys.length).toBeGreaterThan(0);
  });

  it('refuses a self-made client certificate (Unauthenticated) and a non-agent SVID of the trust domain (PermissionDenied)', async () => {
    h = await startHarness();
    await h.attestAgent();
    // self-signed, claiming an agent ID
    const root = await newRootCa('example.org');
    const fake = await newLeaf(root, 'spiffe://example.org/tessera/agent/join_token/00000000000000000000000000000000');
    const keyPem = fake.key.privateKey.export({ type: 'pkcs8', format: 'pem' }) as string;
    const selfMade = h.client({ keyPem, chainPem: fake.pem });
    expect(await firstSync(selfMade)).toBe(status.UNAUTHENTICATED);
    expect(await statusOf(callUnary(selfMade, 'RenewAgent', { public_key: newAgentKey().spki }))).toBe(status.UNAUTHENTICATED);

    // a real SVID of the trust domain that is not an agent's
    const key = newAgentKey();
    const workload = h.authority.signX509Svid({
      spiffeId: SpiffeId.parse('spiffe://example.org/workload'),
      publicKey: key.spki,
      ttlSeconds: 600,
    });
    const workloadClient = h.client({ keyPem: key.pem, chainPem: chainPem(workload.chain) });
    expect(await firstSync(workloadClient)).toBe(status.PERMISSION_DENIED);

    // an agent ID the server signed but never attested
    const key2 = newAgentKey();
    const unattested = h.authority.signX509Svid({
      spiffeId: SpiffeId.parse('spiffe://example.org/tessera/agent/join_token/ffffffffffffffffffffffffffffffff'),
      publicKey: key2.spki,
      ttlSeconds: 600,
    });
    expect(await firstSync(h.client({ keyPem: key2.pem, chainPem: chainPem(unattested.chain) }))).toBe(
      status.PERMISSION_DENIED,
    );
  });

  it('is verified by the agent through the server SPIFFE ID, and picks up a renewed server SVID and a rotated CA', async () => {
    h = await startHarness();
    const { Client } = loadService('tessera/agent/v1/agent.proto', 'tessera.agent.v1.AgentService');
    const seen: string[] = [];
    const connect = (expected: string) => {
      const check = spiffeServerIdentityCheck(expected);
      const creds = grpc.credentials.createSsl(Buffer.from(h!.authority.bundlePem()), null, null, {
        checkServerIdentity: (host: string, cert: PeerCertificate) => {
          seen.push(cert.serialNumber);
          return check(host, cert);
        },
      });
      return new Client(h!.address, creds, { 'grpc.ssl_target_name_override': 'localhost' }) as unknown as AgentClient;
    };
    const wrong = connect('spiffe://example.org/not-the-server');
    expect(await statusOf(callUnary(wrong, 'RenewAgent', { public_key: Buffer.alloc(0) }))).toBe(status.UNAVAILABLE);
    wrong.close();

    const first = connect(h.serverId);
    expect(await statusOf(callUnary(first, 'RenewAgent', { public_key: Buffer.alloc(0) }))).toBe(status.UNAUTHENTICATED);
    first.close();
    const before = seen.at(-1);
    h.authority.renewServerSvid(); // applies to the next connection at once (grpc-js certificate provider)
    const second = connect(h.serverId);
    expect(await statusOf(callUnary(second, 'RenewAgent', { public_key: Buffer.alloc(0) }))).toBe(status.UNAUTHENTICATED);
    second.close();
    expect(seen.at(-1)).not.toBe(before);

    // a new CA joins the bundle and signs: agents attested under it authenticate over new connections
    await h.authority.rotate();
    h.authority.renewServerSvid();
    const token = await h.newToken();
    const key = newAgentKey();
    const result = await attest(h.client(), { attestor: 'join_token', payload: Buffer.from(token), agent_public_key: key.spki });
    expect(typeof (await firstSync(h.client(agentSvid(result, key.pem))))).toBe('object');
  });

  it('unsubscribes from the CA sources when the server shuts down', async () => {
    h = await startHarness();
    await h.attestAgent();
    expect(h.authority.listenerCounts()).toEqual({ bundle: 1, serverSvid: 1 });
    const authority = h.authority;
    await h.close();
    h = undefined;
    await expect.poll(() => authority.listenerCounts()).toEqual({ bundle: 0, serverSvid: 0 });
  });
});
