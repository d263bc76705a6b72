import { readFileSync } from 'node:fs';
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

/**
 * The agent's configuration file (YAML or JSON). Every option is documented in deploy/agent.example.yaml; keep the two
 * in step. Unknown keys and invalid values fail at start with the dotted path.
 */
export const agentConfigSchema = defineSchema({
  type: 'object',
  fields: {
    trustDomain: { type: 'string', nonEmpty: true },
    serverAddress: { type: 'string', nonEmpty: true, default: '127.0.0.1:8081' },
    trustBundlePath: { type: 'string', nonEmpty: true, optional: true },
    insecureBootstrap: { type: 'bool', default: false },
    nodeAttestor: {
      type: 'object',
      fields: {
        joinToken: {
          type: 'object',
          optional: true,
          // Exactly one: the token inline, a file holding it (e.g. a mounted secret), or an environment variable.
          fields: {
            token: { type: 'string', nonEmpty: true, optional: true },
            tokenFile: { type: 'string', nonEmpty: true, optional: true },
            tokenEnv: { type: 'string', nonEmpty: true, optional: true },
          },
        },
        x509pop: {
          type: 'object',
          optional: true,
          fields: {
            certFile: { type: 'string', nonEmpty: true },
            keyFile: { type: 'string', nonEmpty: true },
          },
        },
      },
    },
    dataDir: { type: 'string', nonEmpty: true, default: './.tessera/agent' },
    workloadApi: {
      type: 'object',
      default: {},
      fields: {
        socketPath: { type: 'string', nonEmpty: true, optional: true },
        // Defaults: DEFAULT_WORKLOAD_API_LIMITS in src/agent/workloadapi/listener.ts.
        maxConnections: { type: 'int', min: 1, max: 1_000_000, default: 16_384 },
        maxConnectionsPerUid: { type: 'int', min: 1, max: 1_000_000, default: 4_096 },
        idleTimeoutMs: { type: 'int', min: 100, max: 86_400_000, default: 60_000 },
      },
    },
    http: {
      type: 'object',
      default: {},
      fields: { listen: { type: 'string', nonEmpty: true, default: '127.0.0.1:8082' } },
    },
    workloadAttestor: {
      type: 'object',
      default: {},
      fields: { sha256MaxBytes: { type: 'int', min: 0, max: 64 * 1024 * 1024 * 1024, default: 1024 * 1024 * 1024 } },
    },
    logLevel: { type: 'enum', values: ['trace', 'debug', 'info', 'warn', 'error'], default: 'info' },
  },
});

export type AgentConfigFile = Infer<typeof agentConfigSchema>;

/** The node attestor the agent uses, exactly one (paths resolved). */
export type NodeAttestorConfig =
  | { readonly kind: 'join_token'; readonly token: string }
  | { readonly kind: 'x509pop'; readonly certFile: string; readonly keyFile: string };

/** How the agent trusts the server before it holds a bundle of its own (persisted in the data dir after that). */
export type BootstrapTrust =
  | { readonly kind: 'bundle'; readonly trustBundlePath: string }
  /** Trust on first use: any chain, but the server must present spiffe://<td>/tessera/server. */
  | { readonly kind: 'insecure' };

/** The validated configuration with paths resolved and the trust domain parsed. */
export interface AgentConfig {
  readonly trustDomain: TrustDomain;
  readonly serverAddress: string;
  readonly bootstrap: BootstrapTrust;
  readonly nodeAttestor: NodeAttestorConfig;
  readonly dataDir: string;
  readonly socketPath: string;
  /** Caps and idle timeout of the Workload API socket. */
  readonly workloadApiLimits: {
    readonly maxConnections: number;
    readonly maxConnectionsPerUid: number;
    readonly idleTimeoutMs: number;
  };
  readonly httpListen: string;
  /** Largest binary hashed for a `unix:sha256` selector (workloadAttestor.sha256MaxBytes). */
  readonly sha256MaxBytes: number;
  readonly logLevel: AgentConfigFile['logLevel'];
  /** Said once at start (e.g. the data dir found at its old location). */
  readonly warnings: readonly string[];
}

const DEFAULT_DATA_DIR = './.tessera/agent';

/**
 * Validates raw configuration. Every relative path is resolved against `baseDir` (the config file's directory); only
 * an install that still keeps its data at the old working-directory location of the default dataDir is sent there,
 * with a warning (src/common/config/data-dir.ts). The join token file or variable is read here.
 */
export function parseAgentConfig(
  raw: unknown,
  baseDir: string,
  env: Readonly<Record<string, string | undefined>> = process.env,
  cwd: string = process.cwd(),
): AgentConfig {
  const cfg = validateConfig(agentConfigSchema, raw);
  let trustDomain: TrustDomain;
  try {
    trustDomain = TrustDomain.parse(cfg.trustDomain);
  } catch (err) {
    throw new ConfigError('type', 'trustDomain', `trustDomain is invalid: ${(err as Error).message}`);
  }
  if (cfg.trustDomain.includes('/')) {
    throw new ConfigError('type', 'trustDomain', 'trustDomain must be a bare name such as "example.org"');
  }
  checkHostPort(cfg.serverAddress, 'serverAddress');
  checkHostPort(cfg.http.listen, 'http.listen');
  const resolve = (p: string) => path.resolve(baseDir, p);

  let bootstrap: BootstrapTrust;
  if (cfg.trustBundlePath !== undefined && cfg.insecureBootstrap) {
    throw new ConfigError('type', 'insecureBootstrap', 'set either trustBundlePath or insecureBootstrap: true, not both');
  } else if (cfg.trustBundlePath !== undefined) {
    bootstrap = { kind: 'bundle', trustBundlePath: resolve(cfg.trustBundlePath) };
  } else if (cfg.insecureBootstrap) {
    bootstrap = { kind: 'insecure' };
  } else {
    throw new ConfigError(
      'missing',
      'trustBundlePath',
      'trustBundlePath must be configured (the server CA roots, PEM), or insecureBootstrap: true to trust the server on first use',
    );
  }

  const { joinToken, x509pop } = cfg.nodeAttestor;
  let nodeAttestor: NodeAttestorConfig;
  if (joinToken && x509pop) {
    throw new ConfigError('type', 'nodeAttestor', 'nodeAttestor must configure exactly one of joinToken and x509pop, not both');
  } else if (joinToken) {
    nodeAttestor = { kind: 'join_token', token: readJoinToken(joinToken, resolve, env) };
  } else if (x509pop) {
    nodeAttestor = { kind: 'x509pop', certFile: resolve(x509pop.certFile), keyFile: resolve(x509pop.keyFile) };
  } else {
    throw new ConfigError('missing', 'nodeAttestor', 'nodeAttestor must configure one of joinToken and x509pop');
  }

  if (cfg.workloadApi.maxConnectionsPerUid > cfg.workloadApi.maxConnections) {
    throw new ConfigError(
      'range',
      'workloadApi.maxConnectionsPerUid',
      `workloadApi.maxConnectionsPerUid (${cfg.workloadApi.maxConnectionsPerUid}) must not exceed workloadApi.maxConnections (${cfg.workloadApi.maxConnections})`,
    );
  }
  const { dataDir, warnings } = resolveDataDir(cfg.dataDir, DEFAULT_DATA_DIR, baseDir, cwd);
  return {
    trustDomain,
    serverAddress: cfg.serverAddress,
    bootstrap,
    nodeAttestor,
    dataDir,
    socketPath: cfg.workloadApi.socketPath ? resolve(cfg.workloadApi.socketPath) : path.join(dataDir, 'api.sock'),
    workloadApiLimits: {
      maxConnections: cfg.workloadApi.maxConnections,
      maxConnectionsPerUid: cfg.workloadApi.maxConnectionsPerUid,
      idleTimeoutMs: cfg.workloadApi.idleTimeoutMs,
    },
    httpListen: cfg.http.listen,
    sha256MaxBytes: cfg.workloadAttestor.sha256MaxBytes,
    logLevel: cfg.logLevel,
    warnings,
  };
}

type JoinTokenConfigFile = NonNullable<AgentConfigFile['nodeAttestor']['joinToken']>;

/** The one configured source of the join token; errors name the setting and never quote the token. */
function readJoinToken(
  cfg: JoinTokenConfigFile,
  resolve: (p: string) => string,
  env: Readonly<Record<string, string | undefined>>,
): string {
  const set = (['token', 'tokenFile', 'tokenEnv'] as const).filter((k) => cfg[k] !== undefined);
  if (set.length !== 1) {
    throw new ConfigError(
      set.length === 0 ? 'missing' : 'type',
      'nodeAttestor.joinToken',
      `nodeAttestor.joinToken must configure exactly one of token, tokenFile and tokenEnv${set.length > 1 ? `, not ${set.join(' and ')}` : ''}`,
    );
  }
  if (cfg.token !== undefined) return cfg.token;
  if (cfg.tokenFile !== undefined) {
    const file = resolve(cfg.tokenFile);
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code ?? 'error';
      throw new ConfigError('read', 'nodeAttestor.joinToken.tokenFile', `nodeAttestor.joinToken.tokenFile ${JSON.stringify(file)} cannot be read (${code})`, {
        cause: err,
      });
    }
    const token = text.trim();
    if (token === '' || /\s/.test(token)) {
      throw new ConfigError(
        'type',
        'nodeAttestor.joinToken.tokenFile',
        `nodeAttestor.joinToken.tokenFile ${JSON.stringify(file)} must hold the join token alone on one line`,
      );
    }
    return token;
  }
  const name = cfg.tokenEnv!;
  const token = env[name]?.trim();
  if (token === undefined || token === '') {
    throw new ConfigError(
      'missing',
      'nodeAttestor.joinToken.tokenEnv',
      `nodeAttestor.joinToken.tokenEnv names environment variable ${JSON.stringify(name)}, which is ${token === undefined ? 'not set' : 'empty'}`,
    );
  }
  return token;
}

export function loadAgentConfig(file: string): AgentConfig {
  const env = process.env;
  return parseAgentConfig(expandEnv(loadConfigFile(file), env), path.dirname(path.resolve(file)), env);
}
