import { randomBytes, X509Certificate, type KeyObject } from 'node:crypto';
import { failedPrecondition } from '../../common/errors.js';
import type { TrustDomain } from '../../spiffe/id/index.js';
import { BACKDATE_SECONDS, createCaCertificate, X509SvidSigner } from '../../spiffe/x509svid/index.js';
import type { KeyRecord } from '../datastore/index.js';
import type { KeyKindOps } from './key-ring-types.js';
import { generateSigningKey, type CaKeyType } from './key-types.js';
import type { KeyLifetime } from './schedule.js';
import {
  isSelfSigned,
  loadUpstreamAuthority,
  type UpstreamAuthority,
  type UpstreamAuthorityConfig,
} from './upstream.js';

/** An X.509 CA key ready to sign leaves. */
export interface X509CaMaterial {
  readonly certificate: Uint8Array;
  readonly signer: X509SvidSigner;
  /**
   * What follows the leaf in issued chains: nothing under a self-signed root; our intermediate and the upstream
   * intermediates otherwise.
   */
  readonly chain: readonly Uint8Array[];
}

export interface X509CaOpsOptions {
  readonly trustDomain: TrustDomain;
  readonly keyType: CaKeyType;
  readonly ttlSeconds: number;
  readonly upstream?: UpstreamAuthorityConfig;
  /** The upstream authority as last loaded (undefined without upstream). */
  readonly getUpstream: () => UpstreamAuthority | undefined;
  /** Called with a freshly reloaded upstream authority (files are re-read at every new CA). */
  readonly setUpstream: (u: UpstreamAuthority) => void;
}

/**
 * X.509 CA keys: a self-signed root per key by default, or an intermediate signed by the upstream authority (whose
 * files are re-read for every new CA, so a renewed upstream certificate is picked up at the next rotation).
 */
export function x509CaOps(o: X509CaOpsOptions): KeyKindOps<X509CaMaterial> {
  return {
    kind: 'x509_ca',
    label: 'X.509 CA',
    fileStem: (id) => `x509-ca-${id}`,
    async create(now) {
      const { publicKey, privateKey } = await generateSigningKey(o.keyType);
      let upstream: UpstreamAuthority | undefined;
      if (o.upstream) {
        upstream = await loadUpstreamAuthority(o.upstream, o.trustDomain);
        o.setUpstream(upstream);
      }
      const certificate = await createCaCertificate({
        trustDomain: o.trustDomain,
        publicKey,
        signer: upstream ? { key: upstream.key, certificate: upstream.certificate } : { key: privateKey },
        now,
        ttlSeconds: o.ttlSeconds,
      });
      const cert = new X509Certificate(certificate);
      return {
        id: randomBytes(16).toString('hex'),
        privateKey,
        publicMaterial: certificate,
        notAfterSeconds: Math.floor(Date.parse(cert.validTo) / 1000),
        material: materialOf(certificate, cert, privateKey, upstream),
      };
    },
    material(record: KeyRecord, privateKey: KeyObject) {
      const cert = parse(record);
      if (!cert.checkPrivateKey(privateKey)) {
        throw failedPrecondition(
          `the private key of X.509 CA key ${JSON.stringify(record.id)} does not match its certificate`,
        );
      }
      return materialOf(record.publicMaterial, cert, privateKey, o.getUpstream());
    },
    lifetime(record: KeyRecord): KeyLifetime {
      const cert = parse(record);
      return {
        startMs: Date.parse(cert.validFrom) + BACKDATE_SECONDS * 1000,
        notAfterMs: Date.parse(cert.validTo),
      };
    },
  };
}

function materialOf(
  certificate: Uint8Array,
  cert: X509Certificate,
  privateKey: KeyObject,
  upstream: UpstreamAuthority | undefined,
): X509CaMaterial {
  const signer = X509SvidSigner.create({ caCertificate: certificate, caKey: privateKey });
  const chain = isSelfSigned(cert) ? [] : [certificate, ...(upstream?.chain ?? [])];
  return { certificate, signer, chain };
}

function parse(record: KeyRecord): X509Certificate {
  try {
    return new X509Certificate(record.publicMaterial);
  } catch (cause) {
    throw failedPrecondition(`the certificate of X.509 CA key ${JSON.stringify(record.id)} cannot be decoded`, {
      cause,
    });
  }
}
