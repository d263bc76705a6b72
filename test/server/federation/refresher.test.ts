import { afterEach, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { failedPrecondition, TesseraError, unavailable } from '../../../src/common/errors.js';
import { silentLogger } from '../../../src/common/log.js';
import type { BundleRecord } from '../../../src/server/datastore/index.js';
import type { EndpointAuth, FetchOptions } from '../../../src/server/federation/fetch.js';
import {
  DEFAULT_REFRESH_SECONDS,
  FederationRefresher,
  MAX_REFRESH_SECONDS,
} from '../../../src/server/federation/index.js';
import type { FederationRelationship } from '../../../src/server/federation/types.js';
import { SpiffeBundle } from '../../../src/spiffe/bundle/index.js';
import { TrustDomain } from '../../../src/spiffe/id/index.js';
import { CA_KU, mintCertificate, newRootCa, type TestCert } from '../../helpers/test-ca.js';

const OWN = 'a.test';
const T0 = Date.UTC(2026, 0, 1);
const FLOOR_S = 30;

// --- fakes of the refresher's seams ---

class MemRelationships {
  readonly map = new Map<string, FederationRelationship>();
  async get(td: string): Promise<FederationRelationship | null> {
    return this.map.get(td) ?? null;
  }
  async list(): Promise<FederationRelationship[]> {
    return [...this.map.values()].sort((a, b) => a.trustDomain.localeCompare(b.trustDomain));
  }
  set(rel: FederationRelationship): void {
    this.map.set(rel.trustDomain, rel);
  }
}

/** BundleStore.get/put with put's contract: FAILED_PRECONDITION when the stored sequence is higher; equal replaces. */
class MemBundles {
  readonly records = new Map<string, BundleRecord>();
  readonly puts: { trustDomain: string; document: string; sequence: number }[] = [];
  async get(td: string): Promise<BundleRecord | null> {
    return this.records.get(td) ?? null;
  }
  async list(): Promise<BundleRecord[]> {
    return [...this.records.values()].sort((a, b) => (a.trustDomain < b.trustDomain ? -1 : 1));
  }
  async put(td: string, document: string, sequence: number): Promise<BundleRecord> {
    const current = this.records.get(td);
    if (current && current.sequence > sequence) {
      throw failedPrecondition(`stored sequence ${current.sequence} is higher than ${sequence}`);
    }
    this.puts.push({ trustDomain: td, document, sequence });
    return this.write(td, document, sequence);
  }
  /** A write by someone else (an operator, another server): not counted in `puts`. */
  write(td: string, document: string, sequence: number): BundleRecord {
    const record = { trustDomain: td, document, sequence, updatedAt: Math.floor(Date.now() / 1000) };
    this.records.set(td, record);
    return record;
  }
}

type Answer = string | Error;

interface FetchCall {
  readonly url: string;
  readonly auth: EndpointAuth;
  readonly opts: FetchOptions;
  readonly atMs: number;
}

/** The fetch seam: answers per URL host (the trust domain's endpoint), queued answers first, then a default. */
class FakeFetch {
  readonly calls: FetchCall[] = [];
  readonly answers = new Map<string, Answer>();
  readonly queued = new Map<string, Answer[]>();
  /** Hosts whose fetch hangs until the signal aborts. */
  readonly hanging = new Set<string>();

  readonly fn = async (url: URL, auth: EndpointAuth, opts: FetchOptions): Promise<string> => {
    this.calls.push({ url: url.toString(), auth, opts, atMs: Date.now() });
    const host = url.hostname;
    if (this.hanging.has(host)) {
      return new Promise<string>((_resolve, reject) => {
        opts.signal?.addEventListener('abort', () => reject(unavailable('aborted')), { once: true });
      });
    }
    const answer = this.queued.get(host)?.shift() ?? this.answers.get(host);
    if (answer === undefined) throw unavailable(`cannot fetch ${url.toString()}: connection refused`);
    if (answer instanceof Error) throw answer;
    return answer;
  };

  callsFor(td: string): FetchCall[] {
    return this.calls.filter((c) => new URL(c.url).hostname === hostOf(td));
  }
}

const hostOf = (td: string): string => `bundles.${td}`;
const urlOf = (td: string): string => `https://${hostOf(td)}:8443/bundle`;

function relationship(td: string, endpointSpiffeId?: string): FederationRelationship {
  return {
    trustDomain: td,
    bundleEndpointUrl: urlOf(td),
    profile: endpointSpiffeId ? 'https_spiffe' : 'https_web',
    ...(endpointSpiffeId ? { endpointSpiffeId } : {}),
    createdAt: 1,
    updatedAt: 1,
  };
}

// --- certificates and documents ---

let roots: Record<'a1' | 'b1' | 'b2' | 'b3' | 'c1', TestCert>;

beforeAll(async () => {
  roots = {
    a1: await newRootCa('a.test'),
    b1: await newRootCa('b.test'),
    b2: await newRootCa('b.test'),
    b3: await newRootCa('b.test'),
    c1: await newRootCa('c.test'),
  };
});

function doc(
  td: string,
  authorities: TestCert[],
  extra: { sequence?: bigint; hint?: number } = {},
): string {
  return SpiffeBundle.fromParts({
    trustDomain: td,
    x509Authorities: authorities.map((a) => a.der),
    ...(extra.sequence !== undefined ? { sequenceNumber: extra.sequence } : {}),
    ...(extra.hint !== undefined ? { refreshHintSeconds: extra.hint } : {}),
  }).marshal();
}

const parsed = (td: string, document: string): SpiffeBundle => SpiffeBundle.parse(td, document);

// --- harness ---

interface Harness {
  readonly refresher: FederationRefresher;
  readonly relationships: MemRelationships;
  readonly bundles: MemBundles;
  readonly fetch: FakeFetch;
  readonly ownBundle: SpiffeBundle;
  /** Trust domains listeners were told about, in order. */
  readonly changes: string[];
}

let current: Harness | undefined;

function harness(
  options: { minRefreshSeconds?: number; fetch?: (url: URL, auth: EndpointAuth, opts: FetchOptions) => Promise<string> } = {},
): Harness {
  const relationships = new MemRelationships();
  const bundles = new MemBundles();
  const fetch = new FakeFetch();
  const ownBundle = SpiffeBundle.fromParts({ trustDomain: OWN, x509Authorities: [roots.a1.der], sequenceNumber: 1n });
  const refresher = new FederationRefresher({
    trustDomain: TrustDomain.parse(OWN),
    relationships,
    bundles,
    ownBundle: { currentBundle: () => ownBundle },
    minRefreshSeconds: options.minRefreshSeconds ?? FLOOR_S,
    clock: { now: () => new Date(Date.now()) },
    log: silentLogger(),
    fetch: options.fetch ?? fetch.fn,
  });
  const changes: string[] = [];
  refresher.onFederatedBundleChange((td) => changes.push(td));
  current = { refresher, relationships, bundles, fetch, ownBundle, changes };
  return current;
}

/** Lets every pending promise chain (fetch, store, notify) finish: one real macrotask turn. */
const settle = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

/** Advances the fake clock and timers by `ms`, letting each fired fetch finish. */
async function advance(ms: number): Promise<void> {
  await vi.advanceTimersByTimeAsync(ms);
  await settle();
}

async function refusal(p: Promise<unknown>): Promise<TesseraError> {
  try {
    await p;
  } catch (err) {
    expect(err).toBeInstanceOf(TesseraError);
    return err as TesseraError;
  }
  throw new Error('expected a refusal');
}

beforeEach(() => {
  vi.useFakeTimers({ now: T0, toFake: ['setTimeout', 'clearTimeout', 'Date'] });
  // No jitter unless a test says otherwise (Backoff reads Math.random when a peer is first tracked).
  vi.spyOn(Math, 'random').mockReturnValue(0.5);
});

afterEach(async () => {
  await current?.refresher.stop();
  current = undefined;
  vi.useRealTimers();
  vi.restoreAllMocks();
});

// --- tests ---

describe('static federated bundles (tessera bundle set: no relationship)', () => {
  it('serves a stored bundle without relationship from start, never fetches it, and follows reload', async () => {
    const h = harness();
    const cDoc = doc('c.test', [roots.c1]);
    h.bundles.write('c.test', cDoc, 1);
    h.bundles.write(OWN, doc(OWN, [roots.a1]), 1);
    await h.refresher.start();
    expect(h.refresher.federatedBundle('c.test')?.equals(parsed('c.test', cDoc))).toBe(true);
    expect(h.refresher.federatedBundle(OWN)).toBeUndefined();
    expect(h.refresher.status('c.test')).toBeUndefined();
    await advance(FLOOR_S * 1000);
    expect(h.fetch.calls).toHaveLength(0);

    // A static bundle set later (b.test), replaced, then deleted: each reload is announced to the listeners.
    const b1 = doc('b.test', [roots.b1]);
    h.bundles.write('b.test', b1, 1);
    await h.refresher.reload('b.test');
    expect(h.refresher.federatedBundle('b.test')?.equals(parsed('b.test', b1))).toBe(true);
    await h.refresher.reload('b.test');
    const b2 = doc('b.test', [roots.b2]);
    h.bundles.write('b.test', b2, 2);
    await h.refresher.reload('b.test');
    expect(h.refresher.federatedBundle('b.test')?.equals(parsed('b.test', b2))).toBe(true);
    h.bundles.records.delete('b.test');
    await h.refresher.reload('b.test');
    expect(h.refresher.federatedBundle('b.test')).toBeUndefined();
    expect(h.changes).toEqual(['b.test', 'b.test', 'b.test']);
    expect(h.fetch.calls).toHaveLength(0);
  });
});

describe('FederationRefresher.start', () => {
  it('serves the stored bundles at once, before any fetch, and then fetches each peer', async () => {
    const h = harness();
    const bDoc = doc('b.test', [roots.b1], { sequence: 3n });
    h.relationships.set(relationship('b.test'));
    h.relationships.set(relationship('c.test'));
    h.bundles.write('b.test', bDoc, 3);
    h.fetch.hanging.add(hostOf('b.test'));
    h.fetch.hanging.add(hostOf('c.test'));

    await h.refresher.start();
    expect(h.refresher.federatedBundle('b.test')?.equals(parsed('b.test', bDoc))).toBe(true);
    expect(h.refresher.federatedBundle('c.test')).toBeUndefined();
    expect(h.refresher.status('b.test')).toMatchObject({ bundleSequence: '3', nextRefreshAtMs: T0 });
    expect(h.refresher.status('c.test')).toEqual({ nextRefreshAtMs: T0 });
    expect(h.changes).toEqual(['b.test']);
    expect(h.fetch.calls).toHaveLength(0);

    await advance(0);
    expect(h.fetch.calls.map((c) => c.url).sort()).toEqual([urlOf('b.test'), urlOf('c.test')]);
    expect(h.fetch.calls.every((c) => c.auth.profile === 'https_web')).toBe(true);
    expect(h.fetch.calls.every((c) => c.opts.signal instanceof AbortSignal)).toBe(true);
  });

  it('stores a changed document under a higher row sequence, serves it and tells the listeners', async () => {
    const h = harness();
    const stored = doc('b.test', [roots.b1], { sequence: 1n });
    const fetched = doc('b.test', [roots.b1, roots.b2], { sequence: 2n });
    h.relationships.set(relationship('b.test'));
    h.bundles.write('b.test', stored, 5);
    h.fetch.answers.set(hostOf('b.test'), fetched);

    await h.refresher.start();
    h.changes.length = 0;
    await advance(0);

    expect(h.bundles.puts).toEqual([{ trustDomain: 'b.test', document: fetched, sequence: 6 }]);
    expect(h.refresher.federatedBundle('b.test')?.equals(parsed('b.test', fetched))).toBe(true);
    expect(h.changes).toEqual(['b.test']);
    expect(h.refresher.status('b.test')).toMatchObject({ bundleSequence: '2', lastAttemptAtMs: T0, lastSuccessAtMs: T0 });
    expect(h.refresher.status('b.test')?.lastError).toBeUndefined();
  });

  it('stores the first document of a peer that had none (row sequence 1)', async () => {
    const h = harness();
    const fetched = doc('b.test', [roots.b1]);
    h.relationships.set(relationship('b.test'));
    h.fetch.answers.set(hostOf('b.test'), fetched);

    await h.refresher.start();
    await advance(0);
    expect(h.bundles.puts).toEqual([{ trustDomain: 'b.test', document: fetched, sequence: 1 }]);
    expect(h.refresher.federatedBundle('b.test')?.equals(parsed('b.test', fetched))).toBe(true);
    expect(h.changes).toEqual(['b.test']);
    // No spiffe_sequence in the document: none reported.
    expect(h.refresher.status('b.test')?.bundleSequence).toBeUndefined();
  });

  it('stores nothing and tells nobody when the peer serves the stored bundle (even formatted differently)', async () => {
    const h = harness();
    const stored = doc('b.test', [roots.b1], { sequence: 4n, hint: 60 });
    h.relationships.set(relationship('b.test'));
    h.bundles.write('b.test', stored, 9);
    h.fetch.answers.set(hostOf('b.test'), JSON.stringify(JSON.parse(stored), null, 2));

    await h.refresher.start();
    h.changes.length = 0;
    await advance(0);
    await advance(60_000);

    expect(h.fetch.callsFor('b.test')).toHaveLength(2);
    expect(h.bundles.puts).toEqual([]);
    expect(h.changes).toEqual([]);
    expect(h.bundles.records.get('b.test')?.document).toBe(stored);
    expect(h.refresher.status('b.test')).toMatchObject({ lastSuccessAtMs: T0 + 60_000 });
  });

  it('serves, without storing again, a bundle another writer stored meanwhile', async () => {
    const h = harness();
    const v1 = doc('b.test', [roots.b1], { sequence: 1n });
    const v2 = doc('b.test', [roots.b1, roots.b2], { sequence: 2n });
    h.relationships.set(relationship('b.test'));
    h.bundles.write('b.test', v1, 1);
    h.fetch.answers.set(hostOf('b.test'), v2);
    await h.refresher.start();
    h.changes.length = 0;

    h.bundles.write('b.test', v2, 7); // another server fetched it first
    await advance(0);
    expect(h.bundles.puts).toEqual([]);
    expect(h.refresher.federatedBundle('b.test')?.equals(parsed('b.test', v2))).toBe(true);
    expect(h.changes).toEqual(['b.test']);
  });

  it('writes above a row sequence another writer raised meanwhile (put never refused)', async () => {
    const h = harness();
    const v1 = doc('b.test', [roots.b1], { sequence: 1n });
    const v3 = doc('b.test', [roots.b1, roots.b3], { sequence: 3n });
    h.relationships.set(relationship('b.test'));
    h.bundles.write('b.test', v1, 1);
    h.fetch.answers.set(hostOf('b.test'), v3);
    await h.refresher.start();

    h.bundles.write('b.test', doc('b.test', [roots.b1, roots.b2], { sequence: 2n }), 40);
    await h.refresher.refresh('b.test');
    expect(h.bundles.puts).toEqual([{ trustDomain: 'b.test', document: v3, sequence: 41 }]);
    expect(h.refresher.federatedBundle('b.test')?.equals(parsed('b.test', v3))).toBe(true);
  });
});

describe('FederationRefresher scheduling', () => {
  it.each<[string, number | undefined, number]>([
    ['the refresh hint', 600, 600],
    ['the floor for a shorter hint', 5, FLOOR_S],
    ['the floor for a zero hint', 0, FLOOR_S],
    ['the cap for a longer hint', 86_400, MAX_REFRESH_SECONDS],
    ['the default without a hint', undefined, DEFAULT_REFRESH_SECONDS],
  ])('fetches again after %s', async (_name, hint, expectedSeconds) => {
    const h = harness();
    h.relationships.set(relationship('b.test'));
    h.fetch.answers.set(hostOf('b.test'), doc('b.test', [roots.b1], hint === undefined ? {} : { hint }));
    await h.refresher.start();
    await advance(0);
    expect(h.fetch.calls).toHaveLength(1);
    expect(h.refresher.status('b.test')?.nextRefreshAtMs).toBe(T0 + expectedSeconds * 1000);

    await advance(expectedSeconds * 1000 - 1);
    expect(h.fetch.calls).toHaveLength(1);
    await advance(1);
    expect(h.fetch.calls.map((c) => c.atMs)).toEqual([T0, T0 + expectedSeconds * 1000]);
  });

  it('uses the hint of the bundle held when the fetched one is unchanged, and of the new one when it changed', async () => {
    const h = harness();
    const stored = doc('b.test', [roots.b1], { sequence: 1n, hint: 120 });
    const next = doc('b.test', [roots.b1, roots.b2], { sequence: 2n, hint: 900 });
    h.relationships.set(relationship('b.test'));
    h.bundles.write('b.test', stored, 1);
    h.fetch.queued.set(hostOf('b.test'), [stored, next]);
    h.fetch.answers.set(hostOf('b.test'), next);
    await h.refresher.start();
    await advance(0);
    expect(h.refresher.status('b.test')?.nextRefreshAtMs).toBe(T0 + 120_000);
    await advance(120_000);
    expect(h.refresher.status('b.test')?.nextRefreshAtMs).toBe(T0 + 120_000 + 900_000);
    expect(h.fetch.calls.map((c) => c.atMs)).toEqual([T0, T0 + 120_000]);
  });

  it('honours a larger floor', async () => {
    const h = harness({ minRefreshSeconds: 1200 });
    h.relationships.set(relationship('b.test'));
    h.fetch.answers.set(hostOf('b.test'), doc('b.test', [roots.b1], { hint: 60 }));
    await h.refresher.start();
    await advance(0);
    expect(h.refresher.status('b.test')?.nextRefreshAtMs).toBe(T0 + 1_200_000);
  });
});

describe('FederationRefresher failures', () => {
  it('keeps the last good bundle, records the error, retries from the floor doubling up to the normal interval', async () => {
    const h = harness();
    const stored = doc('b.test', [roots.b1], { sequence: 1n, hint: 300 });
    h.relationships.set(relationship('b.test'));
    h.bundles.write('b.test', stored, 1);
    h.fetch.answers.set(hostOf('b.test'), unavailable('cannot fetch: connection refused'));
    await h.refresher.start();
    h.changes.length = 0;

    const delays: number[] = [];
    await advance(0);
    for (let i = 0; i < 6; i++) {
      const status = h.refresher.status('b.test')!;
      expect(status.lastError).toContain('connection refused');
      const delay = status.nextRefreshAtMs! - Date.now();
      delays.push(delay);
      await advance(delay);
    }
    expect(delays).toEqual([30_000, 60_000, 120_000, 240_000, 300_000, 300_000]);
    expect(h.fetch.calls).toHaveLength(7);
    expect(h.refresher.federatedBundle('b.test')?.equals(parsed('b.test', stored))).toBe(true);
    expect(h.refresher.status('b.test')).toMatchObject({ bundleSequence: '1', lastAttemptAtMs: Date.now() });
    expect(h.refresher.status('b.test')?.lastSuccessAtMs).toBeUndefined();
    expect(h.bundles.puts).toEqual([]);
    expect(h.changes).toEqual([]);

    // A success clears the error and restores the normal interval; the next failure starts from the floor again.
    h.fetch.answers.set(hostOf('b.test'), stored);
    await advance(300_000);
    const ok = h.refresher.status('b.test')!;
    expect(ok.lastError).toBeUndefined();
    expect(ok.lastSuccessAtMs).toBe(Date.now());
    expect(ok.nextRefreshAtMs).toBe(Date.now() + 300_000);

    h.fetch.answers.set(hostOf('b.test'), unavailable('cannot fetch: connection reset'));
    await advance(300_000);
    expect(h.refresher.status('b.test')?.lastError).toContain('connection reset');
    expect(h.refresher.status('b.test')?.nextRefreshAtMs).toBe(Date.now() + 30_000);
  });

  it('retries no later than the default interval when no bundle is held', async () => {
    const h = harness({ minRefreshSeconds: 100 });
    h.relationships.set(relationship('b.test'));
    await h.refresher.start();
    const delays: number[] = [];
    await advance(0);
    for (let i = 0; i < 4; i++) {
      const delay = h.refresher.status('b.test')!.nextRefreshAtMs! - Date.now();
      delays.push(delay);
      await advance(delay);
    }
    expect(delays).toEqual([100_000, 200_000, DEFAULT_REFRESH_SECONDS * 1000, DEFAULT_REFRESH_SECONDS * 1000]);
  });

  it.each([0, 0.999999])('never retries before the floor nor after the interval, whatever the jitter (random %d)', async (r) => {
    vi.mocked(Math.random).mockReturnValue(r);
    const h = harness();
    h.relationships.set(relationship('b.test'));
    h.bundles.write('b.test', doc('b.test', [roots.b1], { hint: 100 }), 1);
    await h.refresher.start();
    await advance(0);
    const delays: number[] = [];
    for (let i = 0; i < 5; i++) {
      const delay = h.refresher.status('b.test')!.nextRefreshAtMs! - Date.now();
      delays.push(delay);
      await advance(delay);
    }
    for (const d of delays) {
      expect(d).toBeGreaterThanOrEqual(FLOOR_S * 1000);
      expect(d).toBeLessThanOrEqual(100_000);
    }
    expect(delays.at(-1)).toBe(100_000);
  });

  it('refresh() rejects with the fetch failure and keeps the bundle', async () => {
    const h = harness();
    const stored = doc('b.test', [roots.b1], { sequence: 1n });
    h.relationships.set(relationship('b.test'));
    h.bundles.write('b.test', stored, 1);
    h.fetch.answers.set(hostOf('b.test'), unavailable('https://bundles.b.test:8443/bundle answered HTTP 503'));
    await h.refresher.start();
    const err = await refusal(h.refresher.refresh('b.test'));
    expect(err.code).toBe('UNAVAILABLE');
    expect(h.refresher.status('b.test')?.lastError).toContain('HTTP 503');
    expect(h.refresher.federatedBundle('b.test')?.equals(parsed('b.test', stored))).toBe(true);
  });

  it('refresh() resolves with the status after a success', async () => {
    const h = harness();
    const fetched = doc('b.test', [roots.b1], { sequence: 8n, hint: 600 });
    h.relationships.set(relationship('b.test'));
    h.fetch.answers.set(hostOf('b.test'), fetched);
    await h.refresher.start();
    await expect(h.refresher.refresh('b.test')).resolves.toEqual({
      bundleSequence: '8',
      lastAttemptAtMs: T0,
      lastSuccessAtMs: T0,
      nextRefreshAtMs: T0 + 600_000,
    });
    // The scheduled initial fetch was replaced by the manual one, not run in addition.
    await advance(599_999);
    expect(h.fetch.calls).toHaveLength(1);
  });
});

describe('FederationRefresher refuses bad documents (FAILED_PRECONDITION, nothing changes)', () => {
  const cases: [string, () => string][] = [
    ['malformed JSON', () => '{"keys":['],
    ['a document that is not a SPIFFE bundle', () => '{"hello":"world"}'],
    ['an empty bundle', () => '{"keys":[],"spiffe_sequence":9}'],
    ['an X.509 authority of another trust domain', () => doc('b.test', [roots.b1, roots.c1], { sequence: 9n })],
    ['a lower spiffe_sequence than the stored one (rollback)', () => doc('b.test', [roots.b1, roots.b2], { sequence: 4n })],
  ];

  it.each(cases)('%s', async (_name, served) => {
    const h = harness();
    const stored = doc('b.test', [roots.b1], { sequence: 5n, hint: 300 });
    h.relationships.set(relationship('b.test'));
    h.bundles.write('b.test', stored, 5);
    h.fetch.answers.set(hostOf('b.test'), served());
    await h.refresher.start();
    h.changes.length = 0;

    const err = await refusal(h.refresher.refresh('b.test'));
    expect(err.code).toBe('FAILED_PRECONDITION');
    expect(err.message).toContain(urlOf('b.test'));
    expect(h.bundles.puts).toEqual([]);
    expect(h.bundles.records.get('b.test')?.document).toBe(stored);
    expect(h.changes).toEqual([]);
    expect(h.refresher.federatedBundle('b.test')?.equals(parsed('b.test', stored))).toBe(true);
    const status = h.refresher.status('b.test')!;
    expect(status.bundleSequence).toBe('5');
    expect(status.lastError).toBe(err.message);
    expect(status.nextRefreshAtMs).toBe(T0 + FLOOR_S * 1000);
  });

  it('refuses a rollback also on a scheduled fetch, and accepts the next higher sequence', async () => {
    const h = harness();
    const stored = doc('b.test', [roots.b1], { sequence: 5n });
    const higher = doc('b.test', [roots.b1, roots.b2], { sequence: 6n });
    h.relationships.set(relationship('b.test'));
    h.bundles.write('b.test', stored, 5);
    h.fetch.queued.set(hostOf('b.test'), [doc('b.test', [roots.b3], { sequence: 1n })]);
    h.fetch.answers.set(hostOf('b.test'), higher);
    await h.refresher.start();
    await advance(0);
    expect(h.refresher.status('b.test')?.lastError).toMatch(/rollback/);
    expect(h.refresher.federatedBundle('b.test')?.equals(parsed('b.test', stored))).toBe(true);
    await advance(FLOOR_S * 1000);
    expect(h.refresher.status('b.test')?.lastError).toBeUndefined();
    expect(h.refresher.federatedBundle('b.test')?.equals(parsed('b.test', higher))).toBe(true);
    expect(h.bundles.puts).toEqual([{ trustDomain: 'b.test', document: higher, sequence: 6 }]);
  });
});

describe('FederationRefresher https_spiffe authentication', () => {
  it('authenticates the endpoint with the stored bundle of its trust domain, then with the one it fetched', async () => {
    const h = harness();
    const stored = doc('b.test', [roots.b1], { sequence: 1n });
    const rotated = doc('b.test', [roots.b1, roots.b2], { sequence: 2n });
    h.relationships.set(relationship('b.test', 'spiffe://b.test/tessera/server'));
    h.bundles.write('b.test', stored, 1);
    h.fetch.answers.set(hostOf('b.test'), rotated);
    await h.refresher.start();
    await advance(0);
    await advance(DEFAULT_REFRESH_SECONDS * 1000);

    const [first, second] = h.fetch.calls;
    expect(first?.auth.profile).toBe('https_spiffe');
    if (first?.auth.profile !== 'https_spiffe' || second?.auth.profile !== 'https_spiffe') throw new Error('profile');
    expect(first.auth.endpointId.toString()).toBe('spiffe://b.test/tessera/server');
    expect(first.auth.bundle.trustDomain.name).toBe('b.test');
    expect(first.auth.bundle.equals(parsed('b.test', stored).x509Bundle)).toBe(true);
    expect(second.auth.bundle.equals(parsed('b.test', rotated).x509Bundle)).toBe(true);
  });

  it('authenticates an endpoint with an ID in our own trust domain with our own bundle', async () => {
    const h = harness();
    h.relationships.set(relationship('b.test', `spiffe://${OWN}/federation/b`));
    h.fetch.answers.set(hostOf('b.test'), doc('b.test', [roots.b1]));
    await h.refresher.start();
    await h.refresher.refresh('b.test');
    const auth = h.fetch.calls[0]!.auth;
    if (auth.profile !== 'https_spiffe') throw new Error('expected https_spiffe');
    expect(auth.endpointId.toString()).toBe(`spiffe://${OWN}/federation/b`);
    expect(auth.bundle).toBe(h.ownBundle.x509Bundle);
    expect(h.refresher.federatedBundle('b.test')?.trustDomain.name).toBe('b.test');
  });

  it("authenticates an endpoint with an ID in a third trust domain with that trust domain's bundle only", async () => {
    const h = harness();
    const cDoc = doc('c.test', [roots.c1], { sequence: 1n });
    h.relationships.set(relationship('b.test', 'spiffe://c.test/hosting/b'));
    h.relationships.set(relationship('c.test'));
    h.bundles.write('b.test', doc('b.test', [roots.b1]), 1);
    h.bundles.write('c.test', cDoc, 1);
    h.fetch.answers.set(hostOf('b.test'), doc('b.test', [roots.b1]));
    h.fetch.hanging.add(hostOf('c.test'));
    await h.refresher.start();
    await h.refresher.refresh('b.test');
    const auth = h.fetch.callsFor('b.test')[0]!.auth;
    if (auth.profile !== 'https_spiffe') throw new Error('expected https_spiffe');
    expect(auth.bundle.trustDomain.name).toBe('c.test');
    expect(auth.bundle.equals(parsed('c.test', cDoc).x509Bundle)).toBe(true);
  });

  it('is FAILED_PRECONDITION, without fetching, when no bundle of the endpoint trust domain is available', async () => {
    const h = harness();
    h.relationships.set(relationship('b.test', 'spiffe://b.test/tessera/server'));
    h.fetch.answers.set(hostOf('b.test'), doc('b.test', [roots.b1]));
    await h.refresher.start();
    const err = await refusal(h.refresher.refresh('b.test'));
    expect(err.code).toBe('FAILED_PRECONDITION');
    expect(h.fetch.calls).toHaveLength(0);
    expect(h.refresher.status('b.test')?.lastError).toBe(err.message);
    expect(h.refresher.federatedBundle('b.test')).toBeUndefined();
    // The scheduled attempts do not fetch either.
    await advance(0);
    await advance(FLOOR_S * 1000);
    expect(h.fetch.calls).toHaveLength(0);
  });

  it('is FAILED_PRECONDITION when the stored bundle of the endpoint trust domain has no X.509 authority', async () => {
    const h = harness();
    const jwtOnly = SpiffeBundle.fromParts({
      trustDomain: 'b.test',
      jwtAuthorities: [{ kid: 'k1', key: roots.b1.key.publicKey }],
    }).marshal();
    h.relationships.set(relationship('b.test', 'spiffe://b.test/tessera/server'));
    h.bundles.write('b.test', jwtOnly, 1);
    await h.refresher.start();
    expect(h.refresher.federatedBundle('b.test')?.jwtBundle.jwtAuthorities.size).toBe(1);
    const err = await refusal(h.refresher.refresh('b.test'));
    expect(err.code).toBe('FAILED_PRECONDITION');
    expect(h.fetch.calls).toHaveLength(0);
  });
});

describe('FederationRefresher control', () => {
  it('refresh() and status() of an unknown trust domain: NOT_FOUND and undefined', async () => {
    const h = harness();
    h.relationships.set(relationship('b.test'));
    await h.refresher.start();
    const err = await refusal(h.refresher.refresh('x.test'));
    expect(err.code).toBe('NOT_FOUND');
    expect(h.refresher.status('x.test')).toBeUndefined();
    expect(h.refresher.federatedBundle('x.test')).toBeUndefined();
    expect(h.fetch.calls).toHaveLength(0);
  });

  it('reload() after the relationship was deleted drops the bundle, tells the listeners and stops fetching', async () => {
    const h = harness();
    h.relationships.set(relationship('b.test'));
    h.bundles.write('b.test', doc('b.test', [roots.b1]), 1);
    h.fetch.answers.set(hostOf('b.test'), doc('b.test', [roots.b1]));
    await h.refresher.start();
    await advance(0);
    expect(h.fetch.calls).toHaveLength(1);
    h.changes.length = 0;

    // FederationStore.delete removes the relationship and its bundle in one transaction.
    h.relationships.map.delete('b.test');
    h.bundles.records.delete('b.test');
    await h.refresher.reload('b.test');
    expect(h.refresher.federatedBundle('b.test')).toBeUndefined();
    expect(h.refresher.status('b.test')).toBeUndefined();
    expect(h.changes).toEqual(['b.test']);
    await expect(h.refresher.refresh('b.test')).rejects.toMatchObject({ code: 'NOT_FOUND' });
    await advance(MAX_REFRESH_SECONDS * 1000 * 2);
    expect(h.fetch.calls).toHaveLength(1);
  });

  it('reload() of a deleted relationship whose fetch is in flight stores nothing', async () => {
    let release!: (document: string) => void;
    const pending = new Promise<string>((resolve) => (release = resolve));
    let calls = 0;
    const h = harness({
      fetch: () => {
        calls++;
        return pending;
      },
    });
    h.relationships.set(relationship('b.test'));
    await h.refresher.start();
    await advance(0);
    expect(calls).toBe(1);
    h.relationships.map.delete('b.test');
    await h.refresher.reload('b.test');
    release(doc('b.test', [roots.b1]));
    await settle();
    expect(h.bundles.puts).toEqual([]);
    expect(h.refresher.federatedBundle('b.test')).toBeUndefined();
    expect(h.changes).toEqual([]);
    expect(vi.getTimerCount()).toBe(0);
  });

  it('reload() after the operator replaced the stored bundle serves the new one at once', async () => {
    const h = harness();
    const old = doc('b.test', [roots.b1], { sequence: 3n });
    const operators = doc('b.test', [roots.b2], { sequence: 1n });
    h.relationships.set(relationship('b.test'));
    h.bundles.write('b.test', old, 3);
    h.fetch.hanging.add(hostOf('b.test'));
    await h.refresher.start();
    h.changes.length = 0;

    h.bundles.write('b.test', operators, 1);
    await h.refresher.reload('b.test');
    expect(h.refresher.federatedBundle('b.test')?.equals(parsed('b.test', operators))).toBe(true);
    expect(h.refresher.status('b.test')?.bundleSequence).toBe('1');
    expect(h.changes).toEqual(['b.test']);
  });

  it('reload() of a new or updated relationship fetches it at once from its current URL', async () => {
    const h = harness();
    await h.refresher.start();
    expect(h.refresher.status('b.test')).toBeUndefined();

    h.relationships.set(relationship('b.test'));
    h.fetch.answers.set(hostOf('b.test'), doc('b.test', [roots.b1]));
    await h.refresher.reload('b.test');
    expect(h.refresher.status('b.test')).toEqual({ nextRefreshAtMs: T0 });
    await advance(0);
    expect(h.fetch.calls.map((c) => c.url)).toEqual([urlOf('b.test')]);
    expect(h.refresher.federatedBundle('b.test')?.trustDomain.name).toBe('b.test');

    await advance(1000);
    h.relationships.set({ ...relationship('b.test'), bundleEndpointUrl: 'https://bundles.b.test:9443/v2' });
    await h.refresher.reload('b.test');
    await advance(0);
    expect(h.fetch.calls.map((c) => [c.url, c.atMs])).toEqual([
      [urlOf('b.test'), T0],
      ['https://bundles.b.test:9443/v2', T0 + 1000],
    ]);
  });

  it('ignores relationships naming our own trust domain', async () => {
    const h = harness();
    h.relationships.set({ ...relationship(OWN), bundleEndpointUrl: urlOf(OWN) });
    h.bundles.write(OWN, doc(OWN, [roots.a1]), 1);
    h.fetch.answers.set(hostOf(OWN), doc(OWN, [roots.a1, roots.b1]));
    await h.refresher.start();
    await h.refresher.reload(OWN);
    await advance(MAX_REFRESH_SECONDS * 1000);
    expect(h.fetch.calls).toHaveLength(0);
    expect(h.refresher.federatedBundle(OWN)).toBeUndefined();
    expect(h.refresher.status(OWN)).toBeUndefined();
    await expect(h.refresher.refresh(OWN)).rejects.toMatchObject({ code: 'NOT_FOUND' });
    expect(h.changes).toEqual([]);
    expect(h.bundles.puts).toEqual([]);
  });

  it('stop() cancels the timers: no fetch afterwards', async () => {
    const h = harness();
    h.relationships.set(relationship('b.test'));
    h.relationships.set(relationship('c.test'));
    h.fetch.answers.set(hostOf('b.test'), doc('b.test', [roots.b1]));
    h.fetch.answers.set(hostOf('c.test'), doc('c.test', [roots.c1]));
    await h.refresher.start();
    await advance(0);
    expect(h.fetch.calls).toHaveLength(2);
    await h.refresher.stop();
    expect(vi.getTimerCount()).toBe(0);
    await advance(MAX_REFRESH_SECONDS * 1000 * 2);
    expect(h.fetch.calls).toHaveLength(2);
    await h.refresher.reload('b.test');
    await advance(MAX_REFRESH_SECONDS * 1000);
    expect(h.fetch.calls).toHaveLength(2);
  });

  it('stop() aborts an in-flight fetch and stores nothing', async () => {
    const h = harness();
    h.relationships.set(relationship('b.test'));
    h.fetch.hanging.add(hostOf('b.test'));
    await h.refresher.start();
    await advance(0);
    expect(h.fetch.calls).toHaveLength(1);
    const signal = h.fetch.calls[0]!.opts.signal!;
    expect(signal.aborted).toBe(false);
    await h.refresher.stop();
    expect(signal.aborted).toBe(true);
    expect(vi.getTimerCount()).toBe(0);
    expect(h.bundles.puts).toEqual([]);
  });

  it('an unsubscribed listener is no longer told', async () => {
    const h = harness();
    const seen: string[] = [];
    const unsubscribe = h.refresher.onFederatedBundleChange((td) => seen.push(td));
    h.relationships.set(relationship('b.test'));
    h.fetch.queued.set(hostOf('b.test'), [doc('b.test', [roots.b1])]);
    h.fetch.answers.set(hostOf('b.test'), doc('b.test', [roots.b1, roots.b2]));
    await h.refresher.start();
    await advance(0);
    expect(seen).toEqual(['b.test']);
    unsubscribe();
    await h.refresher.refresh('b.test');
    expect(seen).toEqual(['b.test']);
    expect(h.changes).toEqual(['b.test', 'b.test']);
  });
});

describe('FederationRefresher never mixes trust domains', () => {
  it('parses, stores and serves each fetched document under its own relationship only', async () => {
    const h = harness();
    const bDoc = doc('b.test', [roots.b1], { sequence: 1n });
    const cDoc = doc('c.test', [roots.c1], { sequence: 1n });
    h.relationships.set(relationship('b.test'));
    h.relationships.set(relationship('c.test'));
    h.fetch.answers.set(hostOf('b.test'), bDoc);
    h.fetch.answers.set(hostOf('c.test'), cDoc);
    await h.refresher.start();
    await advance(0);

    const b = h.refresher.federatedBundle('b.test')!;
    const c = h.refresher.federatedBundle('c.test')!;
    expect(b.trustDomain.name).toBe('b.test');
    expect(b.x509Bundle.trustDomain.name).toBe('b.test');
    expect(b.x509Bundle.equals(parsed('b.test', bDoc).x509Bundle)).toBe(true);
    expect(c.trustDomain.name).toBe('c.test');
    expect(c.x509Bundle.hasAuthority(roots.b1.der)).toBe(false);
    expect(b.x509Bundle.hasAuthority(roots.c1.der)).toBe(false);
    expect(h.bundles.puts.map((p) => [p.trustDomain, p.document]).sort()).toEqual([
      ['b.test', bDoc],
      ['c.test', cDoc],
    ]);
    expect(h.refresher.federatedBundle(OWN)).toBeUndefined();
  });

  it("refuses a peer serving another trust domain's bundle, leaving both trust domains as they were", async () => {
    const h = harness();
    const bDoc = doc('b.test', [roots.b1], { sequence: 1n });
    const cDoc = doc('c.test', [roots.c1], { sequence: 1n });
    h.relationships.set(relationship('b.test'));
    h.relationships.set(relationship('c.test'));
    h.bundles.write('b.test', bDoc, 1);
    h.bundles.write('c.test', cDoc, 1);
    // c.test's endpoint serves b.test's bundle (its authority names spiffe://b.test), sequence bumped.
    h.fetch.answers.set(hostOf('c.test'), doc('b.test', [roots.b1], { sequence: 2n }));
    h.fetch.hanging.add(hostOf('b.test'));
    await h.refresher.start();
    h.changes.length = 0;

    const err = await refusal(h.refresher.refresh('c.test'));
    expect(err.code).toBe('FAILED_PRECONDITION');
    expect(h.refresher.federatedBundle('c.test')?.equals(parsed('c.test', cDoc))).toBe(true);
    expect(h.refresher.federatedBundle('b.test')?.equals(parsed('b.test', bDoc))).toBe(true);
    expect(h.bundles.puts).toEqual([]);
    expect(h.changes).toEqual([]);
  });

  it("serves an authority without a SPIFFE ID only under the trust domain whose endpoint served it", async () => {
    const h = harness();
    const anonymous = await mintCertificate({ subject: 'CN=anonymous root', ca: true, keyUsage: CA_KU });
    h.relationships.set(relationship('c.test'));
    h.fetch.answers.set(hostOf('c.test'), doc('c.test', [anonymous]));
    await h.refresher.start();
    await advance(0);
    expect(h.refresher.federatedBundle('c.test')?.x509Bundle.hasAuthority(anonymous.der)).toBe(true);
    expect(h.refresher.federatedBundle('c.test')?.trustDomain.name).toBe('c.test');
    expect(h.refresher.federatedBundle('b.test')).toBeUndefined();
  });
});
