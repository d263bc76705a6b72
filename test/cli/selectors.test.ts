import { describe, expect, it } from 'vitest';
import { SELECTOR_FORMS } from '../../src/common/selectors.js';
import { runTessera } from '../helpers/cli-in-process.js';

describe('tessera selectors', () => {
  it('prints one row per registry form, with its kind, attestor and example', async () => {
    const r = await runTessera(['selectors']);
    expect(r.code, r.stderr).toBe(0);
    const lines = r.stdout.trimEnd().split('\n');
    expect(lines[0]).toMatch(/^SELECTOR +KIND +EMITTED BY +EXAMPLE$/);
    expect(lines).toHaveLength(SELECTOR_FORMS.length + 1);
    expect(r.stdout).toMatch(/^unix:uid:<decimal uid> +workload +agent workload attestor \(SO_PEERCRED.*unix:uid:1000$/m);
    expect(r.stdout).toMatch(/^join_token:<join token ID: 32 lowercase hex digits> +node +server join_token node attestor/m);
    expect(r.stdout).not.toMatch(/^proc:/m);
  });

  it('--output json lists type, key, value syntax, form, kind, emitter and example', async () => {
    const r = await runTessera(['selectors', '--output', 'json']);
    expect(r.code, r.stderr).toBe(0);
    const { selectors } = JSON.parse(r.stdout) as { selectors: Record<string, string>[] };
    expect(selectors).toHaveLength(SELECTOR_FORMS.length);
    expect(selectors[0]).toEqual({
      type: 'unix',
      key: 'uid',
      value: '<decimal uid>',
      form: 'unix:uid:<decimal uid>',
      kind: 'workload',
      emittedBy: 'agent workload attestor (SO_PEERCRED when the caller connected)',
      example: 'unix:uid:1000',
    });
    expect(selectors.map((s) => s['type'])).toContain('tessera');
    expect(selectors.find((s) => s['type'] === 'join_token')).toMatchObject({ key: '', kind: 'node' });
  });

  it('is listed in tessera --help', async () => {
    const r = await runTessera(['--help']);
    expect(r.stdout).toMatch(/^ {2}selectors +list the selector types entries may use/m);
  });

  it.each<[string[], RegExp]>([
    [['selectors', '--output', 'yaml'], /^tessera: --output must be "text" or "json", not "yaml"$/m],
    [['selectors', '--type', 'unix'], /unknown option '--type'/],
    [['selectors', 'unix'], /unexpected argument 'unix'|positional/i],
  ])('refuses %j with a usage error (exit 2)', async (args, message) => {
    const r = await runTessera(args);
    expect(r.code).toBe(2);
    expect(r.stdout).toBe('');
    expect(r.stderr).toMatch(message);
  });
});
