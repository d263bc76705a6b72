/**
 * Records of the server's signing keys (architecture §2): X.509 CA keys and JWT keys, rotated prepared → active →
 * retired. Only public material is stored here; the private key is a file under the data dir written by the CA
 * module with mode 0600, named by `privateKeyFile`. Several servers sharing one database each keep their own keys,
 * told apart by `serverId`.
 */
export type KeyKind = 'x509_ca' | 'jwt';
export type KeyState = 'prepared' | 'active' | 'retired';

export interface KeyRecord {
  /** Chosen by the CA module; for JWT keys this is the `kid`. */
  readonly id: string;
  readonly kind: KeyKind;
  readonly serverId: string;
  readonly state: KeyState;
  /** x509_ca: the CA certificate, DER. jwt: the public JWK as UTF-8 JSON. */
  readonly publicMaterial: Uint8Array;
  /** File name (relative to the data dir) of the private key. Never the key itself. */
  readonly privateKeyFile: string;
  /** Unix seconds. */
  readonly notAfter: number;
  readonly createdAt: number;
  readonly activatedAt: number | null;
  readonly retiredAt: number | null;
}

export type NewKeyRecord = Omit<KeyRecord, 'createdAt' | 'activatedAt' | 'retiredAt' | 'state'> & {
  readonly state?: 'prepared' | 'active';
};

export interface KeyStateChange {
  readonly id: string;
  readonly state: KeyState;
}

export interface KeyStore {
  /** Ordered by createdAt, then id. */
  list(filter?: { kind?: KeyKind; serverId?: string; state?: KeyState }): Promise<KeyRecord[]>;
  /** ALREADY_EXISTS on a duplicate id. State defaults to prepared. */
  insert(record: NewKeyRecord): Promise<KeyRecord>;
  /**
   * Applies every change in one transaction, e.g. activate the prepared key and retire the active one. States only
   * move forward (prepared → active → retired, or prepared → retired); setting the current state again is a
   * no-op.
   * NOT_FOUND or FAILED_PRECONDITION undo the whole batch.
   */
  setState(changes: readonly KeyStateChange[]): Promise<KeyRecord[]>;
  /**
   * Removes a retired key's record once nothing it signed can still be valid. NOT_FOUND; FAILED_PRECONDITION unless
   * retired.
   */
  delete(id: string): Promise<void>;
}
