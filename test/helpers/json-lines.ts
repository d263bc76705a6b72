/**
 * Keys that occur more than once in one object of a JSON text (JSON.parse silently keeps the last one), as
 * "path.key" strings; [] when every object's keys are unique. The text must be valid JSON (parse it first).
 */
export function duplicateKeys(text: string): string[] {
  const dups: string[] = [];
  const stack: Array<{ keys: Set<string> | null; expectKey: boolean; path: string }> = [];
  let lastKey = '';
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!;
    const top = stack[stack.length - 1];
    if (c === '"') {
      let j = i + 1;
      while (text[j] !== '"') j += text[j] === '\\' ? 2 : 1;
      const value = JSON.parse(text.slice(i, j + 1)) as string;
      if (top?.keys && top.expectKey) {
        if (top.keys.has(value)) dups.push(top.path + value);
        top.keys.add(value);
        top.expectKey = false;
        lastKey = value;
      }
      i = j;
    } else if (c === '{') {
      stack.push({ keys: new Set(), expectKey: true, path: top ? `${top.path}${top.keys ? lastKey : '[]'}.` : '' });
    } else if (c === '[') {
      stack.push({ keys: null, expectKey: false, path: top ? `${top.path}${top.keys ? lastKey : '[]'}.` : '' });
    } else if (c === '}' || c === ']') {
      stack.pop();
    } else if (c === ',' && top?.keys) {
      top.expectKey = true;
    }
  }
  return dups;
}

/** Parses JSON log lines, failing on a line that is not JSON or that repeats a key in one object. */
export function parseJsonLines(text: string): Record<string, unknown>[] {
  return text
    .split('\n')
    .filter((l) => l.length > 0)
    .map((l) => {
      let parsed: unknown;
      try {
        parsed = JSON.parse(l);
      } catch {
        throw new Error(`log line is not JSON: ${l}`);
      }
      const dups = duplicateKeys(l);
      if (dups.length > 0) throw new Error(`log line repeats ${JSON.stringify(dups)}: ${l}`);
      return parsed as Record<string, unknown>;
    });
}
