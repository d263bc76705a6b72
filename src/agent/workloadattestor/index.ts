export { createWorkloadAttestor, type WorkloadAttestorOptions } from './attestor.js';
export {
  closePidfd,
  createCallerCredentialsReader,
  socketFd,
  type CallerCredentialsReaderOptions,
  type PidfdSource,
} from './caller-credentials.js';
export { createAccountsReader, type AccountsReader } from './accounts.js';
export { createBinaryHasher, type BinaryHasher, type BinaryHasherStats } from './binary-hash.js';
export { createExitWatcher, type ExitWatcher, type WatchTarget } from './exit-watcher.js';
export { createProcReader, systemdUnitFromCgroup, type ProcReader } from './proc.js';
export { readAncestry, type ProcessRef } from './ancestry.js';
