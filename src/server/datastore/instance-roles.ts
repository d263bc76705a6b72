import type { Role } from './entries.js';

/** The role a process instance was first issued, for its whole life (architecture §5 rule 1; issue 10 item 4). */
export interface InstanceRoleRecord {
  readonly instanceId: string;
  readonly role: Role;
  /** The agent that serves the instance (instance IDs are its own). */
  readonly agentId: string;
  readonly claimedAt: number;
}

export interface InstanceRoleStore {
  /**
   * Claims `role` for `instanceId` unless it has a record already, in one atomic statement; returns the record that
   * holds (the earlier one when there was one, whatever its role or agent). Records never expire with the SVIDs: an
   * instance keeps its role until it ends.
   */
  claim(input: { instanceId: string; role: Role; agentId: string; nowSeconds: number }): Promise<InstanceRoleRecord>;
}
