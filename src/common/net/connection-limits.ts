/**
 * Caps on open connections: in total and per peer (a uid on the Workload API socket, a remote address on a TCP port),
 * so one peer cannot take every file descriptor and starve the others. Counting only; the listener decides what a
 * refusal does (it closes the connection at once, counts it in a metric and logs a rate-limited warning).
 */
export type ConnectionRefusal = 'total_limit' | 'peer_limit';

export interface ConnectionLimitsOptions {
  /** Open connections allowed in total. */
  readonly maxConnections: number;
  /** Open connections allowed per peer. */
  readonly maxConnectionsPerPeer: number;
}

export class ConnectionLimits {
  readonly maxConnections: number;
  readonly maxConnectionsPerPeer: number;
  readonly #perPeer = new Map<string, number>();
  #total = 0;

  constructor(options: ConnectionLimitsOptions) {
    for (const [name, value] of Object.entries(options)) {
      if (!Number.isSafeInteger(value) || value < 1) {
        throw new RangeError(`${name} must be a positive integer, got ${JSON.stringify(value)}`);
      }
    }
    this.maxConnections = options.maxConnections;
    this.maxConnectionsPerPeer = options.maxConnectionsPerPeer;
  }

  /** Takes a slot for `peer`, or says which cap is full (and takes nothing). */
  acquire(peer: string): ConnectionRefusal | undefined {
    const held = this.#perPeer.get(peer) ?? 0;
    if (held >= this.maxConnectionsPerPeer) return 'peer_limit';
    if (this.#total >= this.maxConnections) return 'total_limit';
    this.#perPeer.set(peer, held + 1);
    this.#total++;
    return undefined;
  }

  /** Gives back a slot taken by {@link acquire}. */
  release(peer: string): void {
    const held = this.#perPeer.get(peer);
    if (held === undefined) return;
    if (held <= 1) this.#perPeer.delete(peer);
    else this.#perPeer.set(peer, held - 1);
    this.#total--;
  }

  /** Open connections, in total or of one peer. */
  count(peer?: string): number {
    return peer === undefined ? this.#total : (this.#perPeer.get(peer) ?? 0);
  }
}
