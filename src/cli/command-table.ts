import { nounCommand, verbGroup, type Command } from './command.js';
import { lazyCommand as cmd } from './lazy-command.js';

/**
 * Every command of the `tessera` binary by name and one-line summary, each loaded only when it runs (so `--help`,
 * `version` and usage errors start fast). A new verb is one `cmd(name, summary, loader)` line under its noun; the
 * summary must be the command's own (test/cli/cli.test.ts loads each and compares).
 */
export const COMMANDS: readonly Command[] = [
  cmd('server', 'run the tessera server (server run --config FILE)', async () =>
    (await import('./commands/server.js')).serverCommand),
  nounCommand('entry', 'manage registration entries', [
    cmd('create', 'create a registration entry (or a batch from a JSON file)', async () =>
      (await import('./commands/entry/create.js')).entryCreateCommand),
    cmd('update', 'change fields of a registration entry', async () =>
      (await import('./commands/entry/update.js')).entryUpdateCommand),
    cmd('delete', 'delete a registration entry', async () =>
      (await import('./commands/entry/delete.js')).entryDeleteCommand),
    cmd('show', 'show registration entries by ID or SPIFFE ID', async () =>
      (await import('./commands/entry/show.js')).entryShowCommand),
    cmd('list', 'list registration entries', async () => (await import('./commands/entry/list.js')).entryListCommand),
    cmd('count', 'count registration entries', async () =>
      (await import('./commands/entry/count.js')).entryCountCommand),
    cmd('explain', "show a process's selectors and why each entry does or does not apply to it (agent admin socket)", async () =>
      (await import('./commands/entry/explain.js')).entryExplainCommand),
  ]),
  nounCommand('agent', 'run the node agent and check its health; list, count, show, ban, evict and purge attested agents', [
    cmd('list', 'list attested agents', async () => (await import('./commands/agent/list.js')).agentListCommand),
    cmd('count', "count attested agents (banned ones included)", async () =>
      (await import('./commands/agent/count.js')).agentCountCommand),
    cmd('show', 'show one attested agent', async () => (await import('./commands/agent/show.js')).agentShowCommand),
    cmd('ban', 'refuse an agent every call and re-attestation until it is evicted', async () =>
      (await import('./commands/agent/ban.js')).agentBanCommand),
    cmd('evict', 'delete an agent record: its SVID is refused and it must attest again', async () =>
      (await import('./commands/agent/evict.js')).agentEvictCommand),
    cmd('purge', "delete agents whose SVID expired long ago", async () =>
      (await import('./commands/agent/purge.js')).agentPurgeCommand),
    cmd('run', 'run the node agent (agent run --config FILE)', async () =>
      (await import('./commands/agent-run.js')).agentRunCommand),
    cmd('healthcheck', "check that this node's agent is ready (exit 0) or not (exit 1)", async () =>
      (await import('./commands/agent/healthcheck.js')).agentHealthcheckCommand),
  ]),
  nounCommand('token', 'generate join tokens', [
    cmd('generate', 'mint a one-time join token for node attestation', async () =>
      (await import('./commands/token/generate.js')).tokenGenerateCommand),
  ]),
  nounCommand('bundle', "show the trust domain's bundle; list, set and delete federated trust domains' bundles", [
    cmd('show', "print the trust domain's bundle, or a federated one", async () =>
      (await import('./commands/bundle/show.js')).bundleShowCommand),
    cmd('list', "list federated trust domains' bundles", async () =>
      (await import('./commands/bundle/list.js')).bundleListCommand),
    cmd('set', "store a federated trust domain's bundle (a static bundle when no relationship fetches it)", async () =>
      (await import('./commands/bundle/set.js')).bundleSetCommand),
    cmd('delete', "delete a federated trust domain's static bundle", async () =>
      (await import('./commands/bundle/delete.js')).bundleDeleteCommand),
  ]),
  nounCommand('federation', 'federate with other trust domains: relationships and their bundles', [
    cmd('create', 'federate with a trust domain: where its bundle endpoint is and how to authenticate it', async () =>
      (await import('./commands/federation/create.js')).federationCreateCommand),
    cmd('update', "change a federation relationship, or replace the trust domain's stored bundle", async () =>
      (await import('./commands/federation/update.js')).federationUpdateCommand),
    cmd('delete', 'stop federating with a trust domain: delete the relationship and its stored bundle', async () =>
      (await import('./commands/federation/delete.js')).federationDeleteCommand),
    cmd('show', 'show one federation relationship, its refresh status and stored bundle', async () =>
      (await import('./commands/federation/show.js')).federationShowCommand),
    cmd('list', 'list federation relationships and their refresh status', async () =>
      (await import('./commands/federation/list.js')).federationListCommand),
    cmd('refresh', "fetch a federated trust domain's bundle now", async () =>
      (await import('./commands/federation/refresh.js')).federationRefreshCommand),
  ]),
  nounCommand('authority', "show this server's signing keys; prepare or activate the next one now", [
    cmd('show', "list this server's signing keys: prepared, active and retired", async () =>
      (await import('./commands/authority/show.js')).authorityShowCommand),
    cmd('prepare', 'create and publish the next signing key now, ahead of the schedule', async () =>
      (await import('./commands/authority/prepare.js')).authorityPrepareCommand),
    cmd('activate', 'make the prepared signing key the active one now', async () =>
      (await import('./commands/authority/activate.js')).authorityActivateCommand),
  ]),
  nounCommand('x509', 'mint an X509-SVID for the operator', [
    cmd('mint', "mint an X509-SVID for any SPIFFE ID of the trust domain (operator use; audited)", async () =>
      (await import('./commands/svid/x509-mint.js')).x509MintCommand),
  ]),
  nounCommand('jwt', 'mint a JWT-SVID for the operator', [
    cmd('mint', "mint a JWT-SVID for any SPIFFE ID of the trust domain (operator use; audited)", async () =>
      (await import('./commands/svid/jwt-mint.js')).jwtMintCommand),
  ]),
  nounCommand('audit', 'query the audit trail', [
    cmd('list', 'list audit events, oldest first, one page (at most --limit events and 1 MiB) at a time', async () =>
      (await import('./commands/audit/list.js')).auditListCommand),
  ]),
  nounCommand('instance', 'list live workload instances and their SVIDs', [
    cmd('list', 'list live workload instances and their SVIDs', async () =>
      (await import('./commands/instance/list.js')).instanceListCommand),
  ]),
  nounCommand('api', 'talk to the Workload API as this process: fetch SVIDs and bundles, validate, watch', [
    verbGroup('api', 'fetch', 'fetch X509-SVIDs, JWT-SVIDs or bundles', [
      cmd('x509', "fetch this process's X509-SVIDs and bundles", async () =>
        (await import('./commands/api/fetch-x509.js')).apiFetchX509Command),
      cmd('jwt', 'fetch JWT-SVIDs for one or more audiences', async () =>
        (await import('./commands/api/fetch-jwt.js')).apiFetchJwtCommand),
      cmd('bundles', 'fetch the X.509 and JWT bundles this process may use', async () =>
        (await import('./commands/api/fetch-bundles.js')).apiFetchBundlesCommand),
    ]),
    verbGroup('api', 'validate', 'validate a JWT-SVID', [
      cmd('jwt', 'validate a JWT-SVID through the Workload API', async () =>
        (await import('./commands/api/validate-jwt.js')).apiValidateJwtCommand),
    ]),
    cmd('watch', "watch this process's X509-SVID updates", async () =>
      (await import('./commands/api/watch.js')).apiWatchCommand),
  ]),
  nounCommand('config', 'check server and agent configuration files', [
    cmd('validate', 'check a server or agent configuration file', async () =>
      (await import('./commands/config/validate.js')).configValidateCommand),
  ]),
  cmd('selectors', 'list the selector types entries may use and which attestor emits each', async () =>
    (await import('./commands/selectors.js')).selectorsCommand),
  cmd('healthcheck', 'check that the server is ready (exit 0) or not (exit 1)', async () =>
    (await import('./commands/healthcheck.js')).healthcheckCommand),
  cmd('version', 'print the tessera version', async () => (await import('./commands/version.js')).versionCommand),
];