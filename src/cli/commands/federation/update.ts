import { adminCommand, requireFlag, type AdminCommandSpec } from '../../admin-command.js';
import { ExitCode, UsageError } from '../../command.js';
import {
  checkEndpointId,
  printRelationshipResponse,
  parseProfile,
  readTrustBundle,
  RELATIONSHIP_OPTIONS,
  type FederationRelationshipResponse,
} from './shared.js';

export const federationUpdateSpec: AdminCommandSpec = {
  name: 'update',
  path: 'federation update',
  summary: "change a federation relationship, or replace the trust domain's stored bundle",
  synopsis:
    '--trust-domain TD [--bundle-endpoint-url URL] [--profile https_web|https_spiffe] [--endpoint-spiffe-id ID] ' +
    '[--trust-bundle FILE]',
  description:
    'Changes the given fields of a relationship and keeps the others (switching to https_web drops the endpoint\n' +
    "SPIFFE ID). --trust-bundle replaces the trust domain's stored bundle at once, whatever its sequence.",
  options: RELATIONSHIP_OPTIONS,
  async run(ctx) {
    const { flags } = ctx;
    const trustDomain = requireFlag(flags, 'trust-domain', 'the federated trust domain, e.g. b.test');
    const changes = ['bundle-endpoint-url', 'profile', 'endpoint-spiffe-id', 'trust-bundle'].filter((f) => flags.has(f));
    if (changes.length === 0) {
      throw new UsageError('nothing to change: give at least one option (see "tessera federation update --help")');
    }
    const given = flags.string('profile');
    const profile = given === undefined ? undefined : parseProfile(given);
    const endpointId = flags.string('endpoint-spiffe-id');
    // https_spiffe without --endpoint-spiffe-id keeps the current one (the server refuses if there is none).
    if (profile === 'BUNDLE_ENDPOINT_PROFILE_HTTPS_WEB') checkEndpointId(profile, endpointId);
    const trustBundle = readTrustBundle(flags, ctx.io);

    const { relationship: current } = await ctx.admin.call<FederationRelationshipResponse>(
      'FederationService',
      'GetFederationRelationship',
      { trust_domain: trustDomain },
    );
    const nextProfile = profile ?? current!.profile;
    const keepEndpointId = nextProfile === 'BUNDLE_ENDPOINT_PROFILE_HTTPS_SPIFFE' ? current!.endpoint_spiffe_id : '';
    const r = await ctx.admin.call<FederationRelationshipResponse>('FederationService', 'UpdateFederationRelationship', {
      trust_domain: current!.trust_domain,
      bundle_endpoint_url: flags.string('bundle-endpoint-url') ?? current!.bundle_endpoint_url,
      profile: nextProfile,
      endpoint_spiffe_id: endpointId ?? keepEndpointId,
      trust_bundle: trustBundle,
    });
    printRelationshipResponse(ctx, r);
    return ExitCode.ok;
  },
};

export const federationUpdateCommand = adminCommand(federationUpdateSpec);
