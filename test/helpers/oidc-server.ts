/**
 * A `tessera server` child process whose JWT issuer is its own HTTP listener (OIDC discovery at
 * `<issuer>/.well-known/openid-configuration`), plus an attested agent that mints JWT-SVIDs for entries it creates.
 */
import { createServer } from 'node:net';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { agentSvid, attest, callUnary, createAgentClient, type AgentClient } from './agent-client.js';
import { cliJson, startServerProcess, type ServerProcess } from './server-process.js';
import { newAgentKey } from './test-authority.js';

export const OIDC_TD = 'example.org';

export interface OidcServer {
  readonly server: ServerProcess;
  readonly issuer: string;
  readonly agentId: string;
  /** Creates an entry for `spiffeId` under the agent (optionally with a JWT-SVID TTL) and returns its id. */
  createEntry(spiffeId: string, jwtTtlSeconds?: number): string;
  /** MintJwtSvid through the agent API. */
  mint(entryId: string, audience: readonly string[]): Promise<string>;
  close(): Promise<void>;
}

/** A free loopback port (the issuer URL must be known before the server starts). */
export async function freePort(): Promise<number> {
  const srv = createServer();
  await new Promise<void>((resolve) => srv.listen(0, '127.0.0.1', resolve));
  const port = (srv.address() as { port: number }).port;
  await new Promise<void>((resolve) => srv.close(() => resolve()));
  return port;
}

/**
 * With `tls` (the server's `http.tls`), the HTTP listener is HTTPS and the issuer `https://127.0.0.1:<port>`: the
 * certificate must hold the IP SAN 127.0.0.1.
 */
export async function startOidcServer(
  options: { tls?: { certFile: string; keyFile: string } } = {},
): Promise<OidcServer> {
  const dir = mkdtempSync(join(tmpdir(), 'tessera-oidc-'));
  const port = await freePort();
  const issuer = `${options.tls ? 'https' : 'http'}://127.0.0.1:${port}`;
  const server = await startServerProcess(dir, {
    trustDomain: OIDC_TD,
    dataDir: './data',
    agentApi: { listen: '127.0.0.1:0' },
    http: { listen: `127.0.0.1:${port}`, ...(options.tls ? { tls: options.tls } : {}) },
    jwt: { issuer },
    nodeAttestors: { joinToken: { enabled: true } },
  });
  const bundlePem = cliJson<{ x509Pem: string }>(server.adminSocket, ['bundle', 'show']).x509Pem;
  const serverId = `spiffe://${OIDC_TD}/tessera/server`;
  const { token } = cliJson<{ token: string }>(server.adminSocket, ['token', 'generate']);
  const key = newAgentKey();
  const anonymous = createAgentClient({ address: server.agentApi, bundlePem, serverId });
  const result = await attest(anonymous, { attestor: 'join_token', payload: Buffer.from(token), agent_public_key: key.spki });
  anonymous.close();
  const client: AgentClient = createAgentClient({ address: server.agentApi, bundlePem, serverId, svid: agentSvid(result, key.pem) });
  return {
    server,
    issuer,
    agentId: result.spiffe_id,
    createEntry(spiffeId, jwtTtlSeconds) {
      const args = ['entry', 'create', '--spiffe-id', spiffeId, '--parent-id', result.spiffe_id, '--selector', 'unix:uid:1000'];
      if (jwtTtlSeconds !== undefined) args.push('--jwt-ttl', String(jwtTtlSeconds));
      return cliJson<{ results: { entry: { id: string } }[] }>(server.adminSocket, args).results[0]!.entry.id;
    },
    async mint(entryId, audience) {
      const r = await callUnary<{ token: string }>(client, 'MintJwtSvid', {
        entry_id: entryId,
        audience: [...audience],
        instance_id: '0'.repeat(32),
      });
      return r.token;
    },
    async close() {
      client.close();
      await server.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
