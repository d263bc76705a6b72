import { randomBytes, createPrivateKey, type KeyObject } from 'node:crypto';
import { chmod, mkdir, open, readFile, rename, rm } from 'node:fs/promises';
import * as path from 'node:path';
import { decodePem, encodePem } from '../../spiffe/pem.js';

/** The agent SVID as kept on disk. */
export interface StoredAgentSvid {
  /** Leaf first, DER. */
  readonly chain: readonly Uint8Array[];
  readonly privateKey: KeyObject;
}

export const PRIVATE_DIR = 'agent';
export const AGENT_SVID_FILE = 'agent-svid.pem';
export const BUNDLE_FILE = 'bundle.pem';

/**
 * The agent's state in `<dataDir>/agent/` (mode 0700): `agent-svid.pem` (mode 0600: the PKCS#8 key, then the SVID
 * chain, leaf first) and `bundle.pem` (the trust domain's X.509 authorities last received). Key and chain share one
 * file so a write replaces both at once: every write goes to a temporary file, is fsynced, then renamed over the old.
 * Only the agent SVID lives here (short-lived, renewed at half life); workload keys never touch the disk.
 */
export class AgentStateStore {
  readonly dir: string;

  constructor(dataDir: string) {
    this.dir = path.join(dataDir, PRIVATE_DIR);
  }

  get svidPath(): string {
    return path.join(this.dir, AGENT_SVID_FILE);
  }

  get bundlePath(): string {
    return path.join(this.dir, BUNDLE_FILE);
  }

  /** Creates the directory (0700), fixing the mode of an existing one. */
  async init(): Promise<void> {
    await mkdir(this.dir, { recursive: true, mode: 0o700 });
    await chmod(this.dir, 0o700);
  }

  /** The stored agent SVID, or null when there is none. Throws when the file exists but cannot be read as one. */
  async loadSvid(): Promise<StoredAgentSvid | null> {
    const text = await readOptional(this.svidPath);
    if (text === null) return null;
    const blocks = decodePem(text);
    const keyBlock = blocks.find((b) => b.type === 'PRIVATE KEY');
    const chain = blocks.filter((b) => b.type === 'CERTIFICATE').map((b) => b.der);
    if (!keyBlock || chain.length === 0) throw new Error(`${this.svidPath} does not hold a PRIVATE KEY and a CERTIFICATE`);
    const privateKey = createPrivateKey({ key: Buffer.from(keyBlock.der), format: 'der', type: 'pkcs8' });
    return { chain, privateKey };
  }

  async saveSvid(svid: StoredAgentSvid): Promise<void> {
    const keyDer = svid.privateKey.export({ type: 'pkcs8', format: 'der' });
    const text = encodePem('PRIVATE KEY', keyDer) + svid.chain.map((d) => encodePem('CERTIFICATE', d)).join('');
    await writeAtomic(this.svidPath, text, 0o600);
  }

  async removeSvid(): Promise<void> {
    await rm(this.svidPath, { force: true });
  }

  /** The stored X.509 authorities (DER), or null when none were stored. */
  async loadBundle(): Promise<Uint8Array[] | null> {
    const text = await readOptional(this.bundlePath);
    if (text === null) return null;
    const roots = decodePem(text)
      .filter((b) => b.type === 'CERTIFICATE')
      .map((b) => b.der);
    return roots.length > 0 ? roots : null;
  }

  async saveBundle(roots: readonly Uint8Array[]): Promise<void> {
    await writeAtomic(this.bundlePath, roots.map((d) => encodePem('CERTIFICATE', d)).join(''), 0o644);
  }
}

async function readOptional(file: string): Promise<string | null> {
  try {
    return await readFile(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw err;
  }
}

/** Writes `text` to `file` through a temporary file in the same directory: fsync, rename, fsync of the directory. */
export async function writeAtomic(file: string, text: string, mode: number): Promise<void> {
  const tmp = `${file}.${randomBytes(6).toString('hex')}.tmp`;
  const handle = await open(tmp, 'wx', mode);
  try {
    await handle.writeFile(text, 'utf8');
    await handle.chmod(mode);
    await handle.sync();
  } finally {
    await handle.close();
  }
  try {
    await rename(tmp, file);
  } catch (err) {
    await rm(tmp, { force: true });
    throw err;
  }
  const dir = await open(path.dirname(file), 'r');
  try {
    await dir.sync();
  } catch {
    // some filesystems refuse fsync on a directory; the rename is done either way
  } finally {
    await dir.close();
  }
}
