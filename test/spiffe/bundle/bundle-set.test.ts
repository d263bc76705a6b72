import { generateKeyPairSync } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { BundleSet, JwtBundle, SpiffeBundle, X509Bundle } from '../../../src/spiffe/bundle/index.js';
import { TrustDomain } from '../../../src/spiffe/id/index.js';
import { vector } from './vectors.js';

const a = TrustDomain.parse('a.test');
const b = TrustDomain.parse('b.test');
const notFound = expect.objectContaining({ code: 'ERR_BUNDLE_NOT_FOUND' });

function jwtBundle(td: TrustDomain, kid: string): JwtBundle {
  const bundle = new JwtBundle(td);
  bundle.addAuthority(kid, generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey);
  return bundle;
}

describe('BundleSet', () => {
  it('keys SPIFFE bundles by trust domain and never merges trust domains', () => {
    const bundleA = SpiffeBundle.parse(a, vector('spiffebundle', 'spiffebundle_valid_1.json'));
    const bundleB = SpiffeBundle.parse(b, vector('spiffebundle', 'spiffebundle_valid_2.json'));
    const set = new BundleSet([bundleA, bundleB]);
    expect(set.trustDomains().map((t) => t.name)).toEqual(['a.test', 'b.test']);
    expect(set.get(a)).toBe(bundleA);
    expect(set.get('spiffe://b.test')).toBe(bundleB);
    expect(set.getJwtBundleForTrustDomain(a).jwtAuthorities.size).toBe(1);
    expect(set.getJwtBundleForTrustDomain(b).jwtAuthorities.size).toBe(6);
    expect(set.getX509BundleForTrustDomain(b)).toBe(bundleB.x509Bundle);
    expect(set.size).toBe(2);
  });

  it('replaces a trust domain bundle on add', () => {
    const set = new BundleSet();
    set.add(SpiffeBundle.parse(a, vector('spiffebundle', 'spiffebundle_valid_2.json')));
    const newer = SpiffeBundle.parse(a, vector('spiffebundle', 'spiffebundle_valid_1.json'));
    set.add(newer);
    expect(set.get(a)).toBe(newer);
    expect(set.size).toBe(1);
  });

  it('holds X.509 and JWT halves separately', () => {
    const set = new BundleSet();
    const x509 = X509Bundle.parsePem(a, vector('x509bundle', 'certs.pem').toString('utf8'));
    set.add(x509);
    expect(set.getX509BundleForTrustDomain(a)).toBe(x509);
    expect(() => set.getJwtBundleForTrustDomain(a)).toThrow(notFound);
    expect(set.get(a)!.jwtBundle.isEmpty()).toBe(true);

    const jwt = jwtBundle(a, 'k1');
    set.add(jwt);
    expect(set.getJwtBundleForTrustDomain(a)).toBe(jwt);
    expect(set.getX509BundleForTrustDomain(a)).toBe(x509);
    expect(set.get(a)!.jwtBundle).toBe(jwt);
    expect(set.get(a)!.x509Bundle).toBe(x509);
    expect(set.x509Bundles()).toEqual([x509]);
    expect(set.jwtBundles()).toEqual([jwt]);
  });

  it('has, remove and lookups of unknown trust domains', () => {
    const set = new BundleSet([jwtBundle(a, 'k')]);
    expect(set.has(a)).toBe(true);
    expect(set.has(b)).toBe(false);
    expect(set.get(b)).toBeUndefined();
    expect(() => set.getX509BundleForTrustDomain(b)).toThrow(notFound);
    expect(() => set.getJwtBundleForTrustDomain(b)).toThrow(notFound);
    expect(set.remove(a)).toBe(true);
    expect(set.remove(a)).toBe(false);
    expect(set.has('a.test')).toBe(false);
    expect(set.trustDomains()).toEqual([]);
  });

  it('refuses things that are not bundles', () => {
    expect(() => new BundleSet().add({ trustDomain: a } as unknown as JwtBundle)).toThrow(TypeError);
  });
});
