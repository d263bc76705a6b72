import { parseArgs, type ParseArgsConfig } from 'node:util';
import { UsageError, parseArgsReason } from './command.js';

type Options = NonNullable<ParseArgsConfig['options']>;
type Values = Record<string, string | boolean | (string | boolean)[] | undefined>;

/**
 * node:util parseArgs, strict and without positionals, with two fixes every command shares:
 * - a negative number after a string option is its value (`--x509-ttl -5`), so the option's own check can say what
 *   range it takes, instead of parseArgs' "argument is ambiguous";
 * - a single-valued option given twice is a usage error naming it, instead of silently keeping the last value.
 * Every failure is a {@link UsageError} with a one-line reason.
 */
export function parseOptions(args: readonly string[], options: Options): Values {
  const joined = joinNegativeValues(args, options);
  let parsed: ReturnType<typeof parseArgs<{ options: Options; tokens: true; strict: true; allowPositionals: false }>>;
  try {
    parsed = parseArgs({ args: joined, options, allowPositionals: false, strict: true, tokens: true });
  } catch (err) {
    throw new UsageError(parseArgsReason(err));
  }
  const seen = new Set<string>();
  for (const token of parsed.tokens) {
    if (token.kind !== 'option' || options[token.name]?.multiple === true) continue;
    if (seen.has(token.name)) throw new UsageError(`--${token.name} is given more than once (give it once)`);
    seen.add(token.name);
  }
  return parsed.values as Values;
}

const NEGATIVE_NUMBER = /^-\d+(\.\d+)?$/;

function joinNegativeValues(args: readonly string[], options: Options): string[] {
  const byShort = new Map(Object.entries(options).flatMap(([name, o]) => (o.short ? [[o.short, name] as const] : [])));
  const out: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    if (a === '--') {
      out.push(...args.slice(i));
      break;
    }
    const name = a.startsWith('--') ? a.slice(2) : /^-[^-]$/.test(a) ? byShort.get(a.slice(1)) : undefined;
    const next = args[i + 1];
    if (name !== undefined && options[name]?.type === 'string' && next !== undefined && NEGATIVE_NUMBER.test(next)) {
      out.push(`--${name}=${next}`);
      i++;
    } else {
      out.push(a);
    }
  }
  return out;
}
