import { BundleMalformed } from '../errors.js';

/** A JSON document whose top level is an object, with its text kept for the members JSON numbers cannot hold. */
export interface JsonObjectDocument {
  readonly text: string;
  readonly value: Record<string, unknown>;
}

const utf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

/** Decodes (UTF-8 when bytes) and parses `input`; anything but a JSON object is BundleMalformed. */
export function parseJsonObject(input: string | Uint8Array, what: string): JsonObjectDocument {
  let text: string;
  if (typeof input === 'string') {
    text = input;
  } else if (input instanceof Uint8Array) {
    try {
      text = utf8.decode(input);
    } catch (cause) {
      throw new BundleMalformed('json-utf8', `${what} is not valid UTF-8`, { cause });
    }
  } else {
    throw new TypeError(`${what} must be a string or a Uint8Array`);
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (cause) {
    const detail = text.trim().length === 0 ? 'unexpected end of JSON input' : (cause as Error).message;
    throw new BundleMalformed('json', `${what} is not valid JSON: ${detail}`, { cause });
  }
  if (!isPlainObject(value)) throw new BundleMalformed('json-object', `${what} must be a JSON object`);
  return { text, value };
}

export function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/**
 * The raw text of the top-level member `name` of `text` (a document already accepted by JSON.parse), or undefined.
 * As with JSON.parse, the last of duplicate members wins. Used to read 64-bit integers without going through a double.
 */
export function rawTopLevelMember(text: string, name: string): string | undefined {
  let i = 0;
  let found: string | undefined;
  const ws = (): void => {
    while (i < text.length && ' \t\r\n'.includes(text[i]!)) i++;
  };
  const skipString = (): void => {
    i++; // opening quote
    while (text[i] !== '"') i += text[i] === '\\' ? 2 : 1;
    i++;
  };
  const skipValue = (): void => {
    const c = text[i];
    if (c === '"') return skipString();
    if (c === '{' || c === '[') {
      let depth = 0;
      do {
        const d = text[i]!;
        if (d === '"') {
          skipString();
          continue;
        }
        if (d === '{' || d === '[') depth++;
        else if (d === '}' || d === ']') depth--;
        i++;
      } while (depth > 0);
      return;
    }
    while (i < text.length && !',}] \t\r\n'.includes(text[i]!)) i++;
  };
  ws();
  i++; // '{'
  for (;;) {
    ws();
    if (text[i] === '}' || i >= text.length) return found;
    const keyStart = i;
    skipString();
    const key = JSON.parse(text.slice(keyStart, i)) as string;
    ws();
    i++; // ':'
    ws();
    const valueStart = i;
    skipValue();
    if (key === name) found = text.slice(valueStart, i);
    ws();
    if (text[i] === ',') i++;
  }
}
