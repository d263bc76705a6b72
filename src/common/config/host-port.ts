import { ConfigError } from './errors.js';

/** `host:port` with a numeric port (0 = any free port, for listeners); IPv6 hosts in brackets. */
export function checkHostPort(value: string, at: string): { host: string; port: number } {
  const m = /^(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]+):(\d{1,5})$/.exec(value);
  const port = m ? Number(m[2]) : NaN;
  if (!m || port > 65535) {
    throw new ConfigError('type', at, `${at} must be "host:port" (e.g. "127.0.0.1:8081"), got ${JSON.stringify(value)}`);
  }
  return { host: m[1]!.replace(/^\[|\]$/g, ''), port };
}
