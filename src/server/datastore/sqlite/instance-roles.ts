import type { InstanceRoleRecord, InstanceRoleStore } from '../instance-roles.js';
import type { Role } from '../entries.js';
import type { SqliteContext } from './context.js';

interface RoleRow {
  instance_id: string;
  role: Role;
  agent_id: string;
  claimed_at: number;
}

/** First claim wins, across connections and processes: INSERT … ON CONFLICT DO NOTHING, then the row that holds. */
const CLAIM = `
  INSERT INTO instance_roles (instance_id, role, agent_id, claimed_at) VALUES (@instanceId, @role, @agentId, @now)
  ON CONFLICT (instance_id) DO NOTHING`;

export class SqliteInstanceRoleStore implements InstanceRoleStore {
  readonly #ctx: SqliteContext;

  constructor(ctx: SqliteContext) {
    this.#ctx = ctx;
  }

  async claim(input: { instanceId: string; role: Role; agentId: string; nowSeconds: number }): Promise<InstanceRoleRecord> {
    return this.#ctx.write(() => {
      this.#ctx.stmt(CLAIM).run({ instanceId: input.instanceId, role: input.role, agentId: input.agentId, now: input.nowSeconds });
      const row = this.#ctx.stmt('SELECT * FROM instance_roles WHERE instance_id = ?').get(input.instanceId) as RoleRow;
      return { instanceId: row.instance_id, role: row.role, agentId: row.agent_id, claimedAt: row.claimed_at };
    });
  }
}
