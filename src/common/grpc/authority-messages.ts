/**
 * tessera.admin.v1.Authority (proto/tessera/admin/v1/authority.proto) as proto-loader handles it: keepCase field
 * names, enums as their names, int64 as numbers. The server builds it, the CLI reads it; one definition for both.
 */
export interface AuthorityMessage {
  /** AUTHORITY_KIND_X509 | AUTHORITY_KIND_JWT */
  kind: string;
  key_id: string;
  /** AUTHORITY_STATE_PREPARED | _ACTIVE | _RETIRED */
  state: string;
  /** Unix seconds. */
  not_after: number;
  created_at: number;
  /** Unix ms; 0 = not (yet) published / not applicable. */
  published_at_ms: number;
  activatable_at_ms: number;
}
