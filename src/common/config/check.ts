import * as path from 'node:path';
import { expandEnv } from './env.js';
import { ConfigError } from './errors.js';
import { loadConfigFile } from './load.js';
import { configProblems, type Schema } from './schema.js';

/** What `tessera config validate` found in a file: one message per problem (each naming its dotted path). */
export interface ConfigCheck {
  readonly problems: readonly string[];
  readonly warnings: readonly string[];
}

/**
 * Checks a configuration file the way the process would load it at start (read, parse, `${ENV}` expansion, schema,
 * then the process's own rules and files via `parse`), but reports every schema problem rather than the first.
 */
export function checkConfigFile(
  file: string,
  schema: Schema,
  parse: (raw: unknown, baseDir: string) => { readonly warnings: readonly string[] },
  env: Readonly<Record<string, string | undefined>> = process.env,
): ConfigCheck {
  let raw: unknown;
  try {
    raw = expandEnv(loadConfigFile(file), env);
  } catch (err) {
    return { problems: [messageOf(err)], warnings: [] };
  }
  const problems = configProblems(schema, raw);
  if (problems.length > 0) return { problems: problems.map((p) => p.message), warnings: [] };
  try {
    return { problems: [], warnings: parse(raw, path.dirname(path.resolve(file))).warnings };
  } catch (err) {
    return { problems: [messageOf(err)], warnings: [] };
  }
}

function messageOf(err: unknown): string {
  if (err instanceof ConfigError) return err.message;
  throw err;
}
