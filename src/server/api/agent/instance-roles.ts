import { permissionDenied } from '../../../common/errors.js';
import type { Role } from '../../datastore/index.js';

/**
 * The server's half of supervisor rule 1 (architecture §5): one process instance is issued supervisor identities or
 * worker identities, never both, whatever an agent asks for. Remembers, per instance ID, the role of the identities
 * issued to it until the last of them expires. Kept in memory: after a restart an instance's earlier SVIDs are not
 * known here (the agent enforces the rule too, and the audit trail records every issuance).
 */
export class InstanceRoles {
  readonly #roles = new Map<string, { role: Role; until: number }>();
  readonly #maxSize: number;

  constructor(maxSize = 1_000_000) {
    this.#maxSize = maxSize;
  }

  /** Throws PERMISSION_DENIED when `instanceId` holds unexpired identities of the other role. */
  check(instanceId: string, role: Role, nowSeconds: number): void {
    const held = this.#roles.get(instanceId);
    if (held && held.until > nowSeconds && held.role !== role) {
      throw permissionDenied(
        `instance ${instanceId} holds ${held.role} identities; a process is served supervisor or worker identities, ` +
          'never both',
      );
    }
  }

  /** Records that `instanceId` was issued an identity of `role` valid until `until` (Unix seconds). */
  record(instanceId: string, role: Role, until: number, nowSeconds: number): void {
    const held = this.#roles.get(instanceId);
    if (held && held.role === role && held.until >= until) return;
    if (!held && this.#roles.size >= this.#maxSize) this.#prune(nowSeconds);
    this.#roles.set(instanceId, { role, until: held && held.role === role ? Math.max(held.until, until) : until });
  }

  #prune(nowSeconds: number): void {
    for (const [id, held] of this.#roles) if (held.until <= nowSeconds) this.#roles.delete(id);
  }
}
