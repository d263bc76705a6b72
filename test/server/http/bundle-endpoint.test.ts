import 'reflect-metadata';
import * as https from 'node:https';
import type { TLSSocket } from 'node:tls';
import { afterEach, describe, expect, it } from 'vitest';
import { startBundleEndpoint, type RunningBundleEndpoint } from '../../../src/server/http/bundle-endpoint.js';
import { SpiffeBundle } from '../../../src/spiffe/bundle/index.js';
import { captureLogger } from '../../helpers/log-capture.js';
import { bundleOf, newLeaf, newRootCa, type TestCert } from '../../helpers/test-ca.js';

const TD = 'example.org';

function peerCert(port: number): Promise<{ raw: Buffer; status: number }> {
  return new Promise((resolve, reject) => {
    const req = https.request({ host: '127.0.0.1', port, path: '/', rejectUnauthorized: false, agent: false }, (res) => {
      const raw = (res.socket as TLSSocket).getPeerCertificate().raw;
      res.resume();
      res.on('end', () => resolve({ raw, status: res.statusCode ?? 0 }));
    });
    req.on('error', reject);
    req.end();
  });
}

let endpoint: RunningBundleEndpoint | undefined;
afterEach(async () => {
  await endpoint?.close();
  endpoint = undefined;
});

describe('startBundleEndpoint (https_spiffe)', () => {
  it('presents the rotated server SVID on new connections without a restart', async () => {
    const root = await newRootCa(TD);
    const leaves: TestCert[] = [await newLeaf(root, `spiffe://${TD}/tessera/server`), await newLeaf(root, `spiffe://${TD}/tessera/server`)];
    let current = 0;
    const listeners = new Set<() => void>();
    const bundle = SpiffeBundle.fromBundles({ trustDomain: TD, x509Bundle: bundleOf(TD, root), refreshHintSeconds: 60 });
    endpoint = await startBundleEndpoint({
      host: '127.0.0.1',
      port: 0,
      path: '/',
      bundle: { currentBundle: () => bundle, onBundleChange: () => () => undefined },
      tls: {
        profile: 'https_spiffe',
        identity: {
          currentServerSvid: () => ({ chain: [leaves[current]!.der], privateKey: leaves[current]!.key.privateKey, notAfter: new Date(2040, 0) }),
          onServerSvidChange: (l) => {
            listeners.add(l);
            return () => void listeners.delete(l);
          },
        },
      },
      log: captureLogger().log,
    });
    const first = await peerCert(endpoint.address.port);
    expect(first.status).toBe(200);
    expect(Buffer.compare(first.raw, Buffer.from(leaves[0]!.der))).toBe(0);
    current = 1;
    for (const l of listeners) l();
    const second = await peerCert(endpoint.address.port);
    expect(Buffer.compare(second.raw, Buffer.from(leaves[1]!.der))).toBe(0);
    await endpoint.close();
    expect(listeners.size).toBe(0);
    endpoint = undefined;
  });
});
