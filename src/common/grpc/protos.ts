import { fileURLToPath } from 'node:url';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';

/** The repository's proto/ directory, from src/common/grpc or dist/common/grpc alike. */
export const PROTO_ROOT = fileURLToPath(new URL('../../../proto/', import.meta.url));

/**
 * Options used for every proto we load: bytes stay Buffers, 64-bit integers become JS numbers (Unix seconds and
 * counters fit), enums are strings, and defaults are filled so handlers never see `undefined` scalars.
 */
export const PROTO_LOADER_OPTIONS: protoLoader.Options = {
  keepCase: true,
  longs: Number,
  enums: String,
  bytes: Buffer,
  defaults: true,
  arrays: true,
  objects: true,
  oneofs: true,
  includeDirs: [PROTO_ROOT],
};

const cache = new Map<string, grpc.GrpcObject>();

/** Loads a proto file given relative to proto/ (e.g. "tessera/agent/v1/agent.proto"), once per process. */
export function loadProto(relativePath: string): grpc.GrpcObject {
  let pkg = cache.get(relativePath);
  if (!pkg) {
    const definition = protoLoader.loadSync(relativePath, PROTO_LOADER_OPTIONS);
    pkg = grpc.loadPackageDefinition(definition);
    cache.set(relativePath, pkg);
  }
  return pkg;
}

/** The service definition (for Server.addService) and client constructor of `service` in `relativePath`. */
export function loadService(
  relativePath: string,
  service: string,
): { definition: grpc.ServiceDefinition; Client: grpc.ServiceClientConstructor } {
  let node: unknown = loadProto(relativePath);
  for (const part of service.split('.')) node = (node as Record<string, unknown>)[part];
  const Client = node as grpc.ServiceClientConstructor | undefined;
  if (typeof Client !== 'function' || !Client.service) {
    throw new Error(`service ${JSON.stringify(service)} not found in ${relativePath}`);
  }
  return { definition: Client.service, Client };
}
