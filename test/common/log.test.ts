import { describe, expect, it } from 'vitest';
import { REDACTED_KEYS } from '../../src/common/log.js';
import { captureLogger } from '../helpers/log-capture.js';

describe('createLogger', () => {
  it('writes JSON lines with name, level and message', () => {
    const { log, lines } = captureLogger('info');
    log.info({ entryId: 'e1' }, 'Entry created');
    log.debug('Not shown');
    expect(lines()).toHaveLength(1);
    expect(lines()[0]).toMatchObject({ name: 'test', level: 30, msg: 'Entry created', entryId: 'e1' });
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
});
