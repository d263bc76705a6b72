import { describe, expect, it } from 'vitest';
import { ConfigError, expandEnv } from '../../../src/common/config/index.js';

function refusal(value: unknown, env: Record<string, string>): ConfigError {
  try {
    expandEnv(value, env);
  } catch (err) {
    if (err instanceof ConfigError) return err;
    throw err;
  }
  throw new Error('expected a ConfigError');
}

describe('expandEnv (${NAME} in config values)', () => {
  it('replaces references in every string value, nested and in lists, and leaves keys and other values alone', () => {
    const env = { HOST: 'db.internal', PASS: 's3cret', EMPTY: '' };
    expect(
      expandEnv(
        { url: 'postgres://app:${PASS}@${HOST}/tessera', '${HOST}': 1, list: ['${HOST}', true, null], n: 5, e: 'a${EMPTY}b' },
        env,
      ),
    ).toEqual({ url: 'postgres://app:s3cret@db.internal/tessera', '${HOST}': 1, list: ['db.internal', true, null], n: 5, e: 'ab' });
  });

  it('keeps $${ as a literal ${ and does not expand what follows it', () => {
    expect(expandEnv({ a: 'cost $${HOME} and ${X}' }, { X: 'x', HOME: '/root' })).toEqual({ a: 'cost ${HOME} and x' });
    expect(expandEnv({ a: 'plain $HOME and $' }, {})).toEqual({ a: 'plain $HOME and $' });
  });

  it('refuses an unset variable or a malformed reference, naming the dotted path and the variable', () => {
    const cases: [unknown, string, string][] = [
      [{ db: { password: '${DB_PASS}' } }, 'db.password', 'db.password refers to environment variable "DB_PASS", which is not set'],
      [{ servers: [{ host: 'x' }, { host: '${H}' }] }, 'servers[1].host', 'servers[1].host refers to environment variable "H", which is not set'],
      [{ a: '${bad-name}' }, 'a', 'a has "${bad-name}", which is not an environment reference'],
      [{ a: 'x ${UNCLOSED' }, 'a', 'a has "${UNCLOSED", which is not an environment reference'],
      [{ a: '${}' }, 'a', 'a has "${}", which is not an environment reference'],
    ];
    for (const [value, at, message] of cases) {
      const err = refusal(value, {});
      expect(err.path).toBe(at);
      expect(err.message).toContain(message);
    }
  });
});
