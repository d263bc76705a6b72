import { describe, expect, it } from 'vitest';
import { createLogger, REDACTED_KEYS } from '../../src/common/log.js';
import { duplicateKeys } from '../helpers/json-lines.js';
import { captureLogger } from '../helpers/log-capture.js';

describe('createLogger', () => {
  it('writes JSON lines with name, level and message', () => {
    const { log, lines } = captureLogger('info');
    log.info({ entryId: 'e1' }, 'Entry created');
    log.debug('Not shown');
    expect(lines()).toHaveLength(1);
    expect(lines()[0]).toMatchObject({ name: 'test', level: 'info', msg: 'Entry created', entryId: 'e1' });
  });

  it('redacts secret keys at the top level and nested', () => {
    const { log, lines } = captureLogger();
    const secrets = {
      privateKey: 'PK-SECRET',
      key: 'KEY-SECRET',
      token: 'TOKEN-SECRET',
      joinToken: 'JOIN-SECRET',
      jwt: 'JWT-SECRET',
      svid_key: 'SVIDKEY-SECRET',
      password: 'PASSWORD-SECRET',
      authorization: 'Bearer AUTH-SECRET',
    };
    log.info(
      {
        ...secrets,
        request: { ...secrets },
        call: { metadata: { authorization: 'Bearer DEEP-SECRET', token: 'DEEP-TOKEN' } },
        spiffeId: 'spiffe://acme.test/keep-me',
      },
      'Call',
    );
    const text = JSON.stringify(lines());
    expect(text).not.toMatch(/SECRET|DEEP-TOKEN/);
    const [line] = lines();
    for (const key of Object.keys(secrets)) {
      expect(line?.[key], key).toBe('[Redacted]');
      expect((line?.['request'] as Record<string, unknown>)[key], `request.${key}`).toBe('[Redacted]');
    }
    expect(line?.['spiffeId']).toBe('spiffe://acme.test/keep-me');
  });

  it('lists the keys from the brief', () => {
    for (const key of ['privateKey', 'key', 'token', 'joinToken', 'jwt', 'svid_key', 'password', 'authorization']) {
      expect(REDACTED_KEYS).toContain(key);
    }
  });

  it('serializes errors with their message', () => {
    const { log, lines } = captureLogger();
    log.error({ err: new Error('boom') }, 'Failed');
    expect(lines()[0]).toMatchObject({ err: { message: 'boom', type: 'Error' } });
  });

  it('serializes the cause chain of an error', () => {
    const { log, lines } = captureLogger();
    const root = new Error('connect ECONNREFUSED');
    log.error({ err: new Error('upstream unreachable', { cause: new Error('fetch failed', { cause: root }) }) }, 'Failed');
    const err = lines()[0]?.['err'] as { message: string; cause?: { message: string; cause?: { message: string } } };
    expect(err.message).toContain('upstream unreachable');
    expect(err.cause?.message).toBe('fetch failed');
    expect(err.cause?.cause?.message).toBe('connect ECONNREFUSED');
  });

  it('finds a repeated key, which JSON.parse would hide', () => {
    expect(duplicateKeys('{"pid":1,"a":{"b":[{"c":1,"c":2}]},"pid":2}')).toEqual(['a.b.[].c', 'pid']);
    expect(duplicateKeys('{"a":"x\\",\"a\":1","b":{"a":1}}')).toEqual([]);
  });

  it('writes each key once: no base pid beside a logged pid, levels as strings', () => {
    const raw: string[] = [];
    const log = createLogger({ name: 'dup', destination: { write: (s: string) => void raw.push(s) } });
    log.child({ component: 'workload-api' }).info({ pid: 4242 }, 'Workload refused');
    expect(raw).toHaveLength(1);
    expect(duplicateKeys(raw[0]!)).toEqual([]);
    expect(JSON.parse(raw[0]!)).toMatchObject({ level: 'info', pid: 4242, component: 'workload-api', name: 'dup' });
  });
});

