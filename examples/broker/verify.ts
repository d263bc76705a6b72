/**
 * A relying party ("broker") that accepts a Tessera JWT-SVID only when it is signed by a key the issuer publishes,
 * carries the issuer's `iss`, names this broker in `aud`, has not expired, and its `sub` is a SPIFFE ID under an allowed
 * prefix. Keys come from OIDC discovery: `<issuer>/.well-known/openid-configuration` → `jwks_uri`, fetched and cached by
 * jose's remote JWKS (which also refetches when a token names an unknown `kid`, e.g. just after a key rotation).
 */
import { createRemoteJWKSet, jwtVerify, type JWTPayload } from 'jose';

export interface BrokerConfig {
  /** The Tessera server's `jwt.issuer` (e.g. https://tessera.example.org). */
  readonly issuer: string;
  /** The only audience this broker accepts (e.g. spiffe://example.org/broker). */
  readonly audience: string;
  /** Accepted workloads: `sub` must start with this (e.g. spiffe://example.org/agents/). */
  readonly spiffeIdPrefix: string;
  /**
   * How long fetched keys are used before the JWKS is fetched again (seconds). Match the issuer's `Cache-Control:
   * max-age` on `/keys` (half its refresh hint): Tessera publishes every key at least one refresh hint before it signs,
   * so a broker refreshing this often holds each key in time. Default 300.
   */
  readonly jwksMaxAgeSeconds?: number;
  /** The time `exp`, `nbf` and `iat` are checked against (default: the system clock; tests inject theirs). */
  readonly now?: () => Date;
}

export interface VerifiedWorkload {
  readonly spiffeId: string;
  readonly expiresAt: Date;
  readonly claims: JWTPayload;
}

const ALGORITHMS = ['ES256', 'ES384', 'RS256', 'PS256'];

/** Builds `verifyWorkloadToken(token)` for `config`; it rejects (throws) on any token that must not be accepted. */
export function createVerifier(config: BrokerConfig): (token: string) => Promise<VerifiedWorkload> {
  const issuer = config.issuer.replace(/\/+$/, '');
  let jwks: ReturnType<typeof createRemoteJWKSet> | undefined;
  const keys = async () => {
    if (jwks) return jwks;
    const res = await fetch(`${issuer}/.well-known/openid-configuration`);
    if (!res.ok) throw new Error(`OIDC discovery at ${issuer} failed: HTTP ${res.status}`);
    const doc = (await res.json()) as { issuer?: string; jwks_uri?: string };
    if (doc.issuer !== issuer || typeof doc.jwks_uri !== 'string') {
      throw new Error(`OIDC discovery at ${issuer} returned issuer ${JSON.stringify(doc.issuer)}`);
    }
    const maxAgeMs = (config.jwksMaxAgeSeconds ?? 300) * 1000;
    // jose also refetches at once for an unknown `kid`, at most once per cooldown.
    return (jwks = createRemoteJWKSet(new URL(doc.jwks_uri), {
      cacheMaxAge: maxAgeMs,
      cooldownDuration: Math.min(30_000, maxAgeMs),
    }));
  };
  return async (token) => {
    const { payload } = await jwtVerify(token, await keys(), {
      issuer,
      audience: config.audience,
      algorithms: ALGORITHMS,
      requiredClaims: ['sub', 'exp'],
      ...(config.now !== undefined ? { currentDate: config.now() } : {}),
    });
    const sub = payload.sub!;
    if (!sub.startsWith('spiffe://') || !sub.startsWith(config.spiffeIdPrefix)) {
      throw new Error(`workload ${JSON.stringify(sub)} is not under ${config.spiffeIdPrefix}`);
    }
    return { spiffeId: sub, expiresAt: new Date(payload.exp! * 1000), claims: payload };
  };
}

let fromEnv: ((token: string) => Promise<VerifiedWorkload>) | undefined;

/**
 * Verifies with the configuration in BROKER_ISSUER, BROKER_AUDIENCE and BROKER_SPIFFE_ID_PREFIX (read on first use).
 */
export function verifyWorkloadToken(token: string): Promise<VerifiedWorkload> {
  if (!fromEnv) {
    const { BROKER_ISSUER: issuer, BROKER_AUDIENCE: audience, BROKER_SPIFFE_ID_PREFIX: spiffeIdPrefix } = process.env;
    if (!issuer || !audience || !spiffeIdPrefix) {
      throw new Error('set BROKER_ISSUER, BROKER_AUDIENCE and BROKER_SPIFFE_ID_PREFIX');
    }
    fromEnv = createVerifier({ issuer, audience, spiffeIdPrefix });
  }
  return fromEnv(token);
}
