import { readFileSync } from 'node:fs';

/** go-spiffe bundle test vectors, in the shared directory beside the repository. */
const ROOT = new URL('../../../../shared/vectors/go-spiffe/bundle/', import.meta.url);

export function vector(pkg: 'x509bundle' | 'jwtbundle' | 'spiffebundle', file: string): Buffer {
  return readFileSync(new URL(`${pkg}/testdata/${file}`, ROOT));
}
