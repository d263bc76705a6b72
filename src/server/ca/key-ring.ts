import type { KeyObject } from 'node:crypto';
import { failedPrecondition, isTesseraError } from '../../common/errors.js';
import type { Logger } from '../../common/log.js';
import type { KeyRecord, KeyStateChange, KeyStore } from '../datastore/index.js';
import type { KeyFiles } from './key-files.js';
import type { KeyKindOps, OwnKey } from './key-ring-types.js';
import { activateAtMs, bundleExpiryMs, prepareAtMs } from './schedule.js';

/** A forced activation (see {@link KeyRing.activateNow}): the key now active and the one it retired. */
export interface ActivationResult {
  readonly activated: KeyRecord;
  readonly retired: KeyRecord | undefined;
}

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
  /**
   * When the prepared key was first seen in the published bundle (ms). Keys prepared by this process: the step that
   * saw it after the bundle sync. Keys loaded at start: their start time (they were published in the step that
   * created them), still counted only once {@link notePublished} sees them published.
   */
  #preparedPublishedAtMs: number | undefined;
  #preparedSeen = false;
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

  /** When the prepared key was first seen published (ms), or undefined while it is not (or there is none). */
  get preparedPublishedAtMs(): number | undefined {
    return this.#prepared && this.#preparedSeen ? this.#preparedPublishedAtMs : undefined;
  }

  /** Retired records still kept (in the bundle until notAfter + grace), oldest first. */
  get retired(): readonly KeyRecord[] {
    return this.#retired;
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
    this.#setPrepared(newest && (await this.#loadKey(newest)));
    if (this.#prepared) this.#preparedPublishedAtMs = this.#prepared.lifetime.startMs;
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
      this.#setPrepared(undefined);
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
      this.#publishedLongEnough(nowMs, minPublishMs) &&
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
    else due.push(Math.max(activateAtMs(active), (this.preparedPublishedAtMs ?? nowMs) + minPublishMs));
    return Math.min(...due);
  }

  /** Called after every bundle sync: records when the prepared key first appears in the published bundle. */
  notePublished(nowMs: number, published: (record: KeyRecord) => boolean): void {
    if (!this.#prepared || this.#preparedSeen || !published(this.#prepared.record)) return;
    this.#preparedSeen = true;
    this.#preparedPublishedAtMs ??= nowMs;
  }

  /**
   * Operator-forced preparation: creates the next key now (FAILED_PRECONDITION when one is already prepared). It is
   * published by the bundle sync that follows, like a scheduled one.
   */
  async prepareNow(nowMs: number): Promise<KeyRecord> {
    const { label } = this.#o.ops;
    if (this.#prepared) {
      const id = JSON.stringify(this.#prepared.record.id);
      throw failedPrecondition(`${label} key ${id} is already prepared; activate it before preparing another`);
    }
    await this.#create(new Date(nowMs), 'prepared');
    return this.#prepared!.record;
  }

  /**
   * Operator-forced activation of the prepared key, ahead of its 5/6 schedule. FAILED_PRECONDITION when none is
   * prepared, or when it has not been in the published bundle for `minPublishMs` (one refresh hint) yet: relying
   * parties that poll the bundle at the refresh hint might not hold it, and would refuse what it signs.
   */
  async activateNow(nowMs: number, minPublishMs: number): Promise<ActivationResult> {
    const { label } = this.#o.ops;
    const prepared = this.#prepared;
    if (!prepared) throw failedPrecondition(`no ${label} key is prepared; prepare one first`);
    const id = JSON.stringify(prepared.record.id);
    if (nowMs >= prepared.lifetime.notAfterMs) throw failedPrecondition(`prepared ${label} key ${id} has expired`);
    const hintSeconds = Math.ceil(minPublishMs / 1000);
    const publishedAt = this.preparedPublishedAtMs;
    if (publishedAt === undefined) {
      throw failedPrecondition(
        `prepared ${label} key ${id} is not in the published bundle yet; it can be activated one refresh hint ` +
          `(${hintSeconds} s) after it is, so relying parties polling at the refresh hint hold it before it signs`,
      );
    }
    if (!this.#publishedLongEnough(nowMs, minPublishMs)) {
      const remaining = Math.ceil((publishedAt + minPublishMs - nowMs) / 1000);
      throw failedPrecondition(
        `prepared ${label} key ${id} can be activated in ${remaining} s: it must have been in the published bundle ` +
          `for one refresh hint (${hintSeconds} s), because relying parties polling at the refresh hint may not hold ` +
          'it yet',
      );
    }
    const previous = this.#active?.record;
    await this.#activatePrepared();
    const retired = previous && this.#retired.find((r) => r.id === previous.id);
    return { activated: this.#active!.record, retired };
  }

  #publishedLongEnough(nowMs: number, minPublishMs: number): boolean {
    const publishedAt = this.preparedPublishedAtMs;
    return publishedAt !== undefined && nowMs >= publishedAt + minPublishMs;
  }

  #setPrepared(key: OwnKey<M> | undefined): void {
    this.#prepared = key;
    this.#preparedPublishedAtMs = undefined;
    this.#preparedSeen = false;
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
    else this.#setPrepared(key);
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
    this.#setPrepared(undefined);
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
