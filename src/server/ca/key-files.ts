import { randomBytes, createPrivateKey, type KeyObject } from 'node:crypto';
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { failedPrecondition } from '../../common/errors.js';

/** Sub-directory of the data dir that holds the CA's private keys. */
export const KEYS_DIR = 'keys';
const FILE_NAME = /^[A-Za-z0-9_-]+\.pem$/;
const TMP_MARK = '.tmp-';

/**
 * The private keys of the server's signing keys: one PKCS#8 PEM file per key under `<dataDir>/keys/` (directory 0700,
 * files 0600), written atomically (temporary file created 0600, fsync, rename, fsync of the directory). The KeyStore
 * records the file name relative to the data dir (`keys/<name>.pem`), never the key. Errors name the file, never its
 * contents.
 */
export class KeyFiles {
  readonly #dataDir: string;
  readonly #dir: string;

  private constructor(dataDir: string) {
    this.#dataDir = path.resolve(dataDir);
    this.#dir = path.join(this.#dataDir, KEYS_DIR);
  }

  /** Creates the data dir (0700 when new) and `keys/` (forced to 0700), and removes temporary files of torn writes. */
  static async open(dataDir: string): Promise<KeyFiles> {
    const files = new KeyFiles(dataDir);
    await fs.mkdir(files.#dataDir, { recursive: true, mode: 0o700 });
    await fs.mkdir(files.#dir, { recursive: true, mode: 0o700 });
    await fs.chmod(files.#dir, 0o700);
    for (const name of await fs.readdir(files.#dir)) {
      if (name.includes(TMP_MARK)) await fs.rm(path.join(files.#dir, name), { force: true });
    }
    return files;
  }

  get directory(): string {
    return this.#dir;
  }

  /** Writes `key` as PKCS#8 PEM to `keys/<name>.pem` and returns that relative file name. */
  async write(name: string, key: KeyObject): Promise<string> {
    const fileName = `${name}.pem`;
    if (!FILE_NAME.test(fileName)) throw new TypeError(`invalid key file name ${JSON.stringify(fileName)}`);
    const target = path.join(this.#dir, fileName);
    const tmp = `${target}${TMP_MARK}${randomBytes(6).toString('hex')}`;
    const pem = key.export({ type: 'pkcs8', format: 'pem' });
    const handle = await fs.open(tmp, 'wx', 0o600);
    try {
      await handle.chmod(0o600); // the umask may have narrowed it; make it exactly 0600
      await handle.writeFile(pem);
      await handle.sync();
    } finally {
      await handle.close();
    }
    try {
      await fs.rename(tmp, target);
    } catch (err) {
      await fs.rm(tmp, { force: true });
      throw err;
    }
    await syncDirectory(this.#dir);
    return `${KEYS_DIR}/${fileName}`;
  }

  /**
   * Reads the private key recorded as `relativeFile`. A missing, unreadable or undecodable file is FAILED_PRECONDITION
   * naming the file (the key material never appears in the message).
   */
  async read(relativeFile: string): Promise<KeyObject> {
    const file = this.#resolve(relativeFile);
    let pem: Buffer;
    try {
      pem = await fs.readFile(file);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      const what = code === 'ENOENT' ? 'is missing' : `cannot be read (${code ?? 'error'})`;
      throw failedPrecondition(`private key file ${JSON.stringify(file)} ${what}`);
    }
    try {
      const key = createPrivateKey({ key: pem, format: 'pem' });
      if (key.type !== 'private') throw new TypeError('not a private key');
      return key;
    } catch {
      // The decoder's error is not passed on: it is of no use and could quote the input.
      throw failedPrecondition(`private key file ${JSON.stringify(file)} is not a valid PKCS#8 PEM private key`);
    } finally {
      pem.fill(0);
    }
  }

  /** Removes a key file (no error if it is already gone). */
  async remove(relativeFile: string): Promise<void> {
    await fs.rm(this.#resolve(relativeFile), { force: true });
  }

  /** Absolute path of a recorded file name; names that would leave `keys/` are refused. */
  #resolve(relativeFile: string): string {
    const base = path.basename(relativeFile);
    if (relativeFile !== `${KEYS_DIR}/${base}` || !FILE_NAME.test(base)) {
      throw failedPrecondition(
        `recorded private key file ${JSON.stringify(relativeFile)} is not a file under ${KEYS_DIR}/`,
      );
    }
    return path.join(this.#dir, base);
  }
}

async function syncDirectory(dir: string): Promise<void> {
  const handle = await fs.open(dir, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}
