import { unlink } from 'node:fs/promises';
import * as grpc from '@grpc/grpc-js';
import { invalidArgument } from '../common/errors.js';
import { loadService } from '../common/grpc/protos.js';
import { toStatus } from '../common/grpc/status.js';
import type { Logger } from '../common/log.js';
import { bindUnixSocket } from '../common/unix-socket.js';
import { selectorKey } from './manager/matching.js';
import type { InstanceInfo, ProcessExplanation } from './manager/manager.js';

export const AGENT_ADMIN_PROTO = 'tessera/agentadmin/v1/instance.proto';
export const AGENT_ADMIN_SERVICE = 'tessera.agentadmin.v1.InstanceService';
export const AGENT_ADMIN_SOCKET_NAME = 'admin.sock';

export interface AgentAdminApiOptions {
  readonly socketPath: string;
  readonly instances: () => InstanceInfo[];
  /** `tessera entry explain --pid` (WorkloadManager.explain). */
  readonly explain: (pid: number) => Promise<ProcessExplanation>;
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

/** Linux pids are at most 2^22 (pid_max). */
const MAX_PID = 4_194_304;

/** The ExplainProcess pid: a positive integer no larger than Linux's pid_max limit. */
export function parseExplainPid(value: unknown): number {
  if (value === undefined || value === 0) throw invalidArgument('pid is required (a positive process ID)');
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 1 || value > MAX_PID) {
    throw invalidArgument(`pid ${JSON.stringify(value)} is not a process ID (1 to ${MAX_PID})`);
  }
  return value;
}

/** The ExplainProcess answer (tessera.agentadmin.v1.ExplainProcessResponse). */
export function explanationMessage(e: ProcessExplanation) {
  return {
    pid: e.pid,
    selectors: e.selectors.map(selectorKey),
    instance_id: e.instanceId ?? '',
    lineage_known: e.lineageKnown,
    applies: e.applies,
    refusal: e.refusal ?? '',
    entries: e.entries.map((x) => ({
      entry_id: x.entryId,
      spiffe_id: x.spiffeId,
      role: x.role,
      verdict: x.verdict,
      missing_selectors: x.missing,
      reason: x.reason ?? '',
    })),
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
    ExplainProcess: (call: grpc.ServerUnaryCall<{ pid?: unknown }, object>, callback: grpc.sendUnaryData<object>) => {
      Promise.resolve()
        .then(() => options.explain(parseExplainPid(call.request.pid)))
        .then(
          (e) => callback(null, explanationMessage(e)),
          (err: unknown) => callback(toStatus(err, options.log)),
        );
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
