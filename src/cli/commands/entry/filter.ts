import type { Flags, OptionSpec } from '../../admin-command.js';
import { UsageError } from '../../command.js';
import { parseSelector } from './shared.js';

/** The filters `entry list` and `entry count` share; the server checks the values (ListEntriesRequest). */
export const ENTRY_FILTER_OPTIONS: Readonly<Record<string, OptionSpec>> = {
  'spiffe-id': { type: 'string', value: 'ID', description: 'only entries issuing this SPIFFE ID' },
  'spiffe-id-prefix': {
    type: 'string',
    value: 'PREFIX',
    description: 'only entries whose SPIFFE ID starts with this (e.g. spiffe://acme.test/agents/)',
  },
  'parent-id': { type: 'string', value: 'ID', description: 'only entries under this parent' },
  selector: {
    type: 'string',
    multiple: true,
    value: 'TYPE:VALUE',
    description: 'only entries whose selectors relate to these as --match-selectors-on says',
  },
  'match-selectors-on': {
    type: 'string',
    value: 'MODE',
    description:
      'with --selector: superset (default: the entry has all of them), exact, subset (all of the entry\'s are ' +
      'among them: what a workload showing them matches) or any (at least one)',
  },
  'federates-with': {
    type: 'string',
    multiple: true,
    value: 'TRUST_DOMAIN',
    description: 'only entries federating with this trust domain',
  },
  hint: { type: 'string', value: 'HINT', description: 'only entries with this hint' },
};

const MODES = ['exact', 'subset', 'superset', 'any'] as const;

/** The request fields of the filter options given (none: every entry). */
export function entryFilterFromFlags(flags: Flags): Record<string, unknown> {
  const request: Record<string, unknown> = {};
  const text = (flag: string, field: string) => {
    const v = flags.string(flag);
    if (v === undefined) return;
    if (v === '') throw new UsageError(`--${flag} must not be empty`);
    request[field] = v;
  };
  text('spiffe-id', 'spiffe_id');
  text('spiffe-id-prefix', 'spiffe_id_prefix');
  text('parent-id', 'parent_id');
  text('hint', 'hint');
  const selectors = flags.strings('selector').map((s) => parseSelector(s));
  const mode = flags.string('match-selectors-on');
  if (mode !== undefined) {
    if (!(MODES as readonly string[]).includes(mode)) {
      throw new UsageError(`--match-selectors-on must be one of ${MODES.join(', ')}, not ${JSON.stringify(mode)}`);
    }
    if (selectors.length === 0) throw new UsageError('--match-selectors-on needs at least one --selector');
    request['selector_match'] = `SELECTOR_MATCH_${mode.toUpperCase()}`;
  }
  if (selectors.length > 0) request['selectors'] = selectors;
  const federatesWith = flags.strings('federates-with');
  if (federatesWith.some((td) => td === '')) throw new UsageError('--federates-with must not be empty');
  if (federatesWith.length > 0) request['federates_with'] = federatesWith;
  return request;
}
