import { describe, expect, it } from 'vitest';
import { buildPath, MAX_SIGNATURE_CHECKS, type PathCertificate } from '../../../src/spiffe/x509svid/path-builder.js';

interface Fake extends PathCertificate {
  readonly label: string;
}

const bytes = (s: string) => new TextEncoder().encode(s);
const fake = (label: string, subject: string, issuer: string, key = label): Fake => ({
  label,
  subjectRaw: bytes(subject),
  issuerRaw: bytes(issuer),
  spki: bytes(key),
});

/** signedBy that counts its calls; `edges` holds "child>issuer" labels that verify (all when undefined). */
function counter(edges?: ReadonlySet<string>) {
  const calls: string[] = [];
  return {
    calls,
    signedBy: (child: Fake, issuer: Fake) => {
      calls.push(`${child.label}>${issuer.label}`);
      return edges === undefined || edges.has(`${child.label}>${issuer.label}`);
    },
  };
}

describe('buildPath', () => {
  it('finds leaf → intermediate → anchor and reports the checks it made', () => {
    const anchor = fake('root', 'R', 'R');
    const mid = fake('mid', 'M', 'R');
    const leaf = fake('leaf', 'L', 'M');
    const sig = counter(new Set(['leaf>mid', 'mid>root']));
    const got = buildPath(leaf, { anchors: [anchor], intermediates: [mid], maxLength: 8, signedBy: sig.signedBy, issuerProblem: () => undefined });
    expect(got.path?.map((c) => c.label)).toEqual(['leaf', 'mid', 'root']);
    expect(got.signatureChecks).toBe(2);
    expect(got.budgetExceeded).toBe(false);
  });

  it('never chains copies of one CA (same subject and key) into each other', () => {
    // The crafted Attest of issue 10: 7 copies of one CA (same name, same key) that all issue each other.
    const loop = Array.from({ length: 7 }, (_, i) => fake(`loop${i}`, 'Loop', 'Loop', 'loop-key'));
    const leaf = fake('leaf', 'L', 'Loop');
    const sig = counter();
    const got = buildPath(leaf, {
      anchors: [fake('root', 'R', 'R')],
      intermediates: loop,
      maxLength: 8,
      signedBy: sig.signedBy,
      issuerProblem: () => undefined,
    });
    expect(got.path).toBeUndefined();
    expect(sig.calls).toEqual(loop.map((c) => `leaf>${c.label}`)); // 7 checks, not 7! orderings
  });

  it('keeps cross-signed certificates (same subject and key, different issuers) as distinct candidates', () => {
    const untrusted = fake('untrusted', 'U', 'U');
    const root = fake('root', 'R', 'R');
    const viaUntrusted = fake('mid-by-u', 'M', 'U', 'mid-key');
    const viaRoot = fake('mid-by-r', 'M', 'R', 'mid-key');
    const leaf = fake('leaf', 'L', 'M');
    const sig = counter(new Set(['leaf>mid-by-u', 'leaf>mid-by-r', 'mid-by-r>root', 'mid-by-u>untrusted']));
    const got = buildPath(leaf, {
      anchors: [root],
      intermediates: [viaUntrusted, untrusted, viaRoot],
      maxLength: 8,
      signedBy: sig.signedBy,
      issuerProblem: () => undefined,
    });
    expect(got.path?.map((c) => c.label)).toEqual(['leaf', 'mid-by-r', 'root']);
  });

  it('stops at the signature-check budget when every candidate verifies', () => {
    // Distinct keys defeat deduplication; a signedBy that accepts everything stands for the worst case. Without the
    // budget this search would visit every ordering of 12 certificates up to length 8 (millions of checks).
    const loop = Array.from({ length: 12 }, (_, i) => fake(`loop${i}`, 'Loop', 'Loop'));
    const leaf = fake('leaf', 'L', 'Loop');
    const sig = counter();
    const got = buildPath(leaf, {
      anchors: [fake('root', 'R', 'R')],
      intermediates: loop,
      maxLength: 8,
      signedBy: sig.signedBy,
      issuerProblem: () => undefined,
    });
    expect(got.path).toBeUndefined();
    expect(got.budgetExceeded).toBe(true);
    expect(got.signatureChecks).toBe(MAX_SIGNATURE_CHECKS);
    expect(sig.calls).toHaveLength(MAX_SIGNATURE_CHECKS);
    expect(new Set(sig.calls).size).toBe(MAX_SIGNATURE_CHECKS); // no pair checked twice
  });

  it('keeps the first refusal of a correctly signed issuer', () => {
    const anchor = fake('root', 'R', 'R');
    const leaf = fake('leaf', 'L', 'R');
    const got = buildPath(leaf, {
      anchors: [anchor],
      intermediates: [],
      maxLength: 8,
      signedBy: () => true,
      issuerProblem: (issuer) => `issuer ${issuer.label} is not a CA`,
    });
    expect(got.path).toBeUndefined();
    expect(got.problem).toBe('issuer root is not a CA');
    expect(got.budgetExceeded).toBe(false);
  });
});
