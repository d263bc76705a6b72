/**
 * The dotted paths of the settings that differ between two validated configurations (`http.tls.certFile`,
 * `policy.worker.maxX509TtlSeconds`): plain objects are compared key by key, anything else (lists, parsed values) as
 * a whole.
 */
export function changedSettings(before: unknown, after: unknown, path = ''): string[] {
  if (isPlainObject(before) && isPlainObject(after)) {
    const keys = [...new Set([...Object.keys(before), ...Object.keys(after)])];
    return keys.flatMap((key) => changedSettings(before[key], after[key], path === '' ? key : `${path}.${key}`));
  }
  return JSON.stringify(before) === JSON.stringify(after) ? [] : [path];
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && Object.getPrototypeOf(value) === Object.prototype;
}
