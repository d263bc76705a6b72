import * as path from 'node:path';
import {
  checkHostPort,
  defineSchema,
  expandEnv,
  loadConfigFile,
  validateConfig,
  ConfigError,
  type Infer,
} from '../common/config/index.js';
import { resolveDataDir } from '../common/config/data-dir.js';
import { TrustDomain } from '../spiffe/id/index.js';

/** Before one rule for relative paths, this string alone was relative to the working directory. */
const DEFAULT_DATA_DIR = './.tessera/server';

/** Caps and timeouts of an HTTP(S) listener (DEFAULT_HTTP_LIMITS in src/common/http/health-server.ts). */
const HTTP_LIMIT_FIELDS = {
  maxConnections: { type: 'int', min: 1, max: 1_000_000, default: 1_024 },
  maxConnectionsPerAddress: { type: 'int', min: 1, max: 1_000_000, default: 256 },
  handshakeTimeoutMs: { type: 'int', min: 100, max: 600_000, default: 10_000 },
  headersTimeoutMs: { type: 'int', min: 100, max: 600_000, default: 10_000 },
  idleTimeoutMs: { type: 'int', min: 100, max: 600_000, default: 5_000 },
} as const;

/**
 * The server's configuration file (YAML or JSON). Every option is documented in deploy/server.example.yaml; keep the
 * two in step. Unknown keys and invalid values fail at start with the dotted path.
 */
export const serverConfigSchema = defineSchema({
  type: 'object',
  fields: {
    trustDomain: { type: 'string', nonEmpty: true },
    dataDir: { type: 'string', nonEmpty: true, default: DEFAULT_DATA_DIR },
    logLevel: { type: 'enum', values: ['trace', 'debug', 'info', 'warn', 'error'], default: 'info' },
    agentApi: {
      type: 'object',
      default: {},
      fields: {
        listen: { type: 'string', nonEmpty: true, default: '127.0.0.1:8081' },
        maxConnections: { type: 'int', min: 1, max: 1_000_000, default: 16_384 },
        maxConnectionsPerAddress: { type: 'int', min: 1, max: 1_000_000, default: 1_024 },
        handshakeTimeoutMs: { type: 'int', min: 100, max: 600_000, default: 10_000 },
        idleTimeoutMs: { type: 'int', min: 100, max: 86_400_000, default: 300_000 },
      },
    },
    http: {
      type: 'object',
      default: {},
      fields: {
        listen: { type: 'string', nonEmpty: true, default: '127.0.0.1:8080' },
        ...HTTP_LIMIT_FIELDS,
        tls: {
          type: 'object',
          optional: true,
          fields: { certFile: { type: 'string', nonEmpty: true }, keyFile: { type: 'string', nonEmpty: true } },
        },
      },
    },
    bundleEndpoint: {
      type: 'object',
      optional: true,
      fields: {
        listen: { type: 'string', nonEmpty: true, default: '127.0.0.1:8443' },
        profile: { type: 'enum', values: ['https_spiffe', 'https_web'] },
        certFile: { type: 'string', nonEmpty: true, optional: true },
        keyFile: { type: 'string', nonEmpty: true, optional: true },
        path: { type: 'string', nonEmpty: true, default: '/' },
        ...HTTP_LIMIT_FIELDS,
      },
    },
    federation: {
      type: 'object',
      default: {},
      fields: {
        // Floor under a peer's refresh hint, and the first retry delay after a failed fetch.
        minRefreshSeconds: { type: 'int', min: 1, max: 3600, default: 30 },
      },
    },
    admin: {
      type: 'object',
      default: {},
      fields: { socketPath: { type: 'string', nonEmpty: true, optional: true } },
    },
    ca: {
      type: 'object',
      default: {},
      fields: {
        keyType: { type: 'enum', values: ['ec-p256', 'ec-p384'], default: 'ec-p256' },
        ttlSeconds: { type: 'int', min: 600, max: 10 * 365 * 86400, default: 86400 },
        refreshHintSeconds: { type: 'int', min: 1, max: 3600, optional: true },
      },
    },
    jwt: {
      type: 'object',
      default: {},
      fields: {
        keyType: { type: 'enum', values: ['ec-p256', 'ec-p384', 'rsa-2048'], default: 'ec-p256' },
        keyTtlSeconds: { type: 'int', min: 600, max: 365 * 86400, default: 86400 },
        issuer: { type: 'string', nonEmpty: true, optional: true },
      },
    },
    upstreamAuthority: {
      type: 'object',
      optional: true,
      fields: {
        certFile: { type: 'string', nonEmpty: true },
        keyFile: { type: 'string', nonEmpty: true },
        bundleFile: { type: 'string', nonEmpty: true, optional: true },
      },
    },
    policy: {
      type: 'object',
      default: {},
      fields: {
        defaultX509TtlSeconds: { type: 'int', min: 5, max: 30 * 86400, default: 3600 },
        defaultJwtTtlSeconds: { type: 'int', min: 5, max: 86400, default: 300 },
        agentSvidTtlSeconds: { type: 'int', min: 60, max: 30 * 86400, default: 3600 },
        worker: {
          type: 'object',
          default: {},
          fields: {
            maxX509TtlSeconds: { type: 'int', min: 5, max: 30 * 86400, default: 86400 },
            maxJwtTtlSeconds: { type: 'int', min: 5, max: 86400, default: 3600 },
          },
        },
        supervisor: {
          type: 'object',
          default: {},
          fields: {
            maxX509TtlSeconds: { type: 'int', min: 5, max: 30 * 86400, default: 900 },
            maxJwtTtlSeconds: { type: 'int', min: 5, max: 86400, default: 300 },
          },
        },
      },
    },
    nodeAttestors: {
      type: 'object',
      default: {},
      fields: {
        joinToken: {
          type: 'object',
          default: {},
          fields: { enabled: { type: 'bool', default: true } },
        },
        x509pop: {
          type: 'object',
          optional: true,
          fields: { caBundleFile: { type: 'string', nonEmpty: true } },
        },
      },
    },
  },
});

export type ServerConfigFile = Infer<typeof serverConfigSchema>;

/** The validated configuration with paths resolved and the trust domain parsed. */
export interface ServerConfig extends ServerConfigFile {
  readonly trustDomainId: TrustDomain;
  readonly adminSocketPath: string;
  /** Said once at start (e.g. the data dir found at its old location). */
  readonly warnings: readonly string[];
}

/**
 * Validates raw configuration. Every relative path is resolved against `baseDir` (the config file's directory); only
 * an install that still keeps its data at the old working-directory location of the default dataDir is sent there,
 * with a warning (src/common/config/data-dir.ts).
 */
export function parseServerConfig(raw: unknown, baseDir: string, cwd: string = process.cwd()): ServerConfig {
  const cfg = validateConfig(serverConfigSchema, raw);
  let trustDomainId: TrustDomain;
  try {
    trustDomainId = TrustDomain.parse(cfg.trustDomain);
  } catch (err) {
    throw new ConfigError('type', 'trustDomain', `trustDomain is invalid: ${(err as Error).message}`);
  }
  if (cfg.trustDomain.includes('/')) {
    throw new ConfigError('type', 'trustDomain', 'trustDomain must be a bare name such as "example.org"');
  }
  checkHostPort(cfg.agentApi.listen, 'agentApi.listen');
  checkHostPort(cfg.http.listen, 'http.listen');
  checkPerAddressCap(cfg.agentApi, 'agentApi');
  checkPerAddressCap(cfg.http, 'http');
  if (cfg.bundleEndpoint) checkPerAddressCap(cfg.bundleEndpoint, 'bundleEndpoint');
  const bundleEndpoint = cfg.bundleEndpoint && checkBundleEndpoint(cfg.bundleEndpoint);
  const resolve = (p: string) => path.resolve(baseDir, p);
  const { dataDir, warnings } = resolveDataDir(cfg.dataDir, DEFAULT_DATA_DIR, baseDir, cwd);
  return {
    ...cfg,
    warnings,
    trustDomain: trustDomainId.name,
    dataDir,
    trustDomainId,
    adminSocketPath: cfg.admin.socketPath ? resolve(cfg.admin.socketPath) : path.join(dataDir, 'admin.sock'),
    http: {
      ...cfg.http,
      ...(cfg.http.tls ? { tls: { certFile: resolve(cfg.http.tls.certFile), keyFile: resolve(cfg.http.tls.keyFile) } } : {}),
    },
    bundleEndpoint: bundleEndpoint && {
      ...bundleEndpoint,
      ...(bundleEndpoint.certFile ? { certFile: resolve(bundleEndpoint.certFile) } : {}),
      ...(bundleEndpoint.keyFile ? { keyFile: resolve(bundleEndpoint.keyFile) } : {}),
    },
    upstreamAuthority: cfg.upstreamAuthority && {
      certFile: resolve(cfg.upstreamAuthority.certFile),
      keyFile: resolve(cfg.upstreamAuthority.keyFile),
      ...(cfg.upstreamAuthority.bundleFile ? { bundleFile: resolve(cfg.upstreamAuthority.bundleFile) } : {}),
    },
    nodeAttestors: {
      ...cfg.nodeAttestors,
      ...(cfg.nodeAttestors.x509pop ? { x509pop: { caBundleFile: resolve(cfg.nodeAttestors.x509pop.caBundleFile) } } : {}),
    },
  };
}

function checkPerAddressCap(caps: { maxConnections: number; maxConnectionsPerAddress: number }, at: string): void {
  if (caps.maxConnectionsPerAddress > caps.maxConnections) {
    throw new ConfigError(
      'range',
      `${at}.maxConnectionsPerAddress`,
      `${at}.maxConnectionsPerAddress (${caps.maxConnectionsPerAddress}) must not exceed ${at}.maxConnections (${caps.maxConnections})`,
    );
  }
}

type BundleEndpointConfigFile = NonNullable<ServerConfigFile['bundleEndpoint']>;

/** https_web needs the web certificate and key; https_spiffe uses the server SVID and takes neither. */
function checkBundleEndpoint(be: BundleEndpointConfigFile): BundleEndpointConfigFile {
  checkHostPort(be.listen, 'bundleEndpoint.listen');
  if (!be.path.startsWith('/')) {
    throw new ConfigError('type', 'bundleEndpoint.path', 'bundleEndpoint.path must start with "/"');
  }
  for (const key of ['certFile', 'keyFile'] as const) {
    if (be.profile === 'https_web' && !be[key]) {
      throw new ConfigError('missing', `bundleEndpoint.${key}`, `bundleEndpoint.${key} must be configured for profile https_web`);
    }
    if (be.profile === 'https_spiffe' && be[key]) {
      throw new ConfigError(
        'type',
        `bundleEndpoint.${key}`,
        `bundleEndpoint.${key} is only for profile https_web (https_spiffe serves the server's X509-SVID)`,
      );
    }
  }
  return be;
}

export function loadServerConfig(file: string): ServerConfig {
  return parseServerConfig(expandEnv(loadConfigFile(file), process.env), path.dirname(path.resolve(file)));
}
