import type { Logger } from '../../../common/log.js';
import type { AgentRecord, AgentStore } from '../../datastore/index.js';
import type { AgentChangeEvents } from './config.js';

export type AgentWatchListener = (record: AgentRecord | null) => void;

/**
 * Tells open sync streams about their agent's record (ban, eviction, new selectors after re-attestation). One timer
 * for all streams re-reads each watched agent every `intervalMs`; an AgentChangeEvents push, when wired, triggers the
 * read at once. The timer runs only while something is watched.
 */
export class AgentWatcher {
  readonly #agents: Pick<AgentStore, 'get'>;
  readonly #intervalMs: number;
  readonly #events: AgentChangeEvents | undefined;
  readonly #log: Logger;
  readonly #watchers = new Map<string, Set<AgentWatchListener>>();
  #timer: NodeJS.Timeout | undefined;
  #unsubscribeEvents: (() => void) | undefined;

  constructor(agents: Pick<AgentStore, 'get'>, intervalMs: number, events: AgentChangeEvents | undefined, log: Logger) {
    this.#agents = agents;
    this.#intervalMs = intervalMs;
    this.#events = events;
    this.#log = log;
  }

  /** Number of agents watched (tests check that closed streams leave nothing behind). */
  get watchedAgents(): number {
    return this.#watchers.size;
  }

  watch(agentId: string, listener: AgentWatchListener): () => void {
    let set = this.#watchers.get(agentId);
    if (!set) this.#watchers.set(agentId, (set = new Set()));
    const wrapped: AgentWatchListener = (record) => listener(record);
    set.add(wrapped);
    this.#start();
    return () => {
      set.delete(wrapped);
      if (set.size === 0 && this.#watchers.get(agentId) === set) this.#watchers.delete(agentId);
      if (this.#watchers.size === 0) this.#stop();
    };
  }

  #start(): void {
    if (this.#timer) return;
    this.#timer = setInterval(() => void this.#checkAll(), this.#intervalMs);
    this.#timer.unref();
    this.#unsubscribeEvents = this.#events?.onAgentChange((id) => void this.#check(id));
  }

  #stop(): void {
    if (this.#timer) clearInterval(this.#timer);
    this.#timer = undefined;
    this.#unsubscribeEvents?.();
    this.#unsubscribeEvents = undefined;
  }

  async #checkAll(): Promise<void> {
    for (const id of [...this.#watchers.keys()]) await this.#check(id);
  }

  async #check(agentId: string): Promise<void> {
    if (!this.#watchers.has(agentId)) return;
    let record: AgentRecord | null;
    try {
      record = await this.#agents.get(agentId);
    } catch (err) {
      this.#log.warn({ err, agentId }, 'Agent record could not be read; will retry');
      return;
    }
    for (const listener of [...(this.#watchers.get(agentId) ?? [])]) {
      try {
        listener(record);
      } catch (err) {
        this.#log.error({ err, agentId }, 'Agent watch listener failed');
      }
    }
  }
}
