/**
 * One error family for the SPIFFE domain layer. Every failure has a stable `code` (assert on it, never on the
 * wording) and a lowercase message that names the rule that failed. Callers switch on `code`; the gRPC boundary maps
 * codes to status in one place (src/common).
 */

export type SpiffeErrorCode =
  // SPIFFE IDs and trust domains
  | 'ERR_SPIFFE_ID_INVALID'
  | 'ERR_TRUST_DOMAIN_INVALID'
  // X509-SVID issuing and validation
  | 'ERR_X509_SVID_INVALID'
  | 'ERR_X509_SVID_UNTRUSTED'
  | 'ERR_X509_SVID_EXPIRED'
  | 'ERR_X509_ISSUE_INVALID'
  // JWT-SVID minting and validation
  | 'ERR_JWT_SVID_MALFORMED'
  | 'ERR_JWT_SVID_ALG'
  | 'ERR_JWT_SVID_HEADER'
  | 'ERR_JWT_SVID_CLAIMS'
  | 'ERR_JWT_SVID_AUDIENCE'
  | 'ERR_JWT_SVID_EXPIRED'
  | 'ERR_JWT_SVID_SIGNATURE'
  | 'ERR_JWT_SVID_UNTRUSTED'
  | 'ERR_JWT_MINT_INVALID'
  // Bundles
  | 'ERR_BUNDLE_MALFORMED'
  | 'ERR_BUNDLE_NOT_FOUND'
  | 'ERR_KEY_INVALID';

export class SpiffeError extends Error {
  readonly code: SpiffeErrorCode;
  /** A short machine-readable name of the rule that failed, e.g. `leaf-ca-flag`. */
  readonly rule: string;

  constructor(code: SpiffeErrorCode, rule: string, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
    this.rule = rule;
    this.name = new.target.name;
  }
}

/** A SPIFFE ID or one of its parts broke a rule of the SPIFFE-ID standard. */
export class SpiffeIdInvalid extends SpiffeError {
  constructor(rule: string, message: string, options?: { cause?: unknown }) {
    super('ERR_SPIFFE_ID_INVALID', rule, message, options);
  }
}

/** A trust domain name broke a rule (character set, length, empty DNS label). */
export class TrustDomainInvalid extends SpiffeError {
  constructor(rule: string, message: string, options?: { cause?: unknown }) {
    super('ERR_TRUST_DOMAIN_INVALID', rule, message, options);
  }
}

/** An X509-SVID (or its chain) breaks a MUST of the X509-SVID standard. */
export class X509SvidInvalid extends SpiffeError {
  constructor(rule: string, message: string, options?: { cause?: unknown }) {
    super('ERR_X509_SVID_INVALID', rule, message, options);
  }
}

/** The chain does not lead to an authority of the leaf's trust domain bundle. */
export class X509SvidUntrusted extends SpiffeError {
  constructor(rule: string, message: string, options?: { cause?: unknown }) {
    super('ERR_X509_SVID_UNTRUSTED', rule, message, options);
  }
}

/** A certificate of the chain is outside its validity period at the time given. */
export class X509SvidExpired extends SpiffeError {
  constructor(rule: string, message: string, options?: { cause?: unknown }) {
    super('ERR_X509_SVID_EXPIRED', rule, message, options);
  }
}

/** The parameters given to an issuing function cannot produce a valid SVID or CA certificate. */
export class X509IssueInvalid extends SpiffeError {
  constructor(rule: string, message: string, options?: { cause?: unknown }) {
    super('ERR_X509_ISSUE_INVALID', rule, message, options);
  }
}

export class JwtSvidMalformed extends SpiffeError {
  constructor(rule: string, message: string, options?: { cause?: unknown }) {
    super('ERR_JWT_SVID_MALFORMED', rule, message, options);
  }
}

export class JwtSvidAlgorithm extends SpiffeError {
  constructor(rule: string, message: string, options?: { cause?: unknown }) {
    super('ERR_JWT_SVID_ALG', rule, message, options);
  }
}

export class JwtSvidHeader extends SpiffeError {
  constructor(rule: string, message: string, options?: { cause?: unknown }) {
    super('ERR_JWT_SVID_HEADER', rule, message, options);
  }
}

export class JwtSvidClaims extends SpiffeError {
  constructor(rule: string, message: string, options?: { cause?: unknown }) {
    super('ERR_JWT_SVID_CLAIMS', rule, message, options);
  }
}

export class JwtSvidAudience extends SpiffeError {
  constructor(rule: string, message: string, options?: { cause?: unknown }) {
    super('ERR_JWT_SVID_AUDIENCE', rule, message, options);
  }
}

export class JwtSvidExpired extends SpiffeError {
  constructor(rule: string, message: string, options?: { cause?: unknown }) {
    super('ERR_JWT_SVID_EXPIRED', rule, message, options);
  }
}

export class JwtSvidSignature extends SpiffeError {
  constructor(rule: string, message: string, options?: { cause?: unknown }) {
    super('ERR_JWT_SVID_SIGNATURE', rule, message, options);
  }
}

/** No bundle, or no key with the token's `kid`, for the subject's trust domain. */
export class JwtSvidUntrusted extends SpiffeError {
  constructor(rule: string, message: string, options?: { cause?: unknown }) {
    super('ERR_JWT_SVID_UNTRUSTED', rule, message, options);
  }
}

export class JwtMintInvalid extends SpiffeError {
  constructor(rule: string, message: string, options?: { cause?: unknown }) {
    super('ERR_JWT_MINT_INVALID', rule, message, options);
  }
}

export class BundleMalformed extends SpiffeError {
  constructor(rule: string, message: string, options?: { cause?: unknown }) {
    super('ERR_BUNDLE_MALFORMED', rule, message, options);
  }
}

export class BundleNotFound extends SpiffeError {
  constructor(rule: string, message: string, options?: { cause?: unknown }) {
    super('ERR_BUNDLE_NOT_FOUND', rule, message, options);
  }
}

/** A key is of an unsupported type or does not fit its use (e.g. a leaf key that does not match the certificate). */
export class KeyInvalid extends SpiffeError {
  constructor(rule: string, message: string, options?: { cause?: unknown }) {
    super('ERR_KEY_INVALID', rule, message, options);
  }
}

export function isSpiffeError(err: unknown): err is SpiffeError {
  return err instanceof SpiffeError;
}
