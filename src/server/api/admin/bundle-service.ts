import type * as grpc from '@grpc/grpc-js';
import { failedPrecondition, invalidArgument, notFound, unavailable } from '../../../common/errors.js';
import { SpiffeBundle } from '../../../spiffe/bundle/index.js';
import type { TrustDomain } from '../../../spiffe/id/index.js';
import type { BundleRecord, Entry } from '../../datastore/index.js';
import { parseOperatorBundle } from '../../federation/operator-bundle.js';
import { parseTrustDomainField } from '../../federation/relationship-input.js';
import type { AdminContext } from './config.js';
import type { Incoming } from './messages.js';
import { type Serializer, unary } from './unary.js';

type DeleteMode = 'restrict' | 'dissociate' | 'delete';

const DELETE_MODES: Record<string, DeleteMode> = {
  BUNDLE_DELETE_MODE_UNSPECIFIED: 'restrict',
  BUNDLE_DELETE_MODE_RESTRICT: 'restrict',
  BUNDLE_DELETE_MODE_DISSOCIATE: 'dissociate',
  BUNDLE_DELETE_MODE_DELETE: 'delete',
};

const q = JSON.stringify;

/**
 * tessera.admin.v1.BundleService: the trust domain's current bundle as the CA publishes it, and federated trust
 * domains' bundles (list, show, set, delete). Federated bundle writes share the entry write queue (delete may change
 * entries) and are announced to the refresher, which serves a bundle without relationship as a static one.
 */
export function bundleService(ctx: AdminContext, writes: Serializer): grpc.UntypedServiceImplementation {
  const { log, bundleStore, federation, entries } = ctx;

  function foreignTrustDomain(value: unknown): TrustDomain {
    const td = parseTrustDomainField('trust_domain', value);
    if (td.equals(ctx.trustDomain)) {
      throw invalidArgument(
        `trust_domain ${q(td.name)} is this server's own trust domain; its bundle is the CA's (tessera bundle show)`,
      );
    }
    return td;
  }

  async function announce(td: string): Promise<void> {
    if (ctx.federationControl === undefined) throw unavailable('federation refresher is not running');
    try {
      await ctx.federationControl.reload(td);
    } catch (err) {
      log.error({ err, trustDomain: td }, 'The federation refresher could not reload a federated bundle');
    }
  }

  async function toMessage(record: BundleRecord) {
    const rel = await federation.get(record.trustDomain);
    return federatedBundleMessage(record, rel !== null);
  }

  async function list() {
    const records = (await bundleStore.list()).filter((r) => r.trustDomain !== ctx.trustDomain.name);
    const related = new Set((await federation.list()).map((r) => r.trustDomain));
    return { bundles: records.map((r) => federatedBundleMessage(r, related.has(r.trustDomain))) };
  }

  async function get(req: Incoming<{ trust_domain: string }>) {
    const td = foreignTrustDomain(req.trust_domain);
    const record = await bundleStore.get(td.name);
    if (record === null) throw notFound(`no bundle stored for trust domain ${q(td.name)}`);
    return { bundle: await toMessage(record) };
  }

  async function set(req: Incoming<{ trust_domain: string; bundle: Buffer }>) {
    const td = foreignTrustDomain(req.trust_domain);
    const bytes = req.bundle;
    if (!(bytes instanceof Uint8Array) || bytes.length === 0) {
      throw invalidArgument('bundle is required: a SPIFFE bundle document (JSON) or PEM certificates');
    }
    const parsed = parseOperatorBundle('bundle', td, bytes);
    if (ctx.federationControl === undefined) throw unavailable('federation refresher is not running');
    const record = await writes.run(async () => {
      const stored = await bundleStore.get(td.name);
      // The row's sequence is this datastore's change counter; the document keeps its own spiffe_sequence.
      return bundleStore.put(td.name, parsed.stored.document, (stored?.sequence ?? 0) + 1);
    });
    await announce(td.name);
    const summary = {
      trustDomain: td.name,
      sequence: (parsed.bundle.sequenceNumber ?? 0n).toString(),
      x509Authorities: parsed.bundle.x509Bundle.x509Authorities.length,
      jwtAuthorities: parsed.bundle.jwtBundle.jwtAuthorities.size,
    };
    log.info(summary, 'Federated bundle set');
    await ctx.record([{ kind: 'federated_bundle.set', spiffeId: td.idString(), details: summary }]);
    return { bundle: await toMessage(record) };
  }

  async function remove(req: Incoming<{ trust_domain: string; mode: string }>) {
    const td = foreignTrustDomain(req.trust_domain);
    const modeName = req.mode === undefined || req.mode === '' ? 'BUNDLE_DELETE_MODE_UNSPECIFIED' : req.mode;
    const mode = typeof modeName === 'string' && Object.hasOwn(DELETE_MODES, modeName) ? DELETE_MODES[modeName]! : null;
    if (mode === null) throw invalidArgument(`mode ${q(modeName)} is not one of ${Object.keys(DELETE_MODES).join(', ')}`);
    if (ctx.federationControl === undefined) throw unavailable('federation refresher is not running');
    const changed = await writes.run(async () => {
      if ((await federation.get(td.name)) !== null) {
        throw failedPrecondition(
          `a federation relationship with ${q(td.name)} fetches this bundle: delete the relationship ` +
            `(tessera federation delete --trust-domain ${td.name}), which deletes its bundle too`,
        );
      }
      if ((await bundleStore.get(td.name)) === null) throw notFound(`no bundle stored for trust domain ${q(td.name)}`);
      const federating = await entries.list({ federatesWith: [td.name] });
      if (mode === 'restrict' && federating.length > 0) {
        throw failedPrecondition(
          `${federating.length} ${federating.length === 1 ? 'entry federates' : 'entries federate'} with ` +
            `${q(td.name)} (e.g. ${q(federating[0]!.id)}): use mode dissociate to remove ${q(td.name)} from them, ` +
            'or mode delete to delete them',
        );
      }
      const done: Entry[] = [];
      for (const entry of federating) {
        if (mode === 'dissociate') {
          const input = { ...entry, federatesWith: entry.federatesWith.filter((f) => f !== td.name) };
          const updated = await entries.update(entry.id, input, { expectedRevision: entry.revision });
          done.push(updated);
          await ctx.record([entryEvent('entry.updated', updated, td.name)]);
        } else {
          done.push(await entries.delete(entry.id));
          await ctx.record([entryEvent('entry.deleted', entry, td.name)]);
        }
      }
      await bundleStore.delete(td.name);
      return done;
    });
    await announce(td.name);
    log.info({ trustDomain: td.name, mode, entryIds: changed.map((e) => e.id) }, 'Federated bundle deleted');
    await ctx.record([
      {
        kind: 'federated_bundle.deleted',
        spiffeId: td.idString(),
        details: { trustDomain: td.name, mode, entryIds: changed.map((e) => e.id) },
      },
    ]);
    return { entry_ids: changed.map((e) => e.id) };
  }

  return {
    GetBundle: unary(log, async () => {
      const bundle = ctx.bundle.currentBundle();
      return {
        trust_domain: bundle.trustDomain.name,
        spiffe_bundle: Buffer.from(bundle.marshal(), 'utf8'),
        x509_pem: bundle.x509Bundle.toPem(),
        // uint64 on the wire; a sequence beyond 2^53 would lose precision as a JS number, so send it as a string.
        sequence_number: (bundle.sequenceNumber ?? 0n).toString(),
      };
    }),
    ListFederatedBundles: unary(log, list),
    GetFederatedBundle: unary(log, get),
    SetFederatedBundle: unary(log, set),
    DeleteFederatedBundle: unary(log, remove),
  };
}

function entryEvent(kind: string, e: Entry, trustDomain: string) {
  return {
    kind,
    spiffeId: e.spiffeId,
    entryId: e.id,
    details: { parentId: e.parentId, revision: e.revision, federatedBundleDeleted: trustDomain },
  };
}

/** A stored federated bundle as the API shows it; an unreadable document is shown with no authorities. */
function federatedBundleMessage(record: BundleRecord, hasRelationship: boolean) {
  let bundle: SpiffeBundle | undefined;
  try {
    bundle = SpiffeBundle.parse(record.trustDomain, record.document);
  } catch {
    bundle = undefined;
  }
  return {
    trust_domain: record.trustDomain,
    spiffe_bundle: Buffer.from(record.document, 'utf8'),
    x509_pem: bundle?.x509Bundle.toPem() ?? '',
    sequence_number: (bundle?.sequenceNumber ?? 0n).toString(),
    x509_authority_count: bundle?.x509Bundle.x509Authorities.length ?? 0,
    jwt_authority_count: bundle?.jwtBundle.jwtAuthorities.size ?? 0,
    updated_at: record.updatedAt,
    has_relationship: hasRelationship,
  };
}
