/** The parts of hpack.js (RFC 7541 codec, no types of its own) that hpack-block.ts and the tests use. */
declare module 'hpack.js' {
  interface TableEntry {
    readonly name: string;
    readonly value: string;
    readonly nameSize: number;
  }
  interface Table {
    lookup(index: number): TableEntry;
    add(name: string, value: string, nameSize: number, valueSize: number): void;
    updateSize(size: number): void;
  }
  interface Decoder {
    push(chunk: Buffer): void;
    isEmpty(): boolean;
    decodeBit(): number;
    decodeInt(): number;
    /** A raw string is a Buffer, a Huffman-coded one an array of octets. */
    decodeStr(): Buffer | number[];
  }
  interface Encoder {
    encodeBit(bit: number): void;
    encodeBits(bits: number, length: number): void;
    encodeInt(value: number): void;
    encodeStr(value: Uint8Array, huffman: boolean): void;
    render(): Buffer[];
  }
  interface StaticTable {
    readonly map: Record<string, { readonly index: number; readonly values: Record<string, number> } | undefined>;
  }
  /** The library's own streaming decoder (tests decode with it, independently of hpack-block.ts). */
  interface Decompressor {
    write(chunk: Buffer): void;
    execute(): void;
    read(): { name: string; value: string; neverIndex: boolean } | null;
  }
  const hpack: {
    readonly decompressor: { create(options: { table: { maxSize: number } }): Decompressor };
    readonly table: { create(options: { maxSize: number }): Table };
    readonly decoder: { create(): Decoder };
    readonly encoder: { create(): Encoder };
    readonly 'static-table': StaticTable;
  };
  export default hpack;
}
