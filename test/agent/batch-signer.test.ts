import { describe, expect, it } from 'vitest';
import { TesseraError, unavailable } from '../../src/common/errors.js';
import { BatchSigner } from '../../src/agent/client/batch-signer.js';
import type { BatchSignX509SvidResponse, X509SvidParams } from '../../src/agent/client/messages.js';

function fakeServer(fail?: (p: X509SvidParams) => { code: number; message: string } | undefined) {
  const calls: X509SvidParams[][] = [];
  const send = async (params: X509SvidParams[]): Promise<BatchSignX509SvidResponse> => {
    calls.push(params);
    return {
      results: params.map((p, i) => {
        const f = fail?.(p);
        if (f) return { svid: null, error_code: f.code, error_message: f.message };
        return {
          svid: { entry_id: p.entry_id, spiffe_id: `spiffe://td/${p.entry_id}`, cert_chain: Buffer.alloc(0), expires_at: 1_900_000_000 + i, serial: `${calls.length}-${i}` },
          error_code: 0,
          error_message: '',
        };
      }),
    };
  };
  return { calls, send };
}

const req = (n: number) => ({ entryId: `e${n}`, publicKey: new Uint8Array([n]), instanceId: 'a'.repeat(32) });

describe('BatchSigner', () => {
  it('coalesces requests arriving within the window into one call, in order', async () => {
    const server = fakeServer();
    const signer = new BatchSigner({ send: server.send, delayMs: 5 });
    const results = await Promise.all(Array.from({ length: 100 }, (_, i) => signer.sign(req(i))));
    expect(server.calls).toHaveLength(1);
    expect(server.calls[0]!.map((p) => p.entry_id)).toEqual(Array.from({ length: 100 }, (_, i) => `e${i}`));
    expect(results.map((r) => r.entryId)).toEqual(Array.from({ length: 100 }, (_, i) => `e${i}`));
    expect(results[3]!.notAfter.getTime()).toBe((1_900_000_000 + 3) * 1000);
  });

  it('sends at most maxItems per call', async () => {
    const server = fakeServer();
    const signer = new BatchSigner({ send: server.send, delayMs: 5, maxItems: 500 });
    await Promise.all(Array.from({ length: 1_201 }, (_, i) => signer.sign(req(i))));
    expect(server.calls.map((c) => c.length)).toEqual([500, 500, 201]);
  });

  it('rejects only the failed item with the server code; a failed call rejects its whole batch', async () => {
    const server = fakeServer((p) => (p.entry_id === 'e1' ? { code: 7, message: 'entry not authorized' } : undefined));
    const signer = new BatchSigner({ send: server.send, delayMs: 1 });
    const [ok, bad] = await Promise.allSettled([signer.sign(req(0)), signer.sign(req(1))]);
    expect(ok.status).toBe('fulfilled');
    expect(bad.status === 'rejected' && (bad.reason as TesseraError).code).toBe('PERMISSION_DENIED');

    const down = new BatchSigner({ send: () => Promise.reject(unavailable('down')), delayMs: 1 });
    const outcomes = await Promise.allSettled([down.sign(req(0)), down.sign(req(1))]);
    expect(outcomes.map((o) => o.status === 'rejected' && (o.reason as TesseraError).code)).toEqual(['UNAVAILABLE', 'UNAVAILABLE']);
  });
});
