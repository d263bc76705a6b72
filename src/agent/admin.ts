import { unlink } from 'node:fs/promises';
import * as grpc from '@grpc/grpc-js';
import { loadService } from '../common/grpc/protos.js';
import type { Logger } from '../common/log.js';
import { bindUnixSocket } from '../common/unix-socket.js';
import type { InstanceInfo } from './manager/manager.js';

export const AGENT_ADMIN_PROTO = 'tessera/agentadmin/v1/instance.proto';
export const AGENT_ADMIN_SERVICE = 'tessera.agentadmin.v1.InstanceService';
export const AGENT_ADMIN_SOCKET_NAME = 'admin.sock';

export interface AgentAdminApiOptions {
  readonly socketPath: string;
  readonly instances: () => InstanceInfo[];
  readonly log: Logger;
  /** Installed on the gRPC server (metrics). */
  readonly interceptors?: grpc.ServerInterceptor[];
}

export interface AgentAdminApi {
  stop(): Promise<void>;
}

/** The ListInstances answer: one row per live instance, SVIDs with expiry (never keys or certificates). */
export function instancesMessage(instances: readonly InstanceInfo[]) {
  return {
    instances: instances.map((i) => {
      const supervisor = i.svids.find((s) => s.supervisorInstanceId !== undefined)?.supervisorInstanceId ?? '';
      return {
        instance_id: i.instanceId,
        pid: i.pid,
        role: i.svids.some((s) => s.role === 'supervisor') ? 'supervisor' : 'worker',
        supervisor_instance_id: supervisor,
        svids: i.svids.map((s) => ({
          entry_id: s.entryId,
          spiffe_id: s.spiffeId,
          serial: s.serial,
          expires_at: Math.floor(s.notAfter.getTime() / 1000),
          supervisor_instance_id: s.supervisorInstanceId ?? '',
        })),
      };
    }),
  };
}

/**
 * The agent's local admin API (tessera.agentadmin.v1.InstanceService) on a Unix socket that is 0600 before it appears
 * at its path (bindUnixSocket): only the agent's user (and root) may list instances. A stale socket file from an
 * earlier run is replaced; a live one, or any other file at the path, is an error.
 */
export async function startAgentAdminApi(options: AgentAdminApiOptions): Promise<AgentAdminApi> {
  const path = options.socketPath;
  const server = new grpc.Server({ interceptors: options.interceptors ?? [] });
  server.addService(loadService(AGENT_ADMIN_PROTO, AGENT_ADMIN_SERVICE).definition, {
    ListInstances: (_call: grpc.ServerUnaryCall<object, object>, callback: grpc.sendUnaryData<object>) => {
      try {
        callback(null, instancesMessage(options.instances()));
      } catch (err) {
        options.log.error({ err }, 'ListInstances failed');
        callback({ code: grpc.status.INTERNAL, details: 'could not list instances' });
      }
    },
  });
  await bindUnixSocket(
    { path, mode: 0o600, dirMode: 0o700, what: 'agent admin socket' },
    (bindPath) =>
      new Promise<void>((resolve, reject) =>
        server.bindAsync(`unix:${bindPath}`, grpc.ServerCredentials.createInsecure(), (err) => (err ? reject(err) : resolve())),
      ),
    async (bindPath) => server.unbind(`unix:${bindPath}`),
  );
  options.log.info({ socketPath: path }, 'Agent admin API listening');
  return {
    stop: () =>
      new Promise<void>((resolve) => {
        server.tryShutdown(() => {
          unlink(path).catch(() => {});
          resolve();
        });
      }),
  };
}
