/**
 * A real admin API server for tests: grpc-js on a Unix socket in a fresh mkdtemp dir, a real SQLite datastore, and a
 * tiny real CA (a self-signed P-256 root minted with src/spiffe) behind BundleSource and CaHealth.
 */
import { generateKeyPairSync, randomBytes, sign, verify, X509Certificate, type KeyObject } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import Database from 'better-sqlite3';
import { loadService } from '../../src/common/grpc/protos.js';
import type { Logger } from '../../src/common/log.js';
import { SpiffeBundle } from '../../src/spiffe/bundle/index.js';
import { TrustDomain } from '../../src/spiffe/id/index.js';
import { mintJwtSvid } from '../../src/spiffe/jwtsvid/index.js';
import { createCaCertificate, X509SvidSigner } from '../../src/spiffe/x509svid/index.js';
import { listenAdminSocket, registerAdminServices } from '../../src/server/api/admin/index.js';
import { failedPrecondition } from '../../src/common/errors.js';
import type {
  AuthorityAdmin,
  BundleSource,
  CaHealth,
  JwtSvidIssuer,
  X509SvidIssuer,
} from '../../src/server/ca/types.js';
import { openSqliteDatastore, type Datastore } from '../../src/server/datastore/index.js';
import type { EntryPolicy } from '../../src/server/entries/validate.js';
import type { FederationControl } from '../../src/server/federation/types.js';

export const TEST_POLICY: EntryPolicy = {
  worker: { maxX509TtlSeconds: 86_400, maxJwtTtlSeconds: 3600 },
  supervisor: { maxX509TtlSeconds: 900, maxJwtTtlSeconds: 300 },
};

export interface TestCa extends CaHealth, Pick<BundleSource, 'currentBundle'>, X509SvidIssuer, JwtSvidIssuer {
  readonly der: Uint8Array;
  /** Makes canSign() answer false (a broken CA) or true again. */
  setBroken(broken: boolean): void;
}

export async function createTestCa(trustDomain: TrustDomain): Promise<TestCa> {
  const { publicKey, privateKey } = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
  const der = await createCaCertificate({
    trustDomain,
    publicKey,
    signer: { key: privateKey },
    now: new Date(),
    ttlSeconds: 86_400,
  });
  const jwt = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
  const bundle = SpiffeBundle.fromParts({
    trustDomain,
    x509Authorities: [der],
    jwtAuthorities: [{ kid: 'test-kid-1', key: jwt.publicKey }],
    sequenceNumber: 7n,
  });
  const notAfter = new Date(new X509Certificate(der).validTo);
  const signer = X509SvidSigner.create({ caCertificate: der, caKey: privateKey });
  let broken = false;
  const testSign = (key: KeyObject, pub: KeyObject) => {
    const data = Buffer.from('tessera readiness');
    return verify('sha256', data, pub, sign('sha256', data, key));
  };
  return {
    der,
    currentBundle: () => bundle,
    async canSign() {
      return !broken && testSign(privateKey, publicKey) && testSign(jwt.privateKey, jwt.publicKey);
    },
    activeCaNotAfter: () => notAfter,
    signX509Svid(p) {
      const signed = signer.sign({ ...p, now: new Date() });
      return { chain: [signed.der], serial: signed.serial, notAfter: signed.notAfter };
    },
    async signJwtSvid(p) {
      const now = new Date();
      const jti = randomBytes(16).toString('base64url');
      const token = await mintJwtSvid({
        spiffeId: p.spiffeId,
        audience: p.audience,
        key: { kid: 'test-kid-1', privateKey: jwt.privateKey },
        now,
        ttlSeconds: p.ttlSeconds,
        jti,
      });
      return { token, jti, expiresAt: new Date((Math.floor(now.getTime() / 1000) + p.ttlSeconds) * 1000) };
    },
    setBroken(b) {
      broken = b;
    },
  };
}

export interface AdminTestServer {
  readonly dir: string;
  readonly socketPath: string;
  readonly trustDomain: TrustDomain;
  readonly datastore: Datastore;
  readonly ca: TestCa;
  readonly server: grpc.Server;
  /** Rows per table, read through a second connection: compare before and after to prove nothing was written. */
  rowCounts(): Record<string, number>;
  /** A client of `tessera.admin.v1.<service>` over the socket, with promise-returning unary calls. */
  client(service: AdminServiceName): AdminTestClient;
  close(): Promise<void>;
}

export type AdminServiceName =
  | 'EntryService'
  | 'AgentAdminService'
  | 'TokenService'
  | 'BundleService'
  | 'AuditService'
  | 'HealthService'
  | 'AuthorityService'
  | 'FederationService'
  | 'SvidService';

const FILES: Record<AdminServiceName, string> = {
  EntryService: 'entry.proto',
  AgentAdminService: 'agent.proto',
  TokenService: 'token.proto',
  BundleService: 'bundle.proto',
  AuditService: 'audit.proto',
  HealthService: 'health.proto',
  AuthorityService: 'authority.proto',
  FederationService: 'federation.proto',
  SvidService: 'svid.proto',
};

/** The AuthorityService of a server without a real CA: no keys, and forced rotation refused. */
const NO_AUTHORITY: AuthorityAdmin = {
  refreshHintSeconds: 60,
  listAuthorities: () => [],
  prepareNow: () => Promise.reject(failedPrecondition('this test server has no CA keys')),
  activateNow: () => Promise.reject(failedPrecondition('this test server has no CA keys')),
};

export interface AdminTestClient {
  call<Res = Record<string, unknown>>(method: string, request: object): Promise<Res>;
  close(): void;
}

/** A gRPC error as seen by the client. */
export interface CallError extends Error {
  code: grpc.status;
  details: string;
}

export async function startAdminTestServer(
  options: {
    trustDomain?: string;
    policy?: EntryPolicy;
    log?: Logger;
    socketName?: string;
    /** The CA behind AuthorityService (default: none, forced rotation refused). */
    authority?: AuthorityAdmin;
    /** What FederationService drives (default: none: its writes and Refresh answer UNAVAILABLE). */
    federationControl?: FederationControl;
  } = {},
): Promise<AdminTestServer> {
  const dir = mkdtempSync(join(tmpdir(), 'tessera-admin-'));
  const trustDomain = TrustDomain.parse(options.trustDomain ?? 'acme.test');
  const datastore = openSqliteDatastore({ path: join(dir, 'datastore.sqlite3') });
  const ca = await createTestCa(trustDomain);
  const server = new grpc.Server();
  registerAdminServices(server, {
    trustDomain,
    policy: options.policy ?? TEST_POLICY,
    entries: datastore.entries,
    agents: datastore.agents,
    joinTokens: datastore.joinTokens,
    audit: datastore.audit,
    bundle: ca,
    bundleStore: datastore.bundles,
    federation: datastore.federation,
    ...(options.federationControl ? { federationControl: options.federationControl } : {}),
    ca,
    x509Issuer: ca,
    jwtIssuer: ca,
    authority: options.authority ?? NO_AUTHORITY,
    ping: () => datastore.ping(),
    version: '0.0.0-test',
    ...(options.log ? { log: options.log } : {}),
  });
  const { path: socketPath } = await listenAdminSocket(server, join(dir, 'server', options.socketName ?? 'admin.sock'));
  const clients: grpc.Client[] = [];
  const dbPath = join(dir, 'datastore.sqlite3');
  return {
    dir,
    socketPath,
    trustDomain,
    datastore,
    ca,
    server,
    rowCounts() {
      const db = new Database(dbPath, { readonly: true });
      try {
        const tables = db
          .prepare("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'")
          .all() as { name: string }[];
        return Object.fromEntries(
          tables.map(({ name }) => [name, (db.prepare(`SELECT count(*) AS n FROM "${name}"`).get() as { n: number }).n]),
        );
      } finally {
        db.close();
      }
    },
    client(service) {
      const { Client } = loadService(`tessera/admin/v1/${FILES[service]}`, `tessera.admin.v1.${service}`);
      const client = new Client(`unix://${socketPath}`, grpc.credentials.createInsecure());
      clients.push(client);
      return {
        call<Res>(method: string, request: object) {
          return new Promise<Res>((resolve, reject) => {
            const fn = (client as unknown as Record<string, Function>)[method];
            if (typeof fn !== 'function') throw new Error(`no method ${method} on ${service}`);
            fn.call(client, request, { deadline: Date.now() + 10_000 }, (err: grpc.ServiceError | null, res: Res) =>
              err ? reject(err) : resolve(res),
            );
          });
        },
        close: () => client.close(),
      };
    },
    async close() {
      for (const c of clients) c.close();
      await new Promise<void>((resolve) => server.tryShutdown(() => resolve()));
      await datastore.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
