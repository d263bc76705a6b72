import type * as grpc from '@grpc/grpc-js';
import { failedPrecondition, notFound, unavailable } from '../../../common/errors.js';
import { SpiffeBundle } from '../../../spiffe/bundle/index.js';
import { SpiffeId, TrustDomain } from '../../../spiffe/id/index.js';
import type { BundleRecord } from '../../datastore/index.js';
import { parseOperatorBundle, type ParsedOperatorBundle } from '../../federation/operator-bundle.js';
import { parseTrustDomainField, validateRelationshipInput } from '../../federation/relationship-input.js';
import type { FederationControl, FederationRelationship, FederationRelationshipInput } from '../../federation/types.js';
import type { AdminContext } from './config.js';
import { profileFromMessage, relationshipToMessage, statusToMessage } from './federation-messages.js';
import type { Incoming } from './messages.js';
import { Serializer, unary } from './unary.js';

type RelationshipRequest = Incoming<{
  trust_domain: string;
  bundle_endpoint_url: string;
  profile: string;
  endpoint_spiffe_id: string;
  trust_bundle: Buffer;
}>;

type TrustDomainRequest = Incoming<{ trust_domain: string }>;

/**
 * tessera.admin.v1.FederationService: federation relationships and the bundles an operator supplies with them. Writes
 * run one at a time (the "is a bundle stored?" check and the write must not interleave) and are then announced to the
 * refresher (FederationControl.reload); a failed announcement is logged, the write stays.
 */
export function federationService(ctx: AdminContext): grpc.UntypedServiceImplementation {
  const { federation, log } = ctx;
  const writes = new Serializer();

  function control(): FederationControl {
    if (ctx.federationControl === undefined) throw unavailable('federation refresher is not running');
    return ctx.federationControl;
  }

  function parseRequest(req: RelationshipRequest): { rel: FederationRelationshipInput; supplied?: ParsedOperatorBundle } {
    const rel = validateRelationshipInput(
      {
        trustDomain: req.trust_domain,
        bundleEndpointUrl: req.bundle_endpoint_url,
        profile: profileFromMessage(req.profile),
        endpointSpiffeId: req.endpoint_spiffe_id,
      },
      ctx.trustDomain,
    );
    const bytes = req.trust_bundle;
    if (!(bytes instanceof Uint8Array) || bytes.length === 0) return { rel };
    const td = TrustDomain.fromValidated(rel.trustDomain);
    return { rel, supplied: parseOperatorBundle('trust_bundle', td, bytes) };
  }

  /**
   * An https_spiffe endpoint inside the federated trust domain presents an SVID of that trust domain: the first fetch
   * can only verify it with a bundle of that trust domain, supplied now or stored before.
   */
  async function requireEndpointTrust(rel: FederationRelationshipInput, supplied?: ParsedOperatorBundle) {
    if (rel.profile !== 'https_spiffe') return;
    if (SpiffeId.parse(rel.endpointSpiffeId!).trustDomain.name !== rel.trustDomain) return;
    const bundle = supplied ? supplied.bundle : storedBundle(rel.trustDomain, await federation.bundle(rel.trustDomain));
    if (bundle === undefined || bundle.x509Bundle.isEmpty()) {
      throw failedPrecondition(
        `pass --trust-bundle with ${rel.trustDomain}'s bundle (X.509 authorities): ` +
          "the endpoint's SVID cannot be verified without it",
      );
    }
  }

  async function reload(trustDomain: string) {
    try {
      await control().reload(trustDomain);
    } catch (err) {
      log.warn({ err, trustDomain }, 'Federation refresher could not reload the relationship');
    }
  }

  async function respond(rel: FederationRelationship, stored?: BundleRecord | null) {
    const bundle = stored === undefined ? await federation.bundle(rel.trustDomain) : stored;
    const status = statusToMessage(rel.trustDomain, bundle, ctx.federationControl?.status(rel.trustDomain));
    return relationshipToMessage(rel, status);
  }

  async function withBundle(rel: FederationRelationship) {
    const stored = await federation.bundle(rel.trustDomain);
    return {
      relationship: await respond(rel, stored),
      trust_bundle: Buffer.from(stored?.document ?? '', 'utf8'),
    };
  }

  function auditDetails(rel: FederationRelationship, supplied?: ParsedOperatorBundle) {
    return {
      spiffeId: trustDomainId(rel.trustDomain),
      details: {
        trustDomain: rel.trustDomain,
        bundleEndpointUrl: rel.bundleEndpointUrl,
        profile: rel.profile,
        ...(rel.endpointSpiffeId !== undefined ? { endpointSpiffeId: rel.endpointSpiffeId } : {}),
        ...(supplied ? { trustBundle: bundleSummary(supplied) } : {}),
      },
    };
  }

  function write(kind: 'created' | 'updated') {
    return async (req: RelationshipRequest) => {
      const { rel, supplied } = parseRequest(req);
      control();
      return writes.run(async () => {
        await requireEndpointTrust(rel, supplied);
        const saved =
          kind === 'created'
            ? await federation.create(rel, supplied?.stored)
            : await federation.update(rel, supplied?.stored);
        log.info(
          { trustDomain: rel.trustDomain, profile: rel.profile, trustBundle: supplied !== undefined },
          kind === 'created' ? 'Federation relationship created' : 'Federation relationship updated',
        );
        await ctx.record([{ kind: `federation.${kind}`, ...auditDetails(saved, supplied) }]);
        await reload(rel.trustDomain);
        return withBundle(saved);
      });
    };
  }

  async function remove(req: TrustDomainRequest) {
    const td = parseTrustDomainField('trust_domain', req.trust_domain).name;
    control();
    return writes.run(async () => {
      const deleted = await federation.delete(td);
      log.info({ trustDomain: td }, 'Federation relationship deleted');
      await ctx.record([{ kind: 'federation.deleted', ...auditDetails(deleted) }]);
      await reload(td);
      return {};
    });
  }

  async function get(req: TrustDomainRequest) {
    return withBundle(await require(parseTrustDomainField('trust_domain', req.trust_domain).name));
  }

  async function list() {
    const all = await federation.list();
    return { relationships: await Promise.all(all.map((r) => respond(r))) };
  }

  async function refresh(req: TrustDomainRequest) {
    const td = parseTrustDomainField('trust_domain', req.trust_domain).name;
    const refresher = control();
    const rel = await require(td);
    const status = await refresher.refresh(td);
    const stored = await federation.bundle(td);
    log.info({ trustDomain: td, bundleSequence: status.bundleSequence }, 'Federated bundle refreshed');
    await ctx.record([
      {
        kind: 'federation.refreshed',
        spiffeId: trustDomainId(td),
        details: { trustDomain: td, ...(status.bundleSequence ? { bundleSequence: status.bundleSequence } : {}) },
      },
    ]);
    return { relationship: relationshipToMessage(rel, statusToMessage(td, stored, status)) };
  }

  async function require(td: string): Promise<FederationRelationship> {
    const rel = await federation.get(td);
    if (rel === null) throw notFound(`no federation relationship with ${JSON.stringify(td)}`);
    return rel;
  }

  return {
    CreateFederationRelationship: unary(log, write('created')),
    UpdateFederationRelationship: unary(log, write('updated')),
    GetFederationRelationship: unary(log, get),
    ListFederationRelationships: unary(log, list),
    DeleteFederationRelationship: unary(log, remove),
    RefreshFederationRelationship: unary(log, refresh),
  };
}

/** `spiffe://b.test`: how audit events name the federated trust domain (`tessera audit list --spiffe-id`). */
function trustDomainId(trustDomain: string): string {
  return TrustDomain.fromValidated(trustDomain).idString();
}

function storedBundle(trustDomain: string, stored: BundleRecord | null): SpiffeBundle | undefined {
  if (stored === null) return undefined;
  try {
    return SpiffeBundle.parse(trustDomain, stored.document);
  } catch {
    return undefined;
  }
}

/** What the audit trail keeps of a supplied bundle: counts and sequence, never a key. */
function bundleSummary({ bundle }: ParsedOperatorBundle) {
  return {
    sequence: (bundle.sequenceNumber ?? 0n).toString(),
    x509Authorities: bundle.x509Bundle.x509Authorities.length,
    jwtAuthorities: bundle.jwtBundle.jwtAuthorities.size,
  };
}
