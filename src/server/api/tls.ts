import * as grpc from '@grpc/grpc-js';
import { encodePem } from '../../spiffe/pem.js';
import type { BundleSource, ServerIdentitySource } from '../ca/types.js';

type CaListener = grpc.experimental.CaCertificateUpdateListener;
type IdentityListener = grpc.experimental.IdentityCertificateUpdateListener;

/**
 * A grpc-js CertificateProvider fed by the CA: the identity is the current server SVID (chain PEM + PKCS#8 key PEM),
 * the CA certificates are the current bundle's X.509 authorities (PEM). It subscribes to the sources only while grpc-js
 * listens (from bind until the server shuts down), and delivers updates asynchronously, as grpc-js expects (its
 * server reads the credentials' options right after adding its watcher).
 */
class CaCertificateProvider implements grpc.experimental.CertificateProvider {
  readonly #identity: ServerIdentitySource;
  readonly #bundle: BundleSource;
  readonly #caListeners = new Set<CaListener>();
  readonly #identityListeners = new Set<IdentityListener>();
  #unsubscribe: (() => void)[] = [];

  constructor(identity: ServerIdentitySource, bundle: BundleSource) {
    this.#identity = identity;
    this.#bundle = bundle;
  }

  addCaCertificateListener(listener: CaListener): void {
    this.#caListeners.add(listener);
    this.#subscribe();
    process.nextTick(() => this.#caListeners.has(listener) && listener(this.#caUpdate()));
  }

  removeCaCertificateListener(listener: CaListener): void {
    this.#caListeners.delete(listener);
    this.#maybeUnsubscribe();
  }

  addIdentityCertificateListener(listener: IdentityListener): void {
    this.#identityListeners.add(listener);
    this.#subscribe();
    process.nextTick(() => this.#identityListeners.has(listener) && listener(this.#identityUpdate()));
  }

  removeIdentityCertificateListener(listener: IdentityListener): void {
    this.#identityListeners.delete(listener);
    this.#maybeUnsubscribe();
  }

  #caUpdate(): grpc.experimental.CaCertificateUpdate | null {
    const pem = this.#bundle.currentBundle().x509Bundle.toPem();
    return pem.length === 0 ? null : { caCertificate: Buffer.from(pem, 'utf8') };
  }

  #identityUpdate(): grpc.experimental.IdentityCertificateUpdate | null {
    let svid;
    try {
      svid = this.#identity.currentServerSvid();
    } catch {
      return null; // no server SVID yet: grpc-js refuses connections until one arrives
    }
    return {
      certificate: Buffer.from(svid.chain.map((der) => encodePem('CERTIFICATE', der)).join(''), 'utf8'),
      privateKey: svid.privateKey.export({ type: 'pkcs8', format: 'pem' }) as Buffer,
    };
  }

  #subscribe(): void {
    if (this.#unsubscribe.length > 0) return;
    this.#unsubscribe = [
      this.#bundle.onBundleChange(() => {
        const update = this.#caUpdate();
        for (const l of [...this.#caListeners]) l(update);
      }),
      this.#identity.onServerSvidChange(() => {
        const update = this.#identityUpdate();
        for (const l of [...this.#identityListeners]) l(update);
      }),
    ];
  }

  #maybeUnsubscribe(): void {
    if (this.#caListeners.size > 0 || this.#identityListeners.size > 0) return;
    for (const u of this.#unsubscribe.splice(0)) u();
  }
}

/**
 * Server credentials for the agent API: present the server SVID chain; REQUEST but do not require a client
 * certificate (Attest runs without one) and do not refuse one that fails verification at the TLS layer — the handlers
 * authenticate the caller (src/server/api/agent/caller.ts; grpc-js only exposes a peer certificate that chained to the
 * bundle roots). Server SVID renewals and bundle changes apply to new connections without a restart.
 *
 * grpc-js's createCertificateProviderServerCredentials declares (caProvider, identityProvider, require) but passes
 * them to a constructor taking (identityProvider, caProvider, require); one provider serves both roles here, so the
 * order cannot matter.
 */
export function createAgentApiCredentials(identity: ServerIdentitySource, bundle: BundleSource): grpc.ServerCredentials {
  const provider = new CaCertificateProvider(identity, bundle);
  return grpc.experimental.createCertificateProviderServerCredentials(provider, provider, false);
}
