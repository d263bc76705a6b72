/**
 * The one certification path search (RFC 5280 §6 path building) behind X509-SVID verification and x509pop node
 * attestation, bounded so that a crafted chain costs a fixed amount of work (issue: 7 mutually-issuing CA certificates
 * made the old depth-first search run ~1 s of CPU per request):
 *
 * - a candidate with the same (subject, SPKI) as a certificate already on the path is never added to it (Go's
 *   `alreadyInChain`): copies of one CA cannot be chained into each other, so 7 copies cost 7 checks, not 7! orders.
 *   Certificates with the same name and key but different issuers (cross-signing) stay distinct candidates;
 * - each (child, issuer) signature is checked at most once (memoised);
 * - at most {@link MAX_SIGNATURE_CHECKS} signature checks per search (Go's crypto/x509 fix for CVE-2018-16875 uses the
 *   same budget of 100); past it the search gives up with `budgetExceeded`.
 *
 * The search is depth-first: anchors first at every step, then presented intermediates in the order given.
 */

/** Most signature checks one path search may make. */
export const MAX_SIGNATURE_CHECKS = 100;

/** What the search needs to know about a certificate. */
export interface PathCertificate {
  /** DER of the subject Name. */
  readonly subjectRaw: Uint8Array;
  /** DER of the issuer Name. */
  readonly issuerRaw: Uint8Array;
  /** DER of the SubjectPublicKeyInfo. */
  readonly spki: Uint8Array;
}

export interface PathSearchRules<C extends PathCertificate, P> {
  /** Trust anchors (bundle authorities, configured CAs); a path ends at one of them. */
  readonly anchors: readonly C[];
  /** Untrusted certificates presented with the leaf. */
  readonly intermediates: readonly C[];
  /** Most certificates in a path, leaf and anchor included. */
  readonly maxLength: number;
  /** True when `issuer`'s key made `child`'s signature (called only when the names chain). Must not throw. */
  signedBy(child: C, issuer: C): boolean;
  /** Why `issuer` may not sign above `path` (leaf first, ending with the child it signed), or undefined. */
  issuerProblem(issuer: C, path: readonly C[]): P | undefined;
  /** Signature-check budget; default {@link MAX_SIGNATURE_CHECKS}. */
  readonly maxSignatureChecks?: number;
}

export interface PathSearchResult<C, P> {
  /** Leaf first, ending with an anchor; undefined when no path was found. */
  readonly path: C[] | undefined;
  /** The first reason a correctly signed candidate issuer was refused. */
  readonly problem: P | undefined;
  /** Signature checks made. */
  readonly signatureChecks: number;
  /** The search stopped because it used up its budget (a path may exist beyond it). */
  readonly budgetExceeded: boolean;
}

/** Builds a path from `leaf` to one of `rules.anchors`. */
export function buildPath<C extends PathCertificate, P>(leaf: C, rules: PathSearchRules<C, P>): PathSearchResult<C, P> {
  const budget = rules.maxSignatureChecks ?? MAX_SIGNATURE_CHECKS;
  const intermediates = rules.intermediates;
  const verdicts = new Map<C, Map<C, boolean>>();
  let problem: P | undefined;
  let checks = 0;
  let exhausted = false;

  const signed = (child: C, issuer: C): boolean => {
    let row = verdicts.get(child);
    if (!row) verdicts.set(child, (row = new Map()));
    const known = row.get(issuer);
    if (known !== undefined) return known;
    if (checks >= budget) {
      exhausted = true;
      return false;
    }
    checks++;
    const ok = rules.signedBy(child, issuer);
    row.set(issuer, ok);
    return ok;
  };
  const accept = (child: C, issuer: C, path: readonly C[]): boolean => {
    if (!equalBytes(child.issuerRaw, issuer.subjectRaw) || !signed(child, issuer)) return false;
    const refusal = rules.issuerProblem(issuer, path);
    if (refusal !== undefined) {
      problem ??= refusal;
      return false;
    }
    return true;
  };
  const onPath = (path: readonly C[], candidate: C): boolean =>
    path.some((c) => c === candidate || (equalBytes(c.subjectRaw, candidate.subjectRaw) && equalBytes(c.spki, candidate.spki)));
  const extend = (path: C[]): C[] | undefined => {
    const child = path[path.length - 1]!;
    for (const anchor of rules.anchors) {
      if (accept(child, anchor, path)) return [...path, anchor];
      if (exhausted) return undefined;
    }
    if (path.length + 1 >= rules.maxLength) return undefined;
    for (const candidate of intermediates) {
      if (onPath(path, candidate)) continue;
      if (!accept(child, candidate, path)) {
        if (exhausted) return undefined;
        continue;
      }
      const found = extend([...path, candidate]);
      if (found || exhausted) return found;
    }
    return undefined;
  };

  const path = extend([leaf]);
  return { path, problem, signatureChecks: checks, budgetExceeded: exhausted };
}

export function equalBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}
