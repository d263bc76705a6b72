import { ConfigError } from './errors.js';

/**
 * `${NAME}` in any string value of a configuration file is replaced by the environment variable NAME, so secrets (a
 * join token, a database password) can stay out of the file; `$${` is a literal `${`. A variable that is not set, or
 * a `${` that is not `${NAME}`, is a ConfigError naming the setting's dotted path and the variable. Keys are never
 * expanded; values that are not strings pass through unchanged.
 */
export function expandEnv(value: unknown, env: Readonly<Record<string, string | undefined>>, path = ''): unknown {
  if (typeof value === 'string') return expandString(value, env, path);
  if (Array.isArray(value)) return value.map((item, i) => expandEnv(item, env, `${path}[${i}]`));
  if (typeof value === 'object' && value !== null) {
    const out: Record<string, unknown> = {};
    for (const [key, item] of Object.entries(value)) out[key] = expandEnv(item, env, path === '' ? key : `${path}.${key}`);
    return out;
  }
  return value;
}

const REFERENCE = /\$\$\{|\$\{([^}]*)\}?/g;
const NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

function expandString(text: string, env: Readonly<Record<string, string | undefined>>, path: string): string {
  const at = path || 'configuration';
  return text.replace(REFERENCE, (match, name: string | undefined) => {
    if (match === '$${') return '${';
    if (!match.endsWith('}') || name === undefined || !NAME.test(name)) {
      throw new ConfigError(
        'type',
        path,
        `${at} has ${JSON.stringify(match)}, which is not an environment reference: write \${NAME} (letters, digits, _) or $\${ for a literal "\${"`,
      );
    }
    const found = env[name];
    if (found === undefined) {
      throw new ConfigError('missing', path, `${at} refers to environment variable ${JSON.stringify(name)}, which is not set`);
    }
    return found;
  });
}
