import * as path from 'node:path';
import { isIP } from 'node:net';

/**
 * Where the Workload API listens (SPIFFE Workload Endpoint §4; spiffe-notes.md §5): `--socket`, else
 * `SPIFFE_ENDPOINT_SOCKET`, else the agent's default socket. Pure: no grpc-js, so usage errors stay quick.
 */

export const SPIFFE_ENDPOINT_SOCKET_ENV = 'SPIFFE_ENDPOINT_SOCKET';
/** The agent's default Workload API socket (its default data dir), relative to the working directory. */
export const DEFAULT_WORKLOAD_SOCKET = './.tessera/agent/api.sock';

export type WorkloadEndpoint =
  | { readonly kind: 'unix'; readonly path: string }
  | { readonly kind: 'tcp'; readonly host: string; readonly port: number };

/** A bad endpoint URI; `message` is one lowercase line naming the rule that failed. */
export class WorkloadEndpointInvalid extends Error {
  override readonly name = 'WorkloadEndpointInvalid';
}

/**
 * Parses an endpoint URI as SPIFFE_ENDPOINT_SOCKET holds it: `unix:///abs/path` (or `unix:/abs/path`; scheme and path,
 * no authority, query, fragment or user info) or `tcp://<IP>:<port>` (an IP literal and a port, nothing else).
 * Stricter than go-spiffe in one way, as the spec asks: `unix://host/...` (an authority) is refused. Percent-escapes in
 * the unix path are decoded.
 */
export function parseEndpointUri(uri: string): WorkloadEndpoint {
  const m = /^([A-Za-z][A-Za-z0-9+.-]*):(.*)$/s.exec(uri);
  const scheme = m?.[1]?.toLowerCase();
  if (m === null || (scheme !== 'unix' && scheme !== 'tcp')) {
    throw new WorkloadEndpointInvalid(
      'socket URI must have a "unix" or "tcp" scheme (unix:///path/to/api.sock or tcp://IP:port)',
    );
  }
  const kind = scheme as 'unix' | 'tcp';
  let rest = m[2]!;
  let fragment: string | undefined;
  let query: string | undefined;
  const hash = rest.indexOf('#');
  if (hash !== -1) [rest, fragment] = [rest.slice(0, hash), rest.slice(hash + 1)];
  const question = rest.indexOf('?');
  if (question !== -1) [rest, query] = [rest.slice(0, question), rest.slice(question + 1)];
  let authority: string | undefined;
  let uriPath: string;
  if (rest.startsWith('//')) {
    const slash = rest.indexOf('/', 2);
    authority = slash === -1 ? rest.slice(2) : rest.slice(2, slash);
    uriPath = slash === -1 ? '' : rest.slice(slash);
  } else {
    uriPath = rest;
  }
  const opaque = uriPath !== '' && !uriPath.startsWith('/') && authority === undefined;
  const userInfo = authority?.includes('@') === true;
  const fail = (reason: string) => new WorkloadEndpointInvalid(`${kind} socket URI ${reason}`);

  if (kind === 'unix') {
    if (opaque) throw fail('must not be opaque (use unix:///absolute/path)');
    if (userInfo) throw fail('must not include user info');
    if (authority !== undefined && authority !== '') {
      throw fail(`must not include an authority (${JSON.stringify(authority)}); use unix:///absolute/path`);
    }
    if (uriPath === '') throw fail('must include a path (unix:///absolute/path)');
    if (query !== undefined) throw fail('must not include query values');
    if (fragment !== undefined) throw fail('must not include a fragment');
    let decoded: string;
    try {
      decoded = decodeURIComponent(uriPath);
    } catch {
      throw fail('path has a malformed percent-escape');
    }
    if (decoded.includes('\0')) throw fail('path must not contain a NUL byte');
    return { kind: 'unix', path: decoded };
  }

  if (opaque) throw fail('must not be opaque (use tcp://IP:port)');
  if (userInfo) throw fail('must not include user info');
  if (authority === undefined || authority === '') throw fail('must include a host (tcp://IP:port)');
  if (uriPath !== '') throw fail(`must not include a path (${JSON.stringify(uriPath)})`);
  if (query !== undefined) throw fail('must not include query values');
  if (fragment !== undefined) throw fail('must not include a fragment');
  const hp = /^(?:\[([^\]]*)\]|([^:[\]]*))(?::(.*))?$/.exec(authority);
  const host = hp?.[1] ?? hp?.[2] ?? '';
  const family = isIP(host);
  if (hp === null || family === 0 || (hp[1] !== undefined && family !== 6)) {
    throw fail(`host must be an IP address and port, e.g. tcp://127.0.0.1:8000 (got ${JSON.stringify(authority)})`);
  }
  const port = hp[3];
  if (port === undefined || port === '') throw fail(`must include a port (tcp://${authority}:PORT)`);
  if (!/^\d{1,5}$/.test(port) || Number(port) < 1 || Number(port) > 65_535) {
    throw fail(`port must be a number from 1 to 65535 (got ${JSON.stringify(port)})`);
  }
  return { kind: 'tcp', host, port: Number(port) };
}

/** Where the endpoint came from, for messages. */
export type EndpointSource = '--socket' | typeof SPIFFE_ENDPOINT_SOCKET_ENV | 'default';

export interface ResolvedEndpoint {
  readonly endpoint: WorkloadEndpoint;
  readonly source: EndpointSource;
}

/**
 * `--socket` (a filesystem path, or a `unix:`/`tcp:` URI: anything that starts with `scheme:` is read as a URI), else
 * `SPIFFE_ENDPOINT_SOCKET` (always a URI), else {@link DEFAULT_WORKLOAD_SOCKET}. Paths are made absolute against the
 * working directory. Throws {@link WorkloadEndpointInvalid} naming the source, e.g. `SPIFFE_ENDPOINT_SOCKET
 * "unix:opaque" is invalid: unix socket URI must not be opaque ...`.
 */
export function resolveWorkloadEndpoint(
  flag: string | undefined,
  env: NodeJS.ProcessEnv = process.env,
): ResolvedEndpoint {
  const named = (source: EndpointSource, value: string, parse: () => WorkloadEndpoint): ResolvedEndpoint => {
    try {
      return { endpoint: parse(), source };
    } catch (err) {
      if (!(err instanceof WorkloadEndpointInvalid)) throw err;
      throw new WorkloadEndpointInvalid(`${source} ${JSON.stringify(value)} is invalid: ${err.message}`);
    }
  };
  if (flag !== undefined) {
    if (flag === '') throw new WorkloadEndpointInvalid('--socket must not be empty');
    if (/^[A-Za-z][A-Za-z0-9+.-]*:/.test(flag)) return named('--socket', flag, () => parseEndpointUri(flag));
    return { endpoint: { kind: 'unix', path: path.resolve(flag) }, source: '--socket' };
  }
  const fromEnv = env[SPIFFE_ENDPOINT_SOCKET_ENV];
  if (fromEnv !== undefined && fromEnv !== '') {
    return named(SPIFFE_ENDPOINT_SOCKET_ENV, fromEnv, () => parseEndpointUri(fromEnv));
  }
  return { endpoint: { kind: 'unix', path: path.resolve(DEFAULT_WORKLOAD_SOCKET) }, source: 'default' };
}

/** The grpc-js target: `unix:/abs/path` (no URI decoding by grpc-js), `ipv4:1.2.3.4:80` or `ipv6:[::1]:80`. */
export function grpcTarget(endpoint: WorkloadEndpoint): string {
  if (endpoint.kind === 'unix') return `unix:${endpoint.path}`;
  const { host, port } = endpoint;
  return isIP(host) === 6 ? `ipv6:[${host}]:${port}` : `ipv4:${host}:${port}`;
}

/** For messages: the socket path, or `tcp://IP:port`. */
export function describeEndpoint(endpoint: WorkloadEndpoint): string {
  if (endpoint.kind === 'unix') return endpoint.path;
  const { host, port } = endpoint;
  return isIP(host) === 6 ? `tcp://[${host}]:${port}` : `tcp://${host}:${port}`;
}
