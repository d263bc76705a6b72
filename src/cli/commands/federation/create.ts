import { adminCommand, requireFlag, type AdminCommandSpec } from '../../admin-command.js';
import { ExitCode } from '../../command.js';
import {
  checkEndpointId,
  printRelationshipResponse,
  parseProfile,
  readTrustBundle,
  RELATIONSHIP_OPTIONS,
  type FederationRelationshipResponse,
} from './shared.js';

export const federationCreateSpec: AdminCommandSpec = {
  name: 'create',
  path: 'federation create',
  summary: 'federate with a trust domain: where its bundle endpoint is and how to authenticate it',
  synopsis:
    '--trust-domain TD --bundle-endpoint-url URL --profile https_web|https_spiffe [--endpoint-spiffe-id ID] ' +
    '[--trust-bundle FILE]',
  description:
    "Creates a federation relationship: the server fetches the trust domain's bundle from its endpoint and keeps it\n" +
    'fresh. With https_spiffe the endpoint must present an X509-SVID with --endpoint-spiffe-id; when that ID is in\n' +
    "the federated trust domain itself, pass --trust-bundle with the trust domain's current bundle (SPIFFE bundle\n" +
    'JSON or PEM certificates, obtained out of band) so the first fetch can be verified.',
  options: RELATIONSHIP_OPTIONS,
  async run(ctx) {
    const { flags } = ctx;
    const trustDomain = requireFlag(flags, 'trust-domain', 'the trust domain to federate with, e.g. b.test');
    const url = requireFlag(flags, 'bundle-endpoint-url', "the https:// URL of the trust domain's bundle endpoint");
    const profile = parseProfile(requireFlag(flags, 'profile', 'https_web or https_spiffe'));
    const endpointId = flags.string('endpoint-spiffe-id');
    checkEndpointId(profile, endpointId);
    const trustBundle = readTrustBundle(flags, ctx.io);
    const r = await ctx.admin.call<FederationRelationshipResponse>('FederationService', 'CreateFederationRelationship', {
      trust_domain: trustDomain,
      bundle_endpoint_url: url,
      profile,
      endpoint_spiffe_id: endpointId ?? '',
      trust_bundle: trustBundle,
    });
    printRelationshipResponse(ctx, r);
    return ExitCode.ok;
  },
};

export const federationCreateCommand = adminCommand(federationCreateSpec);
