import { createHash } from 'node:crypto';
import type * as http from 'node:http';
import type { HttpRoute, HttpRouteResponse } from '../../common/http/health-server.js';
import type { SpiffeBundle } from '../../spiffe/bundle/index.js';
import type { JwtKeyType } from '../ca/index.js';
import { jwtAlgorithmOf } from '../ca/key-types.js';
import { MIN_REFRESH_HINT_SECONDS } from '../ca/schedule.js';

export const OIDC_DISCOVERY_PATH = '/.well-known/openid-configuration';
export const JWKS_PATH = '/keys';

export interface OidcRoutesOptions {
  /** The CA's current bundle (prepared, active and still-valid retired JWT keys). */
  readonly bundle: { currentBundle(): SpiffeBundle };
  /** `jwt.issuer`; without it discovery answers 404 (JWT-SVIDs then carry no `iss`), /keys is still served. */
  readonly issuer?: string | undefined;
  /** `jwt.keyType`: its algorithm is advertised even when no key of that type is in the bundle yet. */
  readonly jwtKeyType: JwtKeyType;
}

const ALG_OF_KEY_TYPE: Record<JwtKeyType, string> = { 'ec-p256': 'ES256', 'ec-p384': 'ES384', 'rsa-2048': 'RS256' };

/**
 * `Cache-Control: max-age` of discovery and JWKS: half the bundle's refresh hint.
 *
 * A JWT key is published (prepared) at 1/2 of the active key's life and signs only from 5/6 on, and the CA activates it
 * only once it has been in the published bundle for at least one refresh hint (src/server/ca/schedule.ts). A relying
 * party that honours max-age fetches /keys at most max-age after any publication, so it holds the new key before it
 * signs whenever max-age < refresh hint. Half the hint leaves the other half for clock skew, fetch latency and
 * intermediary caches; the derived hint's 60 s floor makes this ≥ 30 s (a configured `ca.refreshHintSeconds` may go
 * lower, to 1 s). (Relying parties that refetch on an unknown `kid`,
 * such as jose's remote JWKS, recover even without this.)
 */
export function jwksMaxAgeSeconds(refreshHintSeconds: number | undefined): number {
  return Math.max(1, Math.floor((refreshHintSeconds ?? MIN_REFRESH_HINT_SECONDS) / 2));
}

/** The JWKS relying parties validate JWT-SVIDs with: `kid`, `alg`, `use: "sig"` and the key type's public parameters. */
export function jwksDocument(bundle: SpiffeBundle): { keys: Record<string, unknown>[] } {
  const keys: Record<string, unknown>[] = [];
  for (const a of bundle.jwtBundle.jwtAuthorities.values()) {
    const j = a.jwk;
    const params =
      j.kty === 'RSA' ? { kty: 'RSA', n: j.n, e: j.e } : j.kty === 'EC' ? { kty: 'EC', crv: j.crv, x: j.x, y: j.y } : undefined;
    if (!params) continue; // Tessera only issues EC and RSA JWT keys
    keys.push({ ...params, kid: a.kid, alg: jwtAlgorithmOf(a.key), use: 'sig' });
  }
  return { keys };
}

/** GET /.well-known/openid-configuration and GET /keys for the server's HTTP listener. */
export function oidcRoutes(o: OidcRoutesOptions): Record<string, HttpRoute> {
  const issuer = o.issuer?.replace(/\/+$/, '');
  const cached = (req: http.IncomingMessage, doc: unknown): HttpRouteResponse => {
    const body = JSON.stringify(doc) + '\n';
    const etag = `"${createHash('sha256').update(body).digest('base64url')}"`;
    const headers = {
      'Cache-Control': `public, max-age=${jwksMaxAgeSeconds(o.bundle.currentBundle().refreshHintSeconds)}`,
      ETag: etag,
    };
    return etagMatches(req.headers['if-none-match'], etag)
      ? { status: 304, contentType: 'application/json', body: '', headers }
      : { status: 200, contentType: 'application/json', body, headers };
  };
  return {
    [OIDC_DISCOVERY_PATH]: (req) => {
      if (issuer === undefined) {
        return {
          status: 404,
          contentType: 'application/json',
          body:
            JSON.stringify({
              error: 'OIDC discovery is disabled: set jwt.issuer in the server configuration to the public URL of this listener',
            }) + '\n',
        };
      }
      const algs = new Set<string>([ALG_OF_KEY_TYPE[o.jwtKeyType]]);
      for (const k of jwksDocument(o.bundle.currentBundle()).keys) algs.add(String(k['alg']));
      return cached(req, {
        issuer,
        jwks_uri: `${issuer}${JWKS_PATH}`,
        id_token_signing_alg_values_supported: [...algs].sort(),
        subject_types_supported: ['public'],
        response_types_supported: ['id_token'],
        claims_supported: ['sub', 'aud', 'exp', 'iat', 'iss', 'jti'],
      });
    },
    [JWKS_PATH]: (req) => cached(req, jwksDocument(o.bundle.currentBundle())),
  };
}

/** RFC 9110 If-None-Match: `*`, or a comma-separated list of (weak or strong) entity tags compared weakly. */
function etagMatches(header: string | undefined, etag: string): boolean {
  if (!header) return false;
  if (header.trim() === '*') return true;
  return header.split(',').some((t) => t.trim().replace(/^W\//, '') === etag);
}
