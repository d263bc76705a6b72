import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { goSpiffeTestdata } from '../../helpers/go-spiffe-testdata.js';

/** go-spiffe bundle test vectors, from the go-spiffe module the interop harness downloads. */
export function vector(pkg: 'x509bundle' | 'jwtbundle' | 'spiffebundle', file: string): Buffer {
  return readFileSync(join(goSpiffeTestdata(`bundle/${pkg}`), file));
}
