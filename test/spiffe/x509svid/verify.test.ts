import 'reflect-metadata';
import { beforeAll, describe, expect, it } from 'vitest';
import * as px from '@peculiar/x509';
import { X509Bundle } from '../../../src/spiffe/bundle/x509-bundle.js';
import type { X509BundleSource } from '../../../src/spiffe/bundle/source.js';
import { BundleNotFound } from '../../../src/spiffe/errors.js';
import { TrustDomain } from '../../../src/spiffe/id/index.js';
import { verifyX509Svid } from '../../../src/spiffe/x509svid/index.js';
import {
  bundleOf,
  CA_KU,
  generateTestKey,
  KU,
  mintCertificate,
  newIntermediateCa,
  newLeaf,
  newRootCa,
  type TestCert,
} from '../../helpers/test-ca.js';
import { BAD_LEAVES, mintBadLeaf } from './bad-leaves.js';

const NOW = new Date('2030-06-01T00:00:00Z');
const ID = 'spiffe://example.org/workload';

function expectError(fn: () => unknown, code: string, rule?: string): void {
  let caught: unknown;
  try {
    fn();
  } catch (err) {
    caught = err;
  }
  expect(caught, 'expected an error').toBeInstanceOf(Error);
  expect((caught as { code?: string }).code).toBe(code);
  if (rule) expect((caught as { rule?: string }).rule).toBe(rule);
}

/** A source that serves several bundles by trust domain (the "bundle set" shape). */
function sourceOf(...bundles: X509Bundle[]): X509BundleSource {
  return {
    getX509BundleForTrustDomain(td: TrustDomain): X509Bundle {
      const b = bundles.find((x) => x.trustDomain.equals(td));
      if (!b) throw new BundleNotFound('x509-trust-domain', `no X.509 bundle for ${td.name}`);
      return b;
    },
  };
}

describe('verifyX509Svid', () => {
  let root: TestCert;
  let inter: TestCert;
  let leaf: TestCert;
  let bundle: X509Bundle;

  beforeAll(async () => {
    root = await newRootCa('example.org');
    inter = await newIntermediateCa(root);
    leaf = await newLeaf(inter, ID);
    bundle = bundleOf('example.org', root);
  });

  describe('accepts', () => {
    it('leaf + intermediate up to a bundle root, returning leaf..root', () => {
      const res = verifyX509Svid([leaf.der, inter.der], bundle, { now: NOW });
      expect(res.spiffeId.toString()).toBe(ID);
      expect(res.chain).toEqual([leaf.der, inter.der, root.der]);
    });

    it('a leaf issued directly by the root', async () => {
      const direct = await newLeaf(root, ID);
      expect(verifyX509Svid([direct.der], bundle, { now: NOW }).chain).toEqual([direct.der, root.der]);
    });

    it('a chain that includes the root, or extra unrelated certificates in any order', async () => {
      const stranger = await newRootCa('other.org');
      expect(verifyX509Svid([leaf.der, inter.der, root.der], bundle, { now: NOW }).chain.length).toBe(3);
      expect(verifyX509Svid([leaf.der, stranger.der, inter.der], bundle, { now: NOW }).chain.length).toBe(3);
    });

    it('the right root among rotated roots with the same subject', async () => {
      const older = await mintCertificate({ subject: root.cert.subject, ca: true, keyUsage: CA_KU });
      const both = bundleOf('example.org', older, root);
      expect(verifyX509Svid([leaf.der, inter.der], both, { now: NOW }).chain[2]).toEqual(root.der);
    });

    it('issuers without a key usage extension (RFC 5280: only CA:true is required then)', async () => {
      const r = await newRootCa('example.org', { keyUsage: undefined });
      const l = await newLeaf(r, ID);
      expect(verifyX509Svid([l.der], bundleOf('example.org', r), { now: NOW }).spiffeId.toString()).toBe(ID);
    });

    it('at the exact edges of the validity periods', () => {
      const nb = leaf.cert.notBefore;
      const na = leaf.cert.notAfter;
      expect(verifyX509Svid([leaf.der, inter.der], bundle, { now: nb }).chain.length).toBe(3);
      expect(verifyX509Svid([leaf.der, inter.der], bundle, { now: na }).chain.length).toBe(3);
    });

    it('RSA and Ed25519 issuers', async () => {
      for (const kind of ['RSA-2048', 'Ed25519'] as const) {
        const r = await newRootCa('example.org', { key: await generateTestKey(kind) });
        const l = await newLeaf(r, ID, { key: await generateTestKey(kind) });
        expect(verifyX509Svid([l.der], bundleOf('example.org', r), { now: NOW }).chain.length).toBe(2);
      }
    });

    it('a leaf inside the issuer URI name constraints', async () => {
      const nc = await constrainedRoot(['example.org']);
      const l = await newLeaf(nc, ID);
      expect(verifyX509Svid([l.der], bundleOf('example.org', nc), { now: NOW }).chain.length).toBe(2);
    });
  });

  describe('refuses each leaf rule', () => {
    for (const c of BAD_LEAVES) {
      it(c.name, async () => {
        const bad = await mintBadLeaf(inter, c);
        expectError(() => verifyX509Svid([bad.der, inter.der], bundle, { now: NOW }), c.code, c.rule);
      });
    }
  });

  describe('refuses', () => {
    it('an empty chain', () => {
      expectError(() => verifyX509Svid([], bundle, { now: NOW }), 'ERR_X509_SVID_INVALID', 'empty-chain');
    });

    it('a chain with bytes that are not a certificate', () => {
      expectError(
        () => verifyX509Svid([leaf.der, new Uint8Array([0x30, 0x03, 1, 2, 3])], bundle, { now: NOW }),
        'ERR_X509_SVID_INVALID',
        'malformed-certificate',
      );
    });

    it('an intermediate with CA:false', async () => {
      const i = await newIntermediateCa(root, 'example.org', { ca: false });
      const l = await newLeaf(i, ID);
      expectError(() => verifyX509Svid([l.der, i.der], bundle, { now: NOW }), 'ERR_X509_SVID_INVALID', 'signing-not-ca');
    });

    it('an intermediate without basicConstraints', async () => {
      const i = await newIntermediateCa(root, 'example.org', { ca: undefined });
      const l = await newLeaf(i, ID);
      expectError(() => verifyX509Svid([l.der, i.der], bundle, { now: NOW }), 'ERR_X509_SVID_INVALID', 'signing-not-ca');
    });

    it('an intermediate without keyCertSign', async () => {
      const i = await newIntermediateCa(root, 'example.org', { keyUsage: KU.cRLSign | KU.digitalSignature });
      const l = await newLeaf(i, ID);
      expectError(
        () => verifyX509Svid([l.der, i.der], bundle, { now: NOW }),
        'ERR_X509_SVID_INVALID',
        'signing-key-cert-sign',
      );
    });

    it('a root (bundle authority) with CA:false', async () => {
      const r = await newRootCa('example.org', { ca: false });
      const l = await newLeaf(r, ID);
      expectError(() => verifyX509Svid([l.der], bundleOf('example.org', r), { now: NOW }), 'ERR_X509_SVID_INVALID', 'signing-not-ca');
    });

    it('an expired or not yet valid leaf', () => {
      const after = new Date(leaf.cert.notAfter.getTime() + 1000);
      const before = new Date(leaf.cert.notBefore.getTime() - 1000);
      expectError(() => verifyX509Svid([leaf.der, inter.der], bundle, { now: after }), 'ERR_X509_SVID_EXPIRED', 'expired');
      expectError(
        () => verifyX509Svid([leaf.der, inter.der], bundle, { now: before }),
        'ERR_X509_SVID_EXPIRED',
        'not-yet-valid',
      );
    });

    it('an expired intermediate and an expired root', async () => {
      const shortInter = await newIntermediateCa(root, 'example.org', { notAfter: new Date('2030-01-01T00:00:00Z') });
      const l1 = await newLeaf(shortInter, ID);
      expectError(() => verifyX509Svid([l1.der, shortInter.der], bundle, { now: NOW }), 'ERR_X509_SVID_EXPIRED', 'expired');
      const shortRoot = await newRootCa('example.org', { notAfter: new Date('2030-01-01T00:00:00Z') });
      const l2 = await newLeaf(shortRoot, ID);
      expectError(
        () => verifyX509Svid([l2.der], bundleOf('example.org', shortRoot), { now: NOW }),
        'ERR_X509_SVID_EXPIRED',
        'expired',
      );
    });

    it('when there is no bundle for the leaf trust domain', () => {
      const other = bundleOf('other.org', root);
      expectError(() => verifyX509Svid([leaf.der, inter.der], other, { now: NOW }), 'ERR_BUNDLE_NOT_FOUND');
    });

    it('a root of another trust domain even when the source holds it (bundles are never pooled)', async () => {
      const foreignRoot = await newRootCa('other.org');
      const l = await newLeaf(foreignRoot, ID);
      const source = sourceOf(bundleOf('example.org', root), bundleOf('other.org', foreignRoot));
      expectError(() => verifyX509Svid([l.der], source, { now: NOW }), 'ERR_X509_SVID_UNTRUSTED', 'unknown-authority');
    });

    it('an unknown root', async () => {
      const stranger = await newRootCa('example.org');
      expectError(
        () => verifyX509Svid([leaf.der, inter.der], bundleOf('example.org', stranger), { now: NOW }),
        'ERR_X509_SVID_UNTRUSTED',
        'unknown-authority',
      );
    });

    it('an empty bundle', () => {
      expectError(
        () => verifyX509Svid([leaf.der, inter.der], new X509Bundle(TrustDomain.parse('example.org')), { now: NOW }),
        'ERR_X509_SVID_UNTRUSTED',
      );
    });

    it('a missing intermediate', () => {
      expectError(() => verifyX509Svid([leaf.der], bundle, { now: NOW }), 'ERR_X509_SVID_UNTRUSTED', 'unknown-authority');
    });

    it('a leaf signed by a different key under the same issuer name', async () => {
      const forged = await newLeaf(inter, ID, { signWith: await generateTestKey('P-256') });
      expectError(
        () => verifyX509Svid([forged.der, inter.der], bundle, { now: NOW }),
        'ERR_X509_SVID_UNTRUSTED',
        'unknown-authority',
      );
      const forgedRoot = await mintCertificate({ subject: root.cert.subject, ca: true, keyUsage: CA_KU });
      const l = await newLeaf(forgedRoot, ID);
      expectError(() => verifyX509Svid([l.der, forgedRoot.der], bundle, { now: NOW }), 'ERR_X509_SVID_UNTRUSTED');
    });

    it('unknown critical extensions in the leaf or an intermediate', async () => {
      const weird = new px.Extension('1.3.6.1.4.1.99999.1', true, new Uint8Array([0x05, 0x00]));
      const l = await newLeaf(inter, ID, { extensions: [weird] });
      expectError(
        () => verifyX509Svid([l.der, inter.der], bundle, { now: NOW }),
        'ERR_X509_SVID_INVALID',
        'unhandled-critical-extension',
      );
      const i = await newIntermediateCa(root, 'example.org', { extensions: [weird] });
      const l2 = await newLeaf(i, ID);
      expectError(
        () => verifyX509Svid([l2.der, i.der], bundle, { now: NOW }),
        'ERR_X509_SVID_INVALID',
        'unhandled-critical-extension',
      );
      // The same extension, not critical, is fine.
      const mild = new px.Extension('1.3.6.1.4.1.99999.1', false, new Uint8Array([0x05, 0x00]));
      const l3 = await newLeaf(inter, ID, { extensions: [mild] });
      expect(verifyX509Svid([l3.der, inter.der], bundle, { now: NOW }).chain.length).toBe(3);
    });

    it('a chain longer than a pathLenConstraint allows', async () => {
      const r = await newRootCa('example.org', { pathLen: 0 });
      const i = await newIntermediateCa(r);
      const l = await newLeaf(i, ID);
      expectError(
        () => verifyX509Svid([l.der, i.der], bundleOf('example.org', r), { now: NOW }),
        'ERR_X509_SVID_INVALID',
        'path-len-exceeded',
      );
      const r1 = await newRootCa('example.org', { pathLen: 1 });
      const i1 = await newIntermediateCa(r1);
      const l1 = await newLeaf(i1, ID);
      expect(verifyX509Svid([l1.der, i1.der], bundleOf('example.org', r1), { now: NOW }).chain.length).toBe(3);
    });

    it('a leaf outside the issuer URI name constraints', async () => {
      const nc = await constrainedRoot(['other.org']);
      const l = await newLeaf(nc, ID);
      expectError(
        () => verifyX509Svid([l.der], bundleOf('example.org', nc), { now: NOW }),
        'ERR_X509_SVID_INVALID',
        'name-constraints',
      );
    });

    it('a missing source or time as programmer errors', () => {
      expect(() => verifyX509Svid([leaf.der], undefined as unknown as X509BundleSource, { now: NOW })).toThrow(TypeError);
      expect(() => verifyX509Svid([leaf.der], bundle, { now: new Date(Number.NaN) })).toThrow(TypeError);
    });
  });

  it('refuses an SVID presented with 7 mutually-issuing intermediates as untrusted', async () => {
    // Issue 10 item 8: one name and key on 7 CA certificates; the old search tried their orderings (~1.8 s of CPU).
    const root = await newRootCa();
    const loopKey = await generateTestKey('P-256');
    const loop: TestCert[] = [];
    for (let i = 0; i < 7; i++) {
      loop.push(await mintCertificate({ subject: 'CN=Loop', key: loopKey, ca: true, keyUsage: CA_KU, uris: ['spiffe://example.org'] }));
    }
    const leaf = await newLeaf(loop[0]!, ID);
    expectError(
      () => verifyX509Svid([leaf.der, ...loop.map((c) => c.der)], bundleOf('example.org', root), { now: NOW }),
      'ERR_X509_SVID_UNTRUSTED',
      'unknown-authority',
    );
  });
});

/** A root with a critical nameConstraints extension permitting URIs of the given hosts. */
async function constrainedRoot(hosts: string[]): Promise<TestCert> {
  const { AsnConvert } = await import('@peculiar/asn1-schema');
  const asn = await import('@peculiar/asn1-x509');
  const value = AsnConvert.serialize(
    new asn.NameConstraints({
      permittedSubtrees: new asn.GeneralSubtrees(
        hosts.map((h) => new asn.GeneralSubtree({ base: new asn.GeneralName({ uniformResourceIdentifier: h }) })),
      ),
    }),
  );
  return newRootCa('example.org', { extensions: [new px.Extension('2.5.29.30', true, value)] });
}
