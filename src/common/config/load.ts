import { readFileSync } from 'node:fs';
import { extname } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { ConfigError } from './errors.js';

/**
 * Reads a configuration file: YAML for `.yaml`/`.yml` (YAML 1.2 core schema, duplicate keys refused), JSON for any
 * other name. Returns the parsed value unchecked; pass it to `validateConfig`.
 */
export function loadConfigFile(path: string): unknown {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    const message = `cannot read config file ${JSON.stringify(path)}: ${reason(err)}`;
    throw new ConfigError('read', '', message, { cause: err });
  }
  return parseConfigText(text, isYamlPath(path) ? 'yaml' : 'json', path);
}

export function parseConfigText(text: string, format: 'yaml' | 'json', source = 'config'): unknown {
  try {
    return format === 'yaml' ? parseYaml(text, { uniqueKeys: true }) : JSON.parse(text);
  } catch (err) {
    throw new ConfigError('parse', '', `cannot parse ${JSON.stringify(source)} as ${format}: ${reason(err)}`, {
      cause: err,
    });
  }
}

function isYamlPath(path: string): boolean {
  const ext = extname(path).toLowerCase();
  return ext === '.yaml' || ext === '.yml';
}

function reason(err: unknown): string {
  const message = err instanceof Error ? err.message : String(err);
  return message.split('\n')[0] ?? message;
}
