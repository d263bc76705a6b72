/** The first line (and first sentence) of a node:util parseArgs error, lowercased: one-line reasons only. */
export function parseArgsReason(err: unknown): string {
  const message = err instanceof Error ? err.message : String(err);
  const first = message.split('\n')[0]!.split('. ')[0]!.replace(/\.$/, '');
  return first.charAt(0).toLowerCase() + first.slice(1);
}
