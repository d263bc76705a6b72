import { selectorText, type AgentMessage } from '../../admin-messages.js';
import { block, formatUnixSeconds, withRelative } from '../../format.js';

export const AGENT_ID_OPTION = {
  'spiffe-id': { type: 'string', value: 'ID', description: 'the agent SPIFFE ID (see "tessera agent list")' },
} as const;

export function agentStatus(a: AgentMessage): string {
  return a.banned ? 'banned' : 'attested';
}

export function formatAgent(a: AgentMessage): string {
  return block([
    ['SPIFFE ID', a.spiffe_id],
    ['Attestor', a.attestor],
    ['Status', agentStatus(a)],
    ['Selectors', a.selectors.map(selectorText)],
    ['SVID serial', a.svid_serial || undefined],
    ['SVID expires', a.svid_expires_at ? withRelative(a.svid_expires_at) : undefined],
    ['Attested', formatUnixSeconds(a.attested_at, 'unknown')],
    ['Last seen', formatUnixSeconds(a.last_seen_at, 'unknown')],
  ]);
}
