import { invalidArgument } from '../../common/errors.js';
import { SpiffeBundle, X509Bundle } from '../../spiffe/bundle/index.js';
import { isSpiffeError } from '../../spiffe/errors.js';
import type { TrustDomain } from '../../spiffe/id/index.js';
import { checkAuthoritiesTrustDomain } from '../../spiffe/x509svid/index.js';
import type { OperatorBundle } from './types.js';

/** Largest `trust_bundle` accepted. */
export const MAX_TRUST_BUNDLE_BYTES = 1024 * 1024;

export interface ParsedOperatorBundle {
  readonly bundle: SpiffeBundle;
  /** What the datastore stores: the bundle re-serialised as a SPIFFE bundle document, and its sequence. */
  readonly stored: OperatorBundle;
}

const utf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: false });

/**
 * Reads a federated trust domain's bundle an operator supplies (`--trust-bundle`): a SPIFFE bundle document (JSON, when
 * the first non-blank character is `{`) or PEM certificates (X.509 authorities only, no sequence). Refused, as
 * INVALID_ARGUMENT naming the field: text that is neither, a bundle with no authority, and an X.509 authority whose
 * certificate names another trust domain. Messages never quote the input (it may hold key material).
 */
export function parseOperatorBundle(field: string, trustDomain: TrustDomain, bytes: Uint8Array): ParsedOperatorBundle {
  if (bytes.length > MAX_TRUST_BUNDLE_BYTES) {
    throw invalidArgument(`${field} is ${bytes.length} bytes; at most ${MAX_TRUST_BUNDLE_BYTES}`);
  }
  let text: string;
  try {
    text = utf8.decode(bytes);
  } catch {
    throw invalidArgument(`${field} is not UTF-8 text: give a SPIFFE bundle document (JSON) or PEM certificates`);
  }
  const isJson = text.trimStart().startsWith('{');
  let bundle: SpiffeBundle;
  try {
    bundle = isJson
      ? SpiffeBundle.parse(trustDomain, text)
      : SpiffeBundle.fromParts({
          trustDomain,
          x509Authorities: X509Bundle.parsePem(trustDomain, text).x509Authorities,
        });
    checkAuthoritiesTrustDomain(bundle.x509Bundle);
  } catch (err) {
    if (!isSpiffeError(err)) throw err;
    // The JSON parser's message quotes the text around the error: never pass it on.
    const reason = err.rule === 'json' ? 'is not valid JSON' : `was refused: ${err.message}`;
    throw invalidArgument(`${field} ${reason}`, { cause: err });
  }
  if (bundle.isEmpty()) {
    throw invalidArgument(
      isJson
        ? `${field} holds no authorities: a SPIFFE bundle with at least one x509-svid or jwt-svid key is needed`
        : `${field} holds no certificates: give PEM "CERTIFICATE" blocks or a SPIFFE bundle document (JSON)`,
    );
  }
  const sequence = bundle.sequenceNumber ?? 0n;
  return {
    bundle,
    stored: {
      document: bundle.marshal(),
      // The datastore keeps the sequence as a JS number; the document keeps the exact value.
      sequence: sequence > BigInt(Number.MAX_SAFE_INTEGER) ? Number.MAX_SAFE_INTEGER : Number(sequence),
    },
  };
}
