import { X509IssueInvalid } from '../errors.js';

const LABEL = /^[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?$/;

/**
 * Checks a DNS SAN (RFC 1035 / RFC 5280 §4.2.1.6 preferred name syntax): dot-separated labels of letters, digits and
 * inner hyphens, 1–63 octets each, 253 in all, no trailing dot. A leading `*.` wildcard label is allowed (RFC 6125
 * §6.4.3), but not a bare `*` or a wildcard elsewhere.
 */
export function validateDnsName(name: string): void {
  if (typeof name !== 'string') throw new TypeError('DNS names must be strings');
  const fail = (why: string): never => {
    throw new X509IssueInvalid('dns-name', `DNS name ${JSON.stringify(name)} is invalid: ${why}`);
  };
  if (name.length === 0) fail('it is empty');
  if (name.length > 253) fail('it is longer than 253 characters');
  const labels = name.split('.');
  if (labels[0] === '*') {
    if (labels.length < 3) fail('a wildcard needs at least two labels after it');
    labels.shift();
  }
  for (const label of labels) {
    if (label.length === 0) fail('it has an empty label');
    if (label.length > 63) fail('a label is longer than 63 characters');
    if (!LABEL.test(label)) fail('labels are limited to letters, digits and inner hyphens');
  }
}
