#!/usr/bin/env node
/**
 * The `tessera` binary: turns argv into one command run and an exit code. Commands live in ./commands; this file
 * only dispatches, prints one-line usage errors and maps failures to exit codes (0 ok, 1 failure, 2 usage).
 */
import { realpathSync } from 'node:fs';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { CommandFailure, ExitCode, UsageError, nounCommand, parseArgsReason, verbGroup, type Command } from './command.js';
import { agentBanCommand } from './commands/agent/ban.js';
import { agentCountCommand } from './commands/agent/count.js';
import { agentEvictCommand } from './commands/agent/evict.js';
import { agentListCommand } from './commands/agent/list.js';
import { agentPurgeCommand } from './commands/agent/purge.js';
import { agentShowCommand } from './commands/agent/show.js';
import { apiFetchBundlesCommand } from './commands/api/fetch-bundles.js';
import { apiFetchJwtCommand } from './commands/api/fetch-jwt.js';
import { apiFetchX509Command } from './commands/api/fetch-x509.js';
import { apiValidateJwtCommand } from './commands/api/validate-jwt.js';
import { apiWatchCommand } from './commands/api/watch.js';
import { auditListCommand } from './commands/audit/list.js';
import { authorityActivateCommand } from './commands/authority/activate.js';
import { authorityPrepareCommand } from './commands/authority/prepare.js';
import { authorityShowCommand } from './commands/authority/show.js';
import { bundleDeleteCommand } from './commands/bundle/delete.js';
import { bundleListCommand } from './commands/bundle/list.js';
import { bundleSetCommand } from './commands/bundle/set.js';
import { bundleShowCommand } from './commands/bundle/show.js';
import { entryCountCommand } from './commands/entry/count.js';
import { entryCreateCommand } from './commands/entry/create.js';
import { entryDeleteCommand } from './commands/entry/delete.js';
import { entryListCommand } from './commands/entry/list.js';
import { entryShowCommand } from './commands/entry/show.js';
import { entryUpdateCommand } from './commands/entry/update.js';
import { federationCreateCommand } from './commands/federation/create.js';
import { federationDeleteCommand } from './commands/federation/delete.js';
import { federationListCommand } from './commands/federation/list.js';
import { federationRefreshCommand } from './commands/federation/refresh.js';
import { federationShowCommand } from './commands/federation/show.js';
import { federationUpdateCommand } from './commands/federation/update.js';
import { healthcheckCommand } from './commands/healthcheck.js';
import { instanceListCommand } from './commands/instance/list.js';
import { jwtMintCommand } from './commands/svid/jwt-mint.js';
import { x509MintCommand } from './commands/svid/x509-mint.js';
import { tokenGenerateCommand } from './commands/token/generate.js';
import { agentRunCommand } from './commands/agent-run.js';
import { serverCommand } from './commands/server.js';
import { versionCommand } from './commands/version.js';
import { processIo, type Io } from './io.js';

const COMMANDS: readonly Command[] = [
  serverCommand,
  nounCommand('entry', 'manage registration entries', [
    entryCreateCommand,
    entryUpdateCommand,
    entryDeleteCommand,
    entryShowCommand,
    entryListCommand,
    entryCountCommand,
  ]),
  nounCommand('agent', 'run the node agent; list, count, show, ban, evict and purge attested agents', [
    agentListCommand,
    agentCountCommand,
    agentShowCommand,
    agentBanCommand,
    agentEvictCommand,
    agentPurgeCommand,
    agentRunCommand,
  ]),
  nounCommand('token', 'generate join tokens', [tokenGenerateCommand]),
  nounCommand('bundle', "show the trust domain's bundle; list, set and delete federated trust domains' bundles", [
    bundleShowCommand,
    bundleListCommand,
    bundleSetCommand,
    bundleDeleteCommand,
  ]),
  nounCommand('federation', 'federate with other trust domains: relationships and their bundles', [
    federationCreateCommand,
    federationUpdateCommand,
    federationDeleteCommand,
    federationShowCommand,
    federationListCommand,
    federationRefreshCommand,
  ]),
  nounCommand('authority', "show this server's signing keys; prepare or activate the next one now", [
    authorityShowCommand,
    authorityPrepareCommand,
    authorityActivateCommand,
  ]),
  nounCommand('x509', 'mint an X509-SVID for the operator', [x509MintCommand]),
  nounCommand('jwt', 'mint a JWT-SVID for the operator', [jwtMintCommand]),
  nounCommand('audit', 'query the audit trail', [auditListCommand]),
  nounCommand('instance', 'list live workload instances and their SVIDs', [instanceListCommand]),
  nounCommand('api', 'talk to the Workload API as this process: fetch SVIDs and bundles, validate, watch', [
    verbGroup('api', 'fetch', 'fetch X509-SVIDs, JWT-SVIDs or bundles', [
      apiFetchX509Command,
      apiFetchJwtCommand,
      apiFetchBundlesCommand,
    ]),
    verbGroup('api', 'validate', 'validate a JWT-SVID', [apiValidateJwtCommand]),
    apiWatchCommand,
  ]),
  healthcheckCommand,
  versionCommand,
];

/** Commands from the design that later issues add; named in --help so users know what is coming (none left now). */
const PLANNED: ReadonlyArray<readonly [string, string]> = [];

function helpText(): string {
  const width = Math.max(...[...COMMANDS.map((c) => c.name), ...PLANNED.map(([n]) => n)].map((n) => n.length));
  const row = (name: string, summary: string) => `  ${name.padEnd(width)}  ${summary}\n`;
  return (
    'Usage: tessera <command> [options]\n\n' +
    'SPIFFE workload identity issuer.\n\n' +
    'Commands:\n' +
    COMMANDS.map((c) => row(c.name, c.summary)).join('') +
    (PLANNED.length > 0 ? '\nNot yet built:\n' + PLANNED.map(([name, summary]) => row(name, summary)).join('') : '') +
    '\nOptions:\n' +
    '  -h, --help     show this help (also: tessera <command> --help)\n' +
    '  -v, --version  same as "tessera version"\n'
  );
}

/** Runs one command line (without the node/script prefix) and returns the process exit code. */
export async function main(argv: readonly string[], io: Io): Promise<ExitCode> {
  try {
    return await dispatch(argv, io);
  } catch (err) {
    if (err instanceof UsageError) {
      io.err(`tessera: ${err.message}\n`);
      return ExitCode.usage;
    }
    if (err instanceof CommandFailure) {
      io.err(`error: ${err.message.split('\n')[0]}\n`);
      return ExitCode.failure;
    }
    const message = err instanceof Error ? err.message : String(err);
    io.err(`tessera: ${message.split('\n')[0]}\n`);
    return ExitCode.failure;
  }
}

async function dispatch(argv: readonly string[], io: Io): Promise<ExitCode> {
  // Options before the command belong to tessera itself; everything after the command belongs to the command.
  const at = argv.findIndex((a) => !a.startsWith('-'));
  const globalArgs = at === -1 ? [...argv] : argv.slice(0, at);
  let values: { help?: boolean; version?: boolean };
  try {
    ({ values } = parseArgs({
      args: globalArgs,
      options: { help: { type: 'boolean', short: 'h' }, version: { type: 'boolean', short: 'v' } },
      allowPositionals: false,
      strict: true,
    }));
  } catch (err) {
    throw new UsageError(parseArgsReason(err));
  }
  if (values.help === true) {
    io.out(helpText());
    return ExitCode.ok;
  }
  if (at === -1) {
    if (values.version === true) return versionCommand.run([], io);
    io.err(helpText());
    return ExitCode.usage;
  }
  const name = argv[at]!;
  const rest = argv.slice(at + 1);
  const command = COMMANDS.find((c) => c.name === name);
  if (command !== undefined) return command.run(rest, io);
  if (PLANNED.some(([planned]) => planned === name)) {
    throw new UsageError(`command ${JSON.stringify(name)} is not yet built`);
  }
  throw new UsageError(`unknown command ${JSON.stringify(name)} (see "tessera --help")`);
}

function invokedDirectly(): boolean {
  const script = process.argv[1];
  if (script === undefined) return false;
  try {
    return import.meta.url === pathToFileURL(realpathSync(script)).href;
  } catch {
    return false;
  }
}

if (invokedDirectly()) {
  process.exitCode = await main(process.argv.slice(2), processIo());
}
