import { readFileSync } from 'node:fs';
import type { AdminCommandContext, Flags, OptionSpec } from '../../admin-command.js';
import { UsageError } from '../../command.js';
import { block, formatUnixSeconds, humanDuration, plural } from '../../format.js';
import type { Io } from '../../io.js';
import type {
  BundleEndpointProfileName,
  FederationRelationshipMessage,
  FederationRelationshipResponse,
  FederationStatusMessage,
} from '../../../common/grpc/federation-messages.js';
import { SpiffeBundle } from '../../../spiffe/bundle/index.js';

export type {
  FederationRelationshipMessage,
  FederationRelationshipResponse,
} from '../../../common/grpc/federation-messages.js';

export const TRUST_DOMAIN_OPTION: Readonly<Record<string, OptionSpec>> = {
  'trust-domain': { type: 'string', value: 'TD', description: 'the federated trust domain, e.g. b.test' },
};

/** The options of `federation create` and `federation update`. */
export const RELATIONSHIP_OPTIONS: Readonly<Record<string, OptionSpec>> = {
  ...TRUST_DOMAIN_OPTION,
  'bundle-endpoint-url': { type: 'string', value: 'URL', description: "https:// URL of the trust domain's bundle endpoint" },
  profile: {
    type: 'string',
    value: 'PROFILE',
    description: 'how the endpoint is authenticated: https_web (Web PKI) or https_spiffe (an X509-SVID)',
  },
  'endpoint-spiffe-id': {
    type: 'string',
    value: 'ID',
    description: 'the SPIFFE ID the endpoint presents (https_spiffe only)',
  },
  'trust-bundle': {
    type: 'string',
    value: 'FILE',
    description: "the trust domain's bundle now: SPIFFE bundle JSON or PEM certificates (\"-\" = standard input)",
  },
};

export type ProfileText = 'https_web' | 'https_spiffe';

const PROFILES: Readonly<Record<ProfileText, BundleEndpointProfileName>> = {
  https_web: 'BUNDLE_ENDPOINT_PROFILE_HTTPS_WEB',
  https_spiffe: 'BUNDLE_ENDPOINT_PROFILE_HTTPS_SPIFFE',
};

export function parseProfile(text: string): BundleEndpointProfileName {
  const name = PROFILES[text as ProfileText];
  if (name === undefined) {
    throw new UsageError(`--profile must be "https_web" or "https_spiffe", not ${JSON.stringify(text)}`);
  }
  return name;
}

export function profileText(name: BundleEndpointProfileName): string {
  const found = (Object.keys(PROFILES) as ProfileText[]).find((p) => PROFILES[p] === name);
  return found ?? 'unspecified';
}

/** A convenience check of the flags given (the server validates for real). */
export function checkEndpointId(profile: BundleEndpointProfileName, endpointId: string | undefined): void {
  if (profile === PROFILES.https_web && endpointId !== undefined) {
    throw new UsageError('--endpoint-spiffe-id is only for --profile https_spiffe');
  }
  if (profile === PROFILES.https_spiffe && (endpointId === undefined || endpointId === '')) {
    throw new UsageError('--endpoint-spiffe-id is required with --profile https_spiffe (the ID the endpoint presents)');
  }
}

/** The bytes of --trust-bundle, or an empty buffer when not given; an unreadable or empty file is a usage error. */
export function readTrustBundle(flags: Flags, io: Io): Buffer {
  const file = flags.string('trust-bundle');
  if (file === undefined) return Buffer.alloc(0);
  if (file === '') throw new UsageError('--trust-bundle must name a file');
  let bytes: Buffer;
  try {
    bytes = file === '-' ? io.readStdin() : readFileSync(file);
  } catch (err) {
    const reason = (err as NodeJS.ErrnoException).code ?? (err as Error).message.split('\n')[0];
    throw new UsageError(`cannot read --trust-bundle ${file}: ${reason}`);
  }
  if (bytes.length === 0) throw new UsageError(`--trust-bundle ${file} is empty`);
  return bytes;
}

/** The --output json form: camelCase; status fields that are unset (never, none stored, no error) are left out. */
export function relationshipJson(r: FederationRelationshipMessage) {
  const s = r.status;
  return {
    trustDomain: r.trust_domain,
    bundleEndpointUrl: r.bundle_endpoint_url,
    profile: profileText(r.profile),
    ...(r.endpoint_spiffe_id ? { endpointSpiffeId: r.endpoint_spiffe_id } : {}),
    createdAt: r.created_at,
    updatedAt: r.updated_at,
    status: {
      ...(s?.bundle_sequence ? { bundleSequence: s.bundle_sequence } : {}),
      ...(s?.last_attempt_at_ms ? { lastAttemptAtMs: s.last_attempt_at_ms } : {}),
      ...(s?.last_success_at_ms ? { lastSuccessAtMs: s.last_success_at_ms } : {}),
      ...(s?.last_error ? { lastError: s.last_error } : {}),
      ...(s?.next_refresh_at_ms ? { nextRefreshAtMs: s.next_refresh_at_ms } : {}),
    },
  };
}

/** The stored bundle document as JSON (for --output json), or null when none is stored. */
export function trustBundleJson(bytes: Buffer | Uint8Array | undefined): unknown {
  if (bytes === undefined || bytes.length === 0) return null;
  return JSON.parse(Buffer.from(bytes).toString('utf8')) as unknown;
}

/** Prints a Create/Update/Get answer: the relationship block, or with --output json also the stored bundle. */
export function printRelationshipResponse(ctx: AdminCommandContext, r: FederationRelationshipResponse): void {
  if (ctx.output === 'json') {
    ctx.json({ relationship: relationshipJson(r.relationship!), trustBundle: trustBundleJson(r.trust_bundle) });
  } else {
    ctx.io.out(formatRelationship(r.relationship!, r.trust_bundle));
  }
}

/** One relationship as an aligned block, with what this server's refresher reports about it. */
export function formatRelationship(
  r: FederationRelationshipMessage,
  trustBundle?: Buffer | Uint8Array,
  nowMs = Date.now(),
): string {
  const s: Partial<FederationStatusMessage> = r.status ?? {};
  const at = (ms: number | undefined, zero: string) => (ms ? withRelativeMs(ms, nowMs) : zero);
  return block([
    ['Trust domain', r.trust_domain],
    ['Bundle endpoint', r.bundle_endpoint_url],
    ['Profile', profileText(r.profile)],
    ['Endpoint SPIFFE ID', r.endpoint_spiffe_id || undefined],
    ['Bundle sequence', s.bundle_sequence ? s.bundle_sequence : 'none stored'],
    ['Stored bundle', trustBundle ? bundleSummary(r.trust_domain, trustBundle) : undefined],
    ['Last success', at(s.last_success_at_ms, 'never')],
    ['Last attempt', at(s.last_attempt_at_ms, 'never')],
    ['Last error', s.last_error || undefined],
    ['Next refresh', at(s.next_refresh_at_ms, 'not scheduled')],
    ['Created', formatUnixSeconds(r.created_at, 'unknown')],
    ['Updated', formatUnixSeconds(r.updated_at, 'unknown')],
  ]);
}

/** `2026-01-02T03:04:05Z (in 4m)` / `(2m ago)`; a time within the last second reads `0s ago`. */
function withRelativeMs(ms: number, nowMs: number): string {
  const delta = Math.round((ms - nowMs) / 1000);
  const relative = delta > 0 ? `in ${humanDuration(delta)}` : `${humanDuration(-delta)} ago`;
  return `${formatUnixSeconds(Math.floor(ms / 1000))} (${relative})`;
}

/** "2 X.509 authorities, 1 JWT authority": counts only, never a key. */
function bundleSummary(trustDomain: string, bytes: Buffer | Uint8Array): string | undefined {
  if (bytes.length === 0) return undefined;
  try {
    const b = SpiffeBundle.parse(trustDomain, bytes);
    return (
      `${plural(b.x509Bundle.x509Authorities.length, 'X.509 authority', 'X.509 authorities')}, ` +
      plural(b.jwtBundle.jwtAuthorities.size, 'JWT authority', 'JWT authorities')
    );
  } catch {
    return 'unreadable';
  }
}
