import type { Logger } from '../../common/log.js';
import type { EntryChange, EntryChangeListener } from './entries.js';

/** Listener registry for EntryStore.onChange: a throwing listener is logged and does not stop the others. */
export class ChangeFeed {
  readonly #listeners = new Set<EntryChangeListener>();
  readonly #log: Logger | undefined;

  constructor(log?: Logger) {
    this.#log = log;
  }

  subscribe(listener: EntryChangeListener): () => void {
    // Wrap so the same function subscribed twice gets two independent subscriptions.
    const wrapped: EntryChangeListener = (change) => listener(change);
    this.#listeners.add(wrapped);
    return () => void this.#listeners.delete(wrapped);
  }

  emit(changes: readonly EntryChange[]): void {
    for (const change of changes) {
      for (const listener of [...this.#listeners]) {
        try {
          listener(change);
        } catch (err) {
          if (this.#log) this.#log.error({ err, entryId: change.entry.id }, 'Entry change listener failed');
          else process.emitWarning(`entry change listener failed: ${String(err)}`);
        }
      }
    }
  }
}
