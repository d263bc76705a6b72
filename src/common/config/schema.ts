import { ConfigError } from './errors.js';

/**
 * A small declarative schema for configuration files, shared by server and agent. A schema is plain data:
 *
 * ```ts
 * const schema = defineSchema({
 *   type: 'object',
 *   fields: {
 *     trustDomain: { type: 'string', nonEmpty: true },
 *     logLevel: { type: 'enum', values: ['info', 'debug'], default: 'info' },
 *     policy: {
 *       type: 'object',
 *       default: {},
 *       fields: { maxX509TtlSeconds: { type: 'int', min: 60, max: 2592000, default: 3600 } },
 *     },
 *   },
 * });
 * const config = validateConfig(schema, loadConfigFile(path)); // typed from the schema
 * ```
 *
 * Rules: every field is required unless it has `optional: true` or a `default` (a default is validated like input,
 * so `default: {}` on an object fills in its children's defaults). `null` counts as absent (YAML `key:`). Objects
 * refuse keys they do not declare. Unknown keys are reported before missing ones, since a typo causes both.
 */
export type Schema = StringSchema | IntSchema | BoolSchema | EnumSchema | ArraySchema | ObjectSchema | MapSchema;

interface Common<T> {
  optional?: boolean;
  default?: T;
}

export interface StringSchema extends Common<string> {
  type: 'string';
  nonEmpty?: boolean;
}

export interface IntSchema extends Common<number> {
  type: 'int';
  min?: number;
  max?: number;
}

export interface BoolSchema extends Common<boolean> {
  type: 'bool';
}

export interface EnumSchema<V extends string = string> extends Common<V> {
  type: 'enum';
  values: readonly V[];
}

export interface ArraySchema<I extends Schema = Schema> extends Common<readonly unknown[]> {
  type: 'array';
  items: I;
}

export interface ObjectSchema<F extends Readonly<Record<string, Schema>> = Readonly<Record<string, Schema>>>
  extends Common<Readonly<Record<string, unknown>>> {
  type: 'object';
  fields: F;
}

/** An object whose keys are free (e.g. one block per trust domain) and whose values share one schema. */
export interface MapSchema<V extends Schema = Schema> extends Common<Readonly<Record<string, unknown>>> {
  type: 'map';
  values: V;
}

/** The value a schema validates to. */
export type Infer<S> = S extends StringSchema
  ? string
  : S extends IntSchema
    ? number
    : S extends BoolSchema
      ? boolean
      : S extends EnumSchema<infer V>
        ? V
        : S extends ArraySchema<infer I>
          ? Infer<I>[]
          : S extends ObjectSchema<infer F>
            ? InferFields<F>
            : S extends MapSchema<infer V>
              ? Record<string, Infer<V>>
              : never;

type MayBeAbsent<S> = S extends { default: unknown } ? false : S extends { optional: true } ? true : false;

type InferFields<F> = Simplify<
  { -readonly [K in keyof F as MayBeAbsent<F[K]> extends true ? K : never]?: Infer<F[K]> } & {
    -readonly [K in keyof F as MayBeAbsent<F[K]> extends true ? never : K]: Infer<F[K]>;
  }
>;

type Simplify<T> = { [K in keyof T]: T[K] } & {};

/** Identity function that keeps the literal types of a schema written inline (`values`, `optional: true`, ...). */
export function defineSchema<const S extends Schema>(schema: S): S {
  return schema;
}

/** Checks `input` against `schema` and returns a new value with defaults filled in; throws {@link ConfigError}. */
export function validateConfig<const S extends Schema>(schema: S, input: unknown): Infer<S> {
  return check(schema, input, '') as Infer<S>;
}

/**
 * Every problem of `input` against `schema`, not just the first (`tessera config validate`): an unknown key, a wrong
 * value or a missing setting each give one ConfigError, in file order; empty when `validateConfig` would succeed.
 */
export function configProblems(schema: Schema, input: unknown): ConfigError[] {
  const problems: ConfigError[] = [];
  try {
    check(schema, input, '', problems);
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    problems.push(err);
  }
  return problems;
}

/** Checks one child; when collecting, records its error and goes on with the next child. */
function child(schema: Schema, value: unknown, path: string, problems: ConfigError[] | undefined): unknown {
  if (problems === undefined) return check(schema, value, path);
  try {
    return check(schema, value, path, problems);
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    problems.push(err);
    return undefined;
  }
}

function check(schema: Schema, value: unknown, path: string, problems?: ConfigError[]): unknown {
  if (value === undefined || value === null) {
    if (schema.default !== undefined) return check(schema, structuredClone(schema.default), path);
    if (schema.optional) return undefined;
    throw new ConfigError('missing', path, `${path || 'configuration'} must be configured`);
  }
  const name = path || 'configuration';
  switch (schema.type) {
    case 'string':
      if (typeof value !== 'string') throw typeError(path, `${name} must be a string`);
      if (schema.nonEmpty && value.length === 0) throw typeError(path, `${name} must be a non-empty string`);
      return value;
    case 'int':
      return checkInt(schema, value, path);
    case 'bool':
      if (typeof value !== 'boolean') throw typeError(path, `${name} must be a boolean (true or false)`);
      return value;
    case 'enum':
      if (typeof value !== 'string' || !schema.values.includes(value)) {
        const allowed = schema.values.map((v) => JSON.stringify(v)).join(', ');
        throw new ConfigError('enum', path, `${name} must be one of ${allowed}`);
      }
      return value;
    case 'array':
      if (!Array.isArray(value)) throw typeError(path, `${name} must be a list`);
      return value.map((item, i) => child(schema.items, item, `${path}[${i}]`, problems));
    case 'object':
      return checkObject(schema, value, path, problems);
    case 'map': {
      const out: Record<string, unknown> = {};
      for (const [key, item] of Object.entries(asPlainObject(value, path))) {
        out[key] = child(schema.values, item, join(path, key), problems);
      }
      return out;
    }
  }
}

function checkInt(schema: IntSchema, value: unknown, path: string): number {
  const { min, max } = schema;
  const ok = typeof value === 'number' && Number.isSafeInteger(value);
  if (ok && (min === undefined || value >= min) && (max === undefined || value <= max)) return value;
  let rule = 'must be an integer';
  if (min !== undefined && max !== undefined) rule += ` between ${min} and ${max}`;
  else if (min !== undefined) rule += ` of at least ${min}`;
  else if (max !== undefined) rule += ` of at most ${max}`;
  throw new ConfigError(ok ? 'range' : 'type', path, `${path || 'configuration'} ${rule}`);
}

function checkObject(
  schema: ObjectSchema,
  value: unknown,
  path: string,
  problems?: ConfigError[],
): Record<string, unknown> {
  const input = asPlainObject(value, path);
  for (const key of Object.keys(input)) {
    if (!Object.hasOwn(schema.fields, key)) {
      const unknown = new ConfigError('unknown_key', join(path, key), `unknown key ${JSON.stringify(join(path, key))}`);
      if (problems === undefined) throw unknown;
      problems.push(unknown);
    }
  }
  const out: Record<string, unknown> = {};
  for (const [key, fieldSchema] of Object.entries(schema.fields)) {
    const checked = child(fieldSchema, input[key], join(path, key), problems);
    if (checked !== undefined) out[key] = checked;
  }
  return out;
}

function asPlainObject(value: unknown, path: string): Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw typeError(path, `${path || 'configuration'} must be a mapping of keys to values`);
  }
  return value as Record<string, unknown>;
}

function typeError(path: string, message: string): ConfigError {
  return new ConfigError('type', path, message);
}

function join(path: string, key: string): string {
  return path === '' ? key : `${path}.${key}`;
}
