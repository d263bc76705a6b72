import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { silentLogger, type Logger } from '../../../../src/common/log.js';
import { openSqliteDatastore, type Datastore, type EntryInput } from '../../../../src/server/datastore/index.js';
import { EntryIndex } from '../../../../src/server/entries/index.js';
import { registerAgentService, type AgentApiPolicy, type AgentServiceConfig } from '../../../../src/server/api/agent/index.js';
import { createAgentApiCredentials } from '../../../../src/server/api/tls.js';
import { createNodeAttestors, joinTokenAgentId } from '../../../../src/server/nodeattestation/index.js';
import {
  agentSvid,
  attest,
  createAgentClient,
  type AgentClient,
  type AttestationResult,
} from '../../../helpers/agent-client.js';
import { createTestAuthority, newAgentKey, type TestAuthority } from '../../../helpers/test-authority.js';

export const POLICY: AgentApiPolicy = {
  defaultX509TtlSeconds: 3600,
  defaultJwtTtlSeconds: 300,
  agentSvidTtlSeconds: 3600,
  worker: { maxX509TtlSeconds: 86_400, maxJwtTtlSeconds: 3600 },
  supervisor: { maxX509TtlSeconds: 900, maxJwtTtlSeconds: 120 },
};

export interface HarnessOptions {
  readonly intermediate?: boolean;
  readonly x509popCaFile?: string;
  readonly joinTokenEnabled?: boolean;
  readonly config?: Partial<AgentServiceConfig>;
  readonly log?: Logger;
}

export interface AttestedAgent {
  readonly agentId: string;
  readonly client: AgentClient;
  readonly result: AttestationResult;
  readonly keyPem: string;
}

export interface Harness {
  readonly address: string;
  readonly authority: TestAuthority;
  readonly ds: Datastore;
  readonly index: EntryIndex;
  readonly serverId: string;
  readonly td: string;
  /** A client without a certificate (for Attest), or with `svid`. */
  client(svid?: { keyPem: string; chainPem: string }): AgentClient;
  /** Mints a join token in the store. */
  newToken(ttlSeconds?: number): Promise<string>;
  /** Join-token attestation end to end; returns an mTLS client for the new agent. */
  attestAgent(): Promise<AttestedAgent>;
  createEntry(input: Partial<EntryInput> & Pick<EntryInput, 'spiffeId' | 'parentId'>): ReturnType<Datastore['entries']['create']>;
  close(): Promise<void>;
}

export async function startHarness(options: HarnessOptions = {}): Promise<Harness> {
  const dir = mkdtempSync(join(tmpdir(), 'tessera-agent-api-'));
  const ds = openSqliteDatastore({ path: join(dir, 'ds.sqlite3') });
  const authority = await createTestAuthority({ intermediate: options.intermediate ?? false });
  const td = authority.trustDomain;
  const serverId = authority.serverId.toString();
  const index = await EntryIndex.create({ entries: ds.entries, serverId });
  const nodeAttestors = createNodeAttestors({
    trustDomain: td,
    clock: { now: () => new Date() },
    joinTokens: ds.joinTokens,
    config: {
      joinToken: { enabled: options.joinTokenEnabled ?? true },
      ...(options.x509popCaFile ? { x509pop: { caBundleFile: options.x509popCaFile } } : {}),
    },
  });
  const server = new grpc.Server();
  registerAgentService(server, {
    trustDomain: td,
    policy: POLICY,
    nodeAttestors,
    agents: ds.agents,
    audit: ds.audit,
    instanceRoles: ds.instanceRoles,
    entries: index,
    x509Issuer: authority,
    jwtIssuer: authority,
    bundle: authority,
    serverIdentity: authority,
    log: options.log ?? silentLogger(),
    agentRecheckMs: 100,
    syncDebounceMs: 20,
    // A test file attests far more often than one address may (limits.test.ts sets its own limits).
    rateLimits: { attestPerAddress: { perSecond: 1000, burst: 1000 } },
    ...options.config,
  });
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync('127.0.0.1:0', createAgentApiCredentials(authority, authority), (err, p) =>
      err ? reject(err) : resolve(p),
    ),
  );
  const address = `127.0.0.1:${port}`;
  const clients: AgentClient[] = [];

  const client = (svid?: { keyPem: string; chainPem: string }) => {
    const c = createAgentClient({ address, bundlePem: authority.bundlePem(), serverId, ...(svid ? { svid } : {}) });
    clients.push(c);
    return c;
  };

  const newToken = async (ttlSeconds = 600) => {
    const token = randomBytes(16).toString('hex');
    await ds.joinTokens.create(token, { expiresAt: Math.floor(Date.now() / 1000) + ttlSeconds });
    return token;
  };

  return {
    address,
    authority,
    ds,
    index,
    serverId,
    td: td.name,
    client,
    newToken,
    async attestAgent() {
      const token = await newToken();
      const key = newAgentKey();
      const result = await attest(client(), {
        attestor: 'join_token',
        payload: Buffer.from(token),
        agent_public_key: key.spki,
      });
      const agentId = joinTokenAgentId(td, token).toString();
      return { agentId, result, keyPem: key.pem, client: client(agentSvid(result, key.pem)) };
    },
    createEntry: (input) =>
      ds.entries.create({
        selectors: [{ type: 'unix', value: 'uid:1000' }],
        role: 'worker',
        x509SvidTtlSeconds: 0,
        jwtSvidTtlSeconds: 0,
        dnsNames: [],
        federatesWith: [],
        hint: '',
        admin: false,
        expiresAt: null,
        ...input,
      }),
    async close() {
      for (const c of clients) c.close();
      server.forceShutdown();
      index.close();
      await ds.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
