import type { KeyObject } from 'node:crypto';
import { failedPrecondition, isTesseraError } from '../../common/errors.js';
import type { Logger } from '../../common/log.js';
import type { KeyRecord, KeyStateChange, KeyStore } from '../datastore/index.js';
import type { KeyFiles } from './key-files.js';
import type { KeyKindOps, OwnKey } from './key-ring-types.js';
import { activateAtMs, bundleExpiryMs, prepareAtMs } from './schedule.js';

export interface RotationResult {
  /** A key was created, activated, retired or deleted. */
  readonly changed: boolean;
  /** The active key is a different one. */
  readonly activeChanged: boolean;
}

export interface KeyRingOptions<M> {
  readonly ops: KeyKindOps<M>;
  readonly serverId: string;
  readonly keys: KeyStore;
  readonly files: KeyFiles;
  readonly log: Logger;
}

/**
 * This server's keys of one kind (X.509 CA or JWT) and their two-phase rotation (schedule.ts): at most one active and
 * one prepared key with their private keys loaded, plus the retired records waiting for deletion. Every state change
 * is written to the KeyStore first and applied in memory only when the write succeeded. Private key files are
 * written before their record is inserted and removed when the key is retired (a retired key never signs again).
 */
export class KeyRing<M> {
  readonly #o: KeyRingOptions<M>;
  #active: OwnKey<M> | undefined;
  #prepared: OwnKey<M> | undefined;
  #retired: KeyRecord[] = [];

  constructor(o: KeyRingOptions<M>) {
    this.#o = o;
  }

  get active(): OwnKey<M> | undefined {
    return this.#active;
  }

  get prepared(): OwnKey<M> | undefined {
    return this.#prepared;
  }

  /**
   * Loads this server's records and the private keys of the active and prepared ones. A missing, corrupt or
   * mismatched key file is FAILED_PRECONDITION naming the file.
   */
  async load(): Promise<void> {
    const { ops, serverId, keys } = this.#o;
    const records = await keys.list({ kind: ops.kind, serverId });
    this.#retired = records.filter((r) => r.state === 'retired');
    const active = records.find((r) => r.state === 'active');
    const prepared = records.filter((r) => r.state === 'prepared');
    this.#active = active && (await this.#loadKey(active));
    // Only one prepared key is ever kept; older ones (a torn rotation) are retired.
    const newest = prepared.pop();
    this.#prepared = newest && (await this.#loadKey(newest));
    if (prepared.length > 0) await this.#retire(prepared);
  }

  /**
   * One rotation step at `nowMs`. `published` tells whether a key is in the bundle relying parties fetch;
   * `minPublishMs` is how long a prepared key must have been published before it may be activated (the refresh hint).
   */
  async rotate(
    nowMs: number,
    published: (record: KeyRecord) => boolean,
    minPublishMs: number,
  ): Promise<RotationResult> {
    const { ops, log } = this.#o;
    let changed = false;
    let activeChanged = false;
    if (this.#prepared && nowMs >= this.#prepared.lifetime.notAfterMs) {
      log.warn({ keyId: this.#prepared.record.id }, `Prepared ${ops.label} key expired before activation`);
      await this.#retire([this.#prepared.record]);
      this.#prepared = undefined;
      changed = true;
    }
    if (this.#active && nowMs >= this.#active.lifetime.notAfterMs) {
      log.warn({ keyId: this.#active.record.id }, `Active ${ops.label} key expired before it was rotated`);
      await this.#retire([this.#active.record]);
      this.#active = undefined;
      changed = true;
    }
    if (!this.#active) {
      if (this.#prepared) await this.#activatePrepared();
      else await this.#create(new Date(nowMs), 'active');
      return { changed: true, activeChanged: true };
    }
    const active = this.#active.lifetime;
    if (!this.#prepared) {
      if (nowMs >= prepareAtMs(active)) {
        await this.#create(new Date(nowMs), 'prepared');
        changed = true;
      }
    } else if (
      nowMs >= activateAtMs(active) &&
      nowMs >= this.#prepared.lifetime.startMs + minPublishMs &&
      published(this.#prepared.record)
    ) {
      await this.#activatePrepared();
      changed = activeChanged = true;
    }
    return { changed, activeChanged };
  }

  /** Deletes the records (and any leftover files) of retired keys that left the bundle. */
  async purge(nowMs: number): Promise<boolean> {
    const expired = this.#retired.filter((r) => nowMs > bundleExpiryMs(r.notAfter * 1000));
    for (const record of expired) {
      await this.#o.keys.delete(record.id);
      await this.#o.files.remove(record.privateKeyFile);
      this.#o.log.info({ keyId: record.id }, `Deleted expired ${this.#o.ops.label} key`);
    }
    this.#retired = this.#retired.filter((r) => !expired.includes(r));
    return expired.length > 0;
  }

  /** The next time (ms) something is due, for the timer. */
  nextDueMs(nowMs: number, minPublishMs: number): number {
    const due: number[] = this.#retired.map((r) => bundleExpiryMs(r.notAfter * 1000) + 1);
    if (!this.#active) return nowMs;
    const active = this.#active.lifetime;
    due.push(active.notAfterMs);
    if (!this.#prepared) due.push(prepareAtMs(active));
    else due.push(Math.max(activateAtMs(active), this.#prepared.lifetime.startMs + minPublishMs));
    return Math.min(...due);
  }

  async #create(now: Date, state: 'prepared' | 'active'): Promise<void> {
    const { ops, serverId, keys, files, log } = this.#o;
    const created = await ops.create(now);
    const privateKeyFile = await files.write(ops.fileStem(created.id), created.privateKey);
    let record: KeyRecord;
    try {
      record = await keys.insert({
        id: created.id,
        kind: ops.kind,
        serverId,
        state,
        publicMaterial: created.publicMaterial,
        privateKeyFile,
        notAfter: created.notAfterSeconds,
      });
    } catch (err) {
      await files.remove(privateKeyFile);
      throw err;
    }
    const key: OwnKey<M> = { record, lifetime: ops.lifetime(record), material: created.material };
    if (state === 'active') this.#active = key;
    else this.#prepared = key;
    log.info(
      { keyId: record.id, file: privateKeyFile, notAfter: new Date(key.lifetime.notAfterMs).toISOString() },
      state === 'active' ? `Created ${ops.label} key as active` : `Prepared ${ops.label} key`,
    );
  }

  async #activatePrepared(): Promise<void> {
    const next = this.#prepared!;
    const previous = this.#active;
    const changes: KeyStateChange[] = [{ id: next.record.id, state: 'active' }];
    if (previous) changes.push({ id: previous.record.id, state: 'retired' });
    const updated = await this.#o.keys.setState(changes);
    this.#active = { ...next, record: updated[0]! };
    this.#prepared = undefined;
    if (previous) await this.#afterRetired(updated[1]!);
    this.#o.log.info(
      { keyId: next.record.id, retiredKeyId: previous?.record.id },
      `Activated ${this.#o.ops.label} key`,
    );
  }

  async #retire(records: readonly KeyRecord[]): Promise<void> {
    const updated = await this.#o.keys.setState(records.map((r) => ({ id: r.id, state: 'retired' as const })));
    for (const r of updated) await this.#afterRetired(r);
  }

  async #afterRetired(record: KeyRecord): Promise<void> {
    this.#retired.push(record);
    await this.#o.files.remove(record.privateKeyFile);
  }

  async #loadKey(record: KeyRecord): Promise<OwnKey<M>> {
    const { ops, files } = this.#o;
    const privateKey: KeyObject = await files.read(record.privateKeyFile);
    try {
      return { record, lifetime: ops.lifetime(record), material: ops.material(record, privateKey) };
    } catch (err) {
      const detail = isTesseraError(err) ? err.message : 'it cannot be used';
      throw failedPrecondition(
        `private key file ${JSON.stringify(record.privateKeyFile)} of ${record.state} ${ops.label} key ` +
          `${JSON.stringify(record.id)}: ${detail}`,
        { cause: err },
      );
    }
  }
}
