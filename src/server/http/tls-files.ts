import { readFileSync } from 'node:fs';
import { createSecureContext } from 'node:tls';
import { ConfigError } from '../../common/config/index.js';

/**
 * Reads a configured TLS certificate chain and private key (PEM) at start. A file that cannot be read is a
 * ConfigError naming the setting (`http.tls.certFile`) and the file; a pair TLS cannot use (not PEM, key not matching
 * the certificate) names `<setting>`. Messages never quote the files' contents.
 */
export function readTlsFiles(
  files: { readonly certFile: string; readonly keyFile: string },
  setting: string,
): { cert: Buffer; key: Buffer } {
  const cert = readSetting(files.certFile, `${setting}.certFile`);
  const key = readSetting(files.keyFile, `${setting}.keyFile`);
  try {
    createSecureContext({ cert, key });
  } catch (err) {
    const reason = (err as Error).message.replace(/^error:[0-9A-F]+:/, '');
    throw new ConfigError(
      'type',
      setting,
      `${setting}: ${files.certFile} and ${files.keyFile} are not a usable PEM certificate chain and matching ` +
        `private key (${reason})`,
    );
  }
  return { cert, key };
}

function readSetting(file: string, setting: string): Buffer {
  try {
    return readFileSync(file);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? 'error';
    throw new ConfigError('read', setting, `${setting} ${file} cannot be read (${code})`, { cause: err });
  }
}
