import { status } from '@grpc/grpc-js';
import { describe, expect, it } from 'vitest';
import { TesseraError, type TesseraErrorCode } from '../../../src/common/errors.js';
import { INTERNAL_DETAILS, toStatus } from '../../../src/common/grpc/status.js';
import {
  BundleNotFound,
  JwtSvidExpired,
  JwtSvidUntrusted,
  SpiffeIdInvalid,
  TrustDomainInvalid,
  X509SvidInvalid,
  X509SvidUntrusted,
  type SpiffeError,
} from '../../../src/spiffe/errors.js';
import { captureLogger } from '../../helpers/log-capture.js';

describe('toStatus', () => {
  it.each([
    ['INVALID_ARGUMENT', status.INVALID_ARGUMENT],
    ['NOT_FOUND', status.NOT_FOUND],
    ['ALREADY_EXISTS', status.ALREADY_EXISTS],
    ['PERMISSION_DENIED', status.PERMISSION_DENIED],
    ['FAILED_PRECONDITION', status.FAILED_PRECONDITION],
    ['UNAVAILABLE', status.UNAVAILABLE],
    ['UNAUTHENTICATED', status.UNAUTHENTICATED],
    ['RESOURCE_EXHAUSTED', status.RESOURCE_EXHAUSTED],
  ] as [TesseraErrorCode, status][])('maps TesseraError %s to its status with the message', (code, expected) => {
    expect(toStatus(new TesseraError(code, 'entry "x" is wrong'))).toEqual({
      code: expected,
      details: 'entry "x" is wrong',
    });
  });

  it.each([
    [new SpiffeIdInvalid('empty', 'spiffe id cannot be empty'), status.INVALID_ARGUMENT],
    [new TrustDomainInvalid('charset', 'trust domain characters are limited'), status.INVALID_ARGUMENT],
    [new X509SvidInvalid('leaf-ca', 'leaf certificate must not be a ca'), status.INVALID_ARGUMENT],
    [new JwtSvidExpired('exp', 'token has expired'), status.INVALID_ARGUMENT],
    [new BundleNotFound('missing', 'no bundle for trust domain "a.test"'), status.NOT_FOUND],
    [new X509SvidUntrusted('chain', 'certificate does not chain to the bundle'), status.PERMISSION_DENIED],
    [new JwtSvidUntrusted('kid', 'no key with that kid'), status.PERMISSION_DENIED],
  ] as [SpiffeError, status][])('maps SpiffeError %s', (err, expected) => {
    expect(toStatus(err)).toEqual({ code: expected, details: err.message });
  });

  it('hides anything else behind a generic internal error, and logs the real one', () => {
    const { log, lines } = captureLogger();
    const result = toStatus(new Error('SQLITE_CORRUPT: database disk image is malformed at /var/lib/x'), log);
    expect(result).toEqual({ code: status.INTERNAL, details: INTERNAL_DETAILS });
    const [line] = lines();
    expect(line?.['level']).toBe('error');
    expect(line?.['msg']).toBe('Internal error');
    expect(JSON.stringify(line)).toContain('SQLITE_CORRUPT');
  });

  it.each([undefined, null, 'a string', 42, { code: 5, details: 'looks like a status' }])(
    'maps non-errors (%s) to internal',
    (thrown) => {
      expect(toStatus(thrown)).toEqual({ code: status.INTERNAL, details: INTERNAL_DETAILS });
    },
  );

  it('does not return the message of an INTERNAL TesseraError', () => {
    const { log, lines } = captureLogger();
    expect(toStatus(new TesseraError('INTERNAL', 'datastore failure: disk I/O error'), log)).toEqual({
      code: status.INTERNAL,
      details: INTERNAL_DETAILS,
    });
    expect(JSON.stringify(lines())).toContain('disk I/O error');
  });

  it('never logs NotFound and never returns its cause', () => {
    const { log, lines } = captureLogger();
    const err = new TesseraError('NOT_FOUND', 'entry not found', { cause: new Error('row 17 missing in entries') });
    expect(toStatus(err, log)).toEqual({ code: status.NOT_FOUND, details: 'entry not found' });
    expect(lines()).toEqual([]);
  });

  it('logs refusals as a capitalized sentence with the code', () => {
    const { log, lines } = captureLogger();
    toStatus(new TesseraError('PERMISSION_DENIED', 'agent "spiffe://a.test/x" is banned'), log);
    const [line] = lines();
    expect(line?.['msg']).toBe('Request refused');
    expect(line?.['code']).toBe('PERMISSION_DENIED');
  });

  it('logs an expected refusal at info with its reason and no stack trace', () => {
    const { log, lines } = captureLogger();
    toStatus(new TesseraError('PERMISSION_DENIED', 'no identity issued', { cause: new Error('inner detail') }), log);
    toStatus(new TesseraError('UNAUTHENTICATED', 'no client certificate'), log);
    expect(lines().map((l) => [l['level'], l['reason']])).toEqual([
      ['info', 'no identity issued'],
      ['info', 'no client certificate'],
    ]);
    const text = JSON.stringify(lines());
    expect(text).not.toContain('stack');
    expect(text).not.toContain('inner detail');
  });

  it('returns lowercase messages for the errors it is given', () => {
    expect(toStatus(new TesseraError('INVALID_ARGUMENT', 'limit must be an integer')).details).toMatch(/^[a-z]/);
  });
});
