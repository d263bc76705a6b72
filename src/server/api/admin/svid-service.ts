import type * as grpc from '@grpc/grpc-js';
import { createPublicKey, type KeyObject } from 'node:crypto';
import { invalidArgument } from '../../../common/errors.js';
import { SpiffeId } from '../../../spiffe/id/index.js';
import { parseEntrySpiffeId } from '../../entries/validate.js';
import type { AdminContext } from './config.js';
import type { Incoming } from './messages.js';
import { unary } from './unary.js';

/** TTLs when the request gives none (capped at the worker ceilings). */
export const DEFAULT_MINT_X509_TTL_SECONDS = 3600;
export const DEFAULT_MINT_JWT_TTL_SECONDS = 300;
const MAX_AUDIENCES = 16;
const MAX_AUDIENCE_BYTES = 1024;
const MAX_DNS_NAMES = 32;
const MAX_PUBLIC_KEY_BYTES = 4096;

const q = JSON.stringify;

/**
 * tessera.admin.v1.SvidService: X509-SVIDs and JWT-SVIDs minted for the operator (spire-server x509 mint / jwt mint),
 * for a SPIFFE ID of this trust domain outside /tessera/, within the worker TTL ceilings. Each is audited
 * (`x509_svid.minted`, `jwt_svid.minted`) before it is returned; the token itself is never logged or audited.
 */
export function svidService(ctx: AdminContext): grpc.UntypedServiceImplementation {
  const { log, policy } = ctx;

  function spiffeId(value: unknown): SpiffeId {
    const text = parseEntrySpiffeId('spiffe_id', value, ctx.trustDomain);
    if (text.includes('{')) throw invalidArgument(`spiffe_id ${q(text)} is a template: give the SPIFFE ID to mint`);
    return SpiffeId.parse(text);
  }

  function ttl(value: unknown, fallback: number, max: number, what: string): number {
    const v = value ?? 0;
    if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0) {
      throw invalidArgument(`ttl_seconds must be a whole number of seconds, not ${q(v)}`);
    }
    if (v > max) {
      throw invalidArgument(`ttl_seconds ${v} is above the ${what} ceiling of ${max} seconds (policy.worker)`);
    }
    return v === 0 ? Math.min(fallback, max) : v;
  }

  async function mintX509(req: Incoming<{ spiffe_id: string; public_key: Buffer; ttl_seconds: number; dns_names: string[] }>) {
    const id = spiffeId(req.spiffe_id);
    const ttlSeconds = ttl(req.ttl_seconds, DEFAULT_MINT_X509_TTL_SECONDS, policy.worker.maxX509TtlSeconds, 'X509-SVID');
    const publicKey = parsePublicKey(req.public_key);
    const dnsNames = req.dns_names ?? [];
    if (!Array.isArray(dnsNames) || dnsNames.some((d) => typeof d !== 'string' || d === '')) {
      throw invalidArgument('dns_names must be a list of DNS names');
    }
    if (dnsNames.length > MAX_DNS_NAMES) throw invalidArgument(`dns_names holds ${dnsNames.length} names; at most ${MAX_DNS_NAMES}`);
    const issued = ctx.x509Issuer.signX509Svid({ spiffeId: id, publicKey, ttlSeconds, dnsNames });
    const serial = issued.serial.toString(16);
    const expiresAt = Math.floor(issued.notAfter.getTime() / 1000);
    await ctx.audit.append({
      atMs: ctx.clock.now().getTime(),
      kind: 'x509_svid.minted',
      spiffeId: id.toString(),
      serial,
      expiresAt,
      details: { by: 'admin', ttlSeconds },
    });
    log.info({ spiffeId: id.toString(), serial, expiresAt }, 'X509-SVID minted for the operator');
    return {
      chain: issued.chain.map((der) => Buffer.from(der)),
      bundle_pem: ctx.bundle.currentBundle().x509Bundle.toPem(),
      serial,
      expires_at: expiresAt,
    };
  }

  async function mintJwt(req: Incoming<{ spiffe_id: string; audience: string[]; ttl_seconds: number }>) {
    const id = spiffeId(req.spiffe_id);
    const audience = req.audience ?? [];
    if (!Array.isArray(audience) || audience.length === 0) throw invalidArgument('audience must hold at least one audience');
    if (audience.length > MAX_AUDIENCES) throw invalidArgument(`audience holds ${audience.length} values; at most ${MAX_AUDIENCES}`);
    audience.forEach((a, i) => {
      if (typeof a !== 'string' || a === '') throw invalidArgument(`audience[${i}] must not be empty`);
      if (Buffer.byteLength(a, 'utf8') > MAX_AUDIENCE_BYTES) {
        throw invalidArgument(`audience[${i}] is longer than ${MAX_AUDIENCE_BYTES} bytes`);
      }
    });
    const ttlSeconds = ttl(req.ttl_seconds, DEFAULT_MINT_JWT_TTL_SECONDS, policy.worker.maxJwtTtlSeconds, 'JWT-SVID');
    const issued = await ctx.jwtIssuer.signJwtSvid({ spiffeId: id, audience, ttlSeconds });
    const expiresAt = Math.floor(issued.expiresAt.getTime() / 1000);
    await ctx.audit.append({
      atMs: ctx.clock.now().getTime(),
      kind: 'jwt_svid.minted',
      spiffeId: id.toString(),
      jti: issued.jti,
      expiresAt,
      details: { by: 'admin', audience, ttlSeconds },
    });
    log.info({ spiffeId: id.toString(), jti: issued.jti, expiresAt }, 'JWT-SVID minted for the operator');
    return { token: issued.token, expires_at: expiresAt };
  }

  return { MintX509Svid: unary(log, mintX509), MintJwtSvid: unary(log, mintJwt) };
}

function parsePublicKey(value: unknown): KeyObject {
  if (!(value instanceof Uint8Array) || value.length === 0) {
    throw invalidArgument('public_key is required (SubjectPublicKeyInfo, DER)');
  }
  if (value.length > MAX_PUBLIC_KEY_BYTES) throw invalidArgument(`public_key is longer than ${MAX_PUBLIC_KEY_BYTES} bytes`);
  try {
    return createPublicKey({ key: Buffer.from(value), format: 'der', type: 'spki' });
  } catch {
    throw invalidArgument('public_key is not a SubjectPublicKeyInfo (DER) public key');
  }
}

