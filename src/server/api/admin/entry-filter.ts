import { invalidArgument } from '../../../common/errors.js';
import { isSpiffeError } from '../../../spiffe/errors.js';
import { SpiffeId, TrustDomain } from '../../../spiffe/id/index.js';
import type { EntryFilter, Selector, SelectorMatch } from '../../datastore/index.js';
import { MAX_SELECTOR_VALUE_BYTES, MAX_SELECTORS, parseIdFilter } from '../../entries/validate.js';

/** The filter fields ListEntries and CountEntries share (proto tessera.admin.v1.ListEntriesRequest). */
export interface RawEntryFilter {
  spiffe_id?: unknown;
  parent_id?: unknown;
  spiffe_id_prefix?: unknown;
  selectors?: unknown;
  selector_match?: unknown;
  federates_with?: unknown;
  hint?: unknown;
}

const MATCHES: Record<string, SelectorMatch> = {
  SELECTOR_MATCH_UNSPECIFIED: 'superset',
  SELECTOR_MATCH_EXACT: 'exact',
  SELECTOR_MATCH_SUBSET: 'subset',
  SELECTOR_MATCH_SUPERSET: 'superset',
  SELECTOR_MATCH_ANY: 'any',
};

/** At most this many trust domains in a federates_with filter. */
const MAX_FEDERATES_WITH_FILTER = 64;
const MAX_FILTER_TEXT_BYTES = 2048;
const q = JSON.stringify;

/** Checks every filter field and returns the datastore filter; INVALID_ARGUMENT naming the field otherwise. */
export function parseEntryFilter(req: RawEntryFilter): EntryFilter {
  const filter: EntryFilter = {};
  const spiffeId = parseIdFilter('spiffe_id', req.spiffe_id);
  if (spiffeId !== undefined) filter.spiffeId = spiffeId;
  const parentId = parseIdFilter('parent_id', req.parent_id);
  if (parentId !== undefined) filter.parentId = parentId;
  const prefix = parsePrefix(req.spiffe_id_prefix);
  if (prefix !== undefined) filter.spiffeIdPrefix = prefix;
  const selectors = parseSelectorFilter(req.selectors, req.selector_match);
  if (selectors !== undefined) filter.selectors = selectors;
  const federatesWith = parseTrustDomains(req.federates_with);
  if (federatesWith.length > 0) filter.federatesWith = federatesWith;
  if (req.hint !== undefined && req.hint !== '') {
    if (typeof req.hint !== 'string') throw invalidArgument('hint must be a string');
    checkLength('hint', req.hint);
    filter.hint = req.hint;
  }
  return filter;
}

/** "spiffe://<td>/<path start>": a trust domain, then any text a SPIFFE ID path may start with. */
function parsePrefix(value: unknown): string | undefined {
  if (value === undefined || value === '') return undefined;
  if (typeof value !== 'string') throw invalidArgument('spiffe_id_prefix must be a string');
  checkLength('spiffe_id_prefix', value);
  // A prefix is a SPIFFE ID once a trailing "/" is dropped ("spiffe://acme.test/" -> the trust domain's ID).
  const asId = value.endsWith('/') ? value.slice(0, -1) : value;
  try {
    SpiffeId.parse(asId);
  } catch (err) {
    if (!isSpiffeError(err)) throw err;
    throw invalidArgument(
      `spiffe_id_prefix ${q(value)} is not the start of a SPIFFE ID ("spiffe://<trust domain>/<path>"): ${err.message}`,
    );
  }
  return value;
}

function parseSelectorFilter(value: unknown, match: unknown): EntryFilter['selectors'] {
  const list = value === undefined ? [] : value;
  if (!Array.isArray(list)) throw invalidArgument('selectors must be a list');
  const mode = match === undefined || match === '' || match === 0 ? 'SELECTOR_MATCH_UNSPECIFIED' : match;
  if (typeof mode !== 'string' || !Object.hasOwn(MATCHES, mode)) {
    throw invalidArgument(`selector_match ${q(mode)} is not one of ${Object.keys(MATCHES).join(', ')}`);
  }
  if (list.length === 0) {
    if (mode !== 'SELECTOR_MATCH_UNSPECIFIED') throw invalidArgument('selector_match is set but no selectors are given');
    return undefined;
  }
  if (list.length > MAX_SELECTORS) {
    throw invalidArgument(`selectors holds ${list.length} selectors; at most ${MAX_SELECTORS} are allowed`);
  }
  const selectors = list.map((raw: unknown, i): Selector => {
    const field = `selectors[${i}]`;
    if (raw === null || typeof raw !== 'object') throw invalidArgument(`${field} must be a selector {type, value}`);
    const { type, value: v } = raw as { type?: unknown; value?: unknown };
    if (typeof type !== 'string' || type === '') throw invalidArgument(`${field} has no type`);
    if (typeof v !== 'string' || v === '') throw invalidArgument(`${field} ${q(type + ':')} has an empty value`);
    if (Buffer.byteLength(v, 'utf8') > MAX_SELECTOR_VALUE_BYTES) {
      throw invalidArgument(`${field} value is longer than ${MAX_SELECTOR_VALUE_BYTES} bytes`);
    }
    return { type, value: v };
  });
  return { list: selectors, match: MATCHES[mode]! };
}

function parseTrustDomains(value: unknown): string[] {
  if (value === undefined) return [];
  if (!Array.isArray(value)) throw invalidArgument('federates_with must be a list');
  if (value.length > MAX_FEDERATES_WITH_FILTER) {
    throw invalidArgument(`federates_with holds ${value.length} trust domains; at most ${MAX_FEDERATES_WITH_FILTER}`);
  }
  return value.map((text: unknown, i) => {
    const field = `federates_with[${i}]`;
    if (typeof text !== 'string') throw invalidArgument(`${field} must be a string`);
    try {
      return TrustDomain.parse(text).name;
    } catch (err) {
      if (isSpiffeError(err)) throw invalidArgument(`${field} ${q(text)} is not a valid trust domain: ${err.message}`);
      throw err;
    }
  });
}

function checkLength(field: string, value: string): void {
  const bytes = Buffer.byteLength(value, 'utf8');
  if (bytes > MAX_FILTER_TEXT_BYTES) {
    throw invalidArgument(`${field} is ${bytes} bytes long; at most ${MAX_FILTER_TEXT_BYTES} are allowed`);
  }
}
