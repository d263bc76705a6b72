import { describe, expect, it } from 'vitest';
import { encodeTime, lengthBytes, sequence, unsignedInteger } from '../../../src/spiffe/x509svid/der.js';
import { readTlv, splitDer } from '../../../src/spiffe/x509svid/der-reader.js';

const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');

describe('DER writer', () => {
  it('encodes definite lengths minimally', () => {
    expect([0, 127, 128, 255, 256, 65535, 65536].map((n) => hex(lengthBytes(n)))).toEqual([
      '00',
      '7f',
      '8180',
      '81ff',
      '820100',
      '82ffff',
      '83010000',
    ]);
  });

  it('wraps contents of any size', () => {
    for (const n of [0, 1, 127, 128, 300, 70_000]) {
      const der = sequence(new Uint8Array(n));
      const t = readTlv(der, 0);
      expect([t.tag, t.end - t.start, t.end]).toEqual([0x30, n, der.length]);
    }
  });

  it('encodes unsigned integers positive and minimal', () => {
    const cases: [string, string][] = [
      ['', '020100'],
      ['00', '020100'],
      ['0000', '020100'],
      ['01', '020101'],
      ['7f', '02017f'],
      ['80', '02020080'],
      ['0080', '02020080'],
      ['000001', '020101'],
      ['ff00', '020300ff00'],
    ];
    for (const [input, out] of cases) expect(hex(unsignedInteger(Buffer.from(input, 'hex'))), input).toBe(out);
  });

  it('encodes UTCTime for 1950–2049 and GeneralizedTime outside', () => {
    const ascii = (b: Uint8Array): string => Buffer.from(b.subarray(2)).toString('latin1');
    const t = (iso: string): [number, string] => {
      const der = encodeTime(new Date(iso));
      return [der[0]!, ascii(der)];
    };
    expect(t('1950-01-01T00:00:00Z')).toEqual([0x17, '500101000000Z']);
    expect(t('1949-12-31T23:59:59Z')).toEqual([0x18, '19491231235959Z']);
    expect(t('2049-12-31T23:59:59.999Z')).toEqual([0x17, '491231235959Z']);
    expect(t('2050-01-01T00:00:00Z')).toEqual([0x18, '20500101000000Z']);
    expect(t('9999-12-31T23:59:59Z')).toEqual([0x18, '99991231235959Z']);
  });
});

describe('DER reader', () => {
  it('splits concatenated elements', () => {
    const a = sequence(new Uint8Array(3));
    const b = sequence(new Uint8Array(200));
    expect(splitDer(Buffer.concat([a, b])).map((x) => x.length)).toEqual([a.length, b.length]);
    expect(splitDer(new Uint8Array())).toEqual([]);
  });

  it('refuses truncated, indefinite and non-minimal lengths', () => {
    for (const bad of ['30', '3005000000', '3080', '30810100', '3082000100', '1f0100']) {
      expect(() => splitDer(Buffer.from(bad, 'hex')), bad).toThrow(RangeError);
    }
  });
});
