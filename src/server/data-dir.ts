import { readdir } from 'node:fs/promises';
import * as path from 'node:path';
import { failedPrecondition } from '../common/errors.js';
import { KEYS_DIR } from './ca/key-files.js';

/** The embedded datastore's file in the data dir. */
export const DATASTORE_FILE = 'datastore.sqlite3';

/**
 * What the server finds in its data dir at start-up:
 * - `fresh`: no datastore file and no private key files; the server may create a new datastore and new keys (a new
 *   trust domain, or a new server of one). A `server-id` file or a stale admin socket alone do not count as state.
 * - `initialised`: a datastore file exists; it is opened only if it is a Tessera datastore (openSqliteDatabase).
 * Private keys without a datastore are FAILED_PRECONDITION: starting over would mint a new CA and cut off every agent.
 */
export type DataDirState = 'fresh' | 'initialised';

export async function inspectDataDir(dataDir: string): Promise<DataDirState> {
  const names = await readdir(dataDir);
  if (names.includes(DATASTORE_FILE)) return 'initialised';
  const keys = names.includes(KEYS_DIR) ? await readdir(path.join(dataDir, KEYS_DIR)).catch(() => []) : [];
  const keyFiles = keys.filter((n) => n.endsWith('.pem'));
  if (keyFiles.length > 0) {
    const file = path.join(path.resolve(dataDir), DATASTORE_FILE);
    throw failedPrecondition(
      `data dir ${JSON.stringify(path.resolve(dataDir))} holds ${keyFiles.length} private key file(s) in ${KEYS_DIR}/ but no datastore ` +
        `${JSON.stringify(file)}; restore the datastore from a backup, or move the whole data dir away to start a new trust domain`,
    );
  }
  return 'fresh';
}
