import { describe, expect, it } from 'vitest';
import * as errors from '../../src/common/errors.js';
import { TesseraError, isTesseraError } from '../../src/common/errors.js';

describe('TesseraError', () => {
  it.each([
    ['invalidArgument', 'INVALID_ARGUMENT'],
    ['notFound', 'NOT_FOUND'],
    ['alreadyExists', 'ALREADY_EXISTS'],
    ['permissionDenied', 'PERMISSION_DENIED'],
    ['failedPrecondition', 'FAILED_PRECONDITION'],
    ['unavailable', 'UNAVAILABLE'],
    ['internal', 'INTERNAL'],
    ['unauthenticated', 'UNAUTHENTICATED'],
    ['resourceExhausted', 'RESOURCE_EXHAUSTED'],
  ] as const)('%s() builds code %s with message and cause', (fn, code) => {
    const cause = new Error('inner');
    const err = errors[fn]('something failed', { cause });
    expect(err).toBeInstanceOf(TesseraError);
    expect(isTesseraError(err)).toBe(true);
    expect(err.code).toBe(code);
    expect(err.message).toBe('something failed');
    expect(err.cause).toBe(cause);
    expect(err.name).toBe('TesseraError');
  });

  it('isTesseraError refuses other errors', () => {
    expect(isTesseraError(new Error('x'))).toBe(false);
    expect(isTesseraError({ code: 'NOT_FOUND', message: 'x' })).toBe(false);
  });
});
