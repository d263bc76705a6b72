import { permissionDenied } from '../../../common/errors.js';
import type { InstanceRoleStore, Role } from '../../datastore/index.js';

/** Claims cached in memory (a claim never changes once made, so a cached one is never stale). */
const DEFAULT_CACHE_SIZE = 100_000;

/**
 * The server's half of supervisor rule 1 (architecture §5) and of "one role for life" (issue 10 item 4): a process
 * instance is issued supervisor identities or worker identities, never both, whatever an agent asks for and however
 * long after its earlier SVIDs expired. The first issuance claims the role in the datastore (durable across restarts
 * and shared by every server on the same database); later ones must ask for the same role, from the same agent.
 */
export class InstanceRoles {
  readonly #store: Pick<InstanceRoleStore, 'claim'>;
  readonly #cache = new Map<string, { role: Role; agentId: string }>();
  readonly #cacheSize: number;

  constructor(store: Pick<InstanceRoleStore, 'claim'>, cacheSize = DEFAULT_CACHE_SIZE) {
    this.#store = store;
    this.#cacheSize = cacheSize;
  }

  /** Claims `role` for `instanceId` (first issuance) or checks it; PERMISSION_DENIED for the other role or agent. */
  async claim(instanceId: string, role: Role, agentId: string, nowSeconds: number): Promise<void> {
    let held = this.#cache.get(instanceId);
    if (!held) {
      const record = await this.#store.claim({ instanceId, role, agentId, nowSeconds });
      held = { role: record.role, agentId: record.agentId };
      if (this.#cache.size >= this.#cacheSize) this.#cache.clear();
      this.#cache.set(instanceId, held);
    }
    if (held.agentId !== agentId) {
      throw permissionDenied(`instance ${JSON.stringify(instanceId)} is served by another agent`);
    }
    if (held.role !== role) {
      throw permissionDenied(
        `instance ${JSON.stringify(instanceId)} was issued ${held.role} identities and keeps that role for life; ` +
          `a process is served supervisor or worker identities, never both`,
      );
    }
  }
}
