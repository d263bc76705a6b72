import { fileURLToPath } from 'node:url';
import * as protoLoader from '@grpc/proto-loader';
import { beforeAll, describe, expect, it } from 'vitest';

/**
 * The Workload API proto must match the SPIFFE wire contract exactly (spiffe-notes §4): no package, fixed service,
 * RPC, message and field names and numbers. These tables are the contract; a change here is a wire break.
 */

const PROTO_ROOT = fileURLToPath(new URL('../../proto', import.meta.url));
const PROTO_FILE = 'spiffe/workload/workload.proto';

type Kind = 'unary' | 'server-stream';

const RPCS: ReadonlyArray<readonly [rpc: string, request: string, response: string, kind: Kind]> = [
  ['FetchX509SVID', 'X509SVIDRequest', 'X509SVIDResponse', 'server-stream'],
  ['FetchX509Bundles', 'X509BundlesRequest', 'X509BundlesResponse', 'server-stream'],
  ['FetchJWTSVID', 'JWTSVIDRequest', 'JWTSVIDResponse', 'unary'],
  ['FetchJWTBundles', 'JWTBundlesRequest', 'JWTBundlesResponse', 'server-stream'],
  ['ValidateJWTSVID', 'ValidateJWTSVIDRequest', 'ValidateJWTSVIDResponse', 'unary'],
  ['FetchWITSVID', 'WITSVIDRequest', 'WITSVIDResponse', 'server-stream'],
  ['FetchWITBundles', 'WITBundlesRequest', 'WITBundlesResponse', 'server-stream'],
];

/** message → [field name, number, type] with proto source spelling of the type. */
const MESSAGES: Readonly<Record<string, ReadonlyArray<readonly [string, number, string]>>> = {
  X509SVIDRequest: [],
  X509SVIDResponse: [
    ['svids', 1, 'repeated X509SVID'],
    ['crl', 2, 'repeated bytes'],
    ['federated_bundles', 3, 'map<string, bytes>'],
  ],
  X509SVID: [
    ['spiffe_id', 1, 'string'],
    ['x509_svid', 2, 'bytes'],
    ['x509_svid_key', 3, 'bytes'],
    ['bundle', 4, 'bytes'],
    ['hint', 5, 'string'],
  ],
  X509BundlesRequest: [],
  X509BundlesResponse: [
    ['crl', 1, 'repeated bytes'],
    ['bundles', 2, 'map<string, bytes>'],
  ],
  JWTSVIDRequest: [
    ['audience', 1, 'repeated string'],
    ['spiffe_id', 2, 'string'],
  ],
  JWTSVIDResponse: [['svids', 1, 'repeated JWTSVID']],
  JWTSVID: [
    ['spiffe_id', 1, 'string'],
    ['svid', 2, 'string'],
    ['hint', 3, 'string'],
  ],
  JWTBundlesRequest: [],
  JWTBundlesResponse: [['bundles', 1, 'map<string, bytes>']],
  ValidateJWTSVIDRequest: [
    ['audience', 1, 'string'],
    ['svid', 2, 'string'],
  ],
  ValidateJWTSVIDResponse: [
    ['spiffe_id', 1, 'string'],
    ['claims', 2, 'google.protobuf.Struct'],
  ],
  WITSVIDRequest: [['spiffe_id', 1, 'string']],
  WITSVIDResponse: [['svids', 1, 'repeated WITSVID']],
  WITSVID: [
    ['spiffe_id', 1, 'string'],
    ['wit_svid', 2, 'string'],
    ['wit_svid_key', 3, 'string'],
    ['hint', 4, 'string'],
  ],
  WITBundlesRequest: [],
  WITBundlesResponse: [['bundles', 1, 'map<string, string>']],
};

// Minimal view of the descriptor objects proto-loader exposes (google.protobuf.DescriptorProto, JSON-ish form).
interface FieldDescriptor {
  name: string;
  number: number;
  label: string;
  type: string;
  typeName: string;
}
interface MessageDescriptor {
  name: string;
  field: FieldDescriptor[];
  nestedType: MessageDescriptor[];
  options: { mapEntry?: boolean } | null;
}

const SCALARS: Record<string, string> = {
  TYPE_STRING: 'string',
  TYPE_BYTES: 'bytes',
  TYPE_BOOL: 'bool',
  TYPE_DOUBLE: 'double',
  TYPE_INT64: 'int64',
  TYPE_UINT64: 'uint64',
  TYPE_INT32: 'int32',
};

function scalarOrMessage(f: FieldDescriptor): string {
  if (f.type === 'TYPE_MESSAGE' || f.type === 'TYPE_ENUM') return f.typeName;
  const s = SCALARS[f.type];
  if (s === undefined) throw new Error(`unexpected field type ${f.type}`);
  return s;
}

/** Renders a field's type the way it is written in the .proto file. */
function typeOf(message: MessageDescriptor, f: FieldDescriptor): string {
  if (f.type === 'TYPE_MESSAGE' && f.label === 'LABEL_REPEATED') {
    const entry = message.nestedType.find((n) => n.name === f.typeName && n.options?.mapEntry === true);
    if (entry !== undefined) {
      const [k, v] = [entry.field.find((e) => e.number === 1), entry.field.find((e) => e.number === 2)];
      if (k === undefined || v === undefined || k.name !== 'key' || v.name !== 'value') {
        throw new Error(`malformed map entry ${entry.name}`);
      }
      return `map<${scalarOrMessage(k)}, ${scalarOrMessage(v)}>`;
    }
  }
  const base = scalarOrMessage(f);
  return f.label === 'LABEL_REPEATED' ? `repeated ${base}` : base;
}

describe('proto/spiffe/workload/workload.proto', () => {
  let def: protoLoader.PackageDefinition;

  beforeAll(async () => {
    def = await protoLoader.load(PROTO_FILE, { keepCase: true, includeDirs: [PROTO_ROOT] });
  });

  it('declares no package: the service is top-level SpiffeWorkloadAPI', () => {
    expect(def['SpiffeWorkloadAPI']).toBeDefined();
    const own = Object.keys(def).filter((k) => !k.startsWith('google.protobuf.'));
    for (const name of own) expect(name, `${name} must not be inside a package`).not.toContain('.');
  });

  it('has exactly the seven Workload API RPCs', () => {
    const service = def['SpiffeWorkloadAPI'] as protoLoader.ServiceDefinition;
    expect(Object.keys(service).sort()).toEqual(RPCS.map(([rpc]) => rpc).sort());
  });

  it.each(RPCS)('%s: path, request/response types and streaming kind', (rpc, request, response, kind) => {
    const method = (def['SpiffeWorkloadAPI'] as protoLoader.ServiceDefinition)[rpc]!;
    expect(method.path).toBe(`/SpiffeWorkloadAPI/${rpc}`);
    expect(method.requestStream).toBe(false);
    expect(method.responseStream).toBe(kind === 'server-stream');
    expect((method.requestType.type as MessageDescriptor).name).toBe(request);
    expect((method.responseType.type as MessageDescriptor).name).toBe(response);
  });

  it('defines exactly the contract messages (plus google.protobuf.Struct and friends)', () => {
    const own = Object.keys(def).filter((k) => k !== 'SpiffeWorkloadAPI' && !k.startsWith('google.protobuf.'));
    expect(own.sort()).toEqual(Object.keys(MESSAGES).sort());
    expect(def['google.protobuf.Struct']).toBeDefined();
  });

  it.each(Object.entries(MESSAGES))('%s: field names, numbers and types', (name, fields) => {
    const message = (def[name] as { type: unknown }).type as MessageDescriptor;
    const actual = message.field
      .map((f) => [f.name, f.number, typeOf(message, f)] as const)
      .sort((a, b) => a[1] - b[1]);
    expect(actual).toEqual(fields);
  });

  it('encodes an X509SVIDResponse with the contract field numbers on the wire', async () => {
    const grpc = await import('@grpc/grpc-js');
    const loaded = grpc.loadPackageDefinition(def) as unknown as {
      SpiffeWorkloadAPI: { service: Record<string, { responseSerialize(v: unknown): Buffer }> };
    };
    const bytes = loaded.SpiffeWorkloadAPI.service['FetchX509SVID']!.responseSerialize({
      svids: [{ spiffe_id: 'spiffe://example.org/w', hint: 'h' }],
    });
    // field 1 (svids), wire type 2 → tag 0x0a; inside: field 1 (spiffe_id) tag 0x0a, field 5 (hint) tag 0x2a.
    const id = Buffer.from('spiffe://example.org/w');
    expect([...bytes]).toEqual([0x0a, 2 + id.length + 3, 0x0a, id.length, ...id, 0x2a, 1, 0x68]);
  });
});
