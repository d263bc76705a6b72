import hpack from 'hpack.js';

/**
 * HPACK (RFC 7541) header blocks as a Workload API client sends them, for the authority rewriter (authority-rewrite.ts).
 * Decoding uses hpack.js (integers, strings, Huffman, the dynamic table); this file only walks the representations.
 *
 * {@link HeaderBlockDecoder} mirrors the CLIENT's encoder: its dynamic table holds exactly what the client's does, so
 * every block the client sends can be decoded. {@link encodeHeaderBlock} writes a block that never touches the
 * server's dynamic table (static-table references and literals "without indexing" / "never indexed" only), so a
 * re-encoded block cannot desynchronise the server's decoder from anything later blocks reference.
 */

/** One header field; names and values are bytes (HPACK carries octets, not text). */
export interface HeaderField {
  readonly name: Buffer;
  readonly value: Buffer;
  /** Sent as "never indexed" (RFC 7541 §6.2.3): kept so when the block is re-encoded. */
  readonly neverIndex: boolean;
}

export interface DecodedHeaderBlock {
  /** Dynamic table size updates at the start of the block (RFC 7541 §4.2), in order. */
  readonly tableSizeUpdates: readonly number[];
  readonly fields: readonly HeaderField[];
}

/** Node's http2 (so grpc-js) advertises SETTINGS_HEADER_TABLE_SIZE 4096, the protocol default; a client's encoder stays within it. */
export const HPACK_TABLE_SIZE = 4096;

/**
 * Bound on a decoded header list (RFC 7541 §4.1 sizes: name + value + 32 per field). grpc-js refuses metadata over
 * 8 KiB anyway; a block beyond this is refused before the server sees it (an HPACK "bomb" of indexed references to
 * one large table entry expands without bound otherwise).
 */
export const MAX_DECODED_HEADER_LIST_SIZE = 64 * 1024;

export class HpackError extends Error {
  override readonly name = 'HpackError';
}

/** Decodes a client's header blocks in order, keeping its dynamic table in step. One per connection. */
export class HeaderBlockDecoder {
  private readonly table = hpack.table.create({ maxSize: HPACK_TABLE_SIZE });

  /** Decodes one complete header block. Throws {@link HpackError} on a malformed one (the connection is then unusable). */
  decode(block: Buffer): DecodedHeaderBlock {
    try {
      return this.decodeUnchecked(block);
    } catch (err) {
      if (err instanceof HpackError) throw err;
      // hpack.js throws plain Errors (and TypeErrors on truncated integers): all mean a malformed block.
      throw new HpackError(`malformed hpack header block: ${(err as Error).message}`);
    }
  }

  private decodeUnchecked(block: Buffer): DecodedHeaderBlock {
    const d = hpack.decoder.create();
    if (block.length > 0) d.push(block);
    const tableSizeUpdates: number[] = [];
    const fields: HeaderField[] = [];
    let listSize = 0;
    while (!d.isEmpty()) {
      let field: HeaderField;
      if (d.decodeBit() === 1) {
        // §6.1 indexed field
        const entry = this.table.lookup(d.decodeInt());
        field = { name: latin1(entry.name), value: latin1(entry.value), neverIndex: false };
      } else {
        const incremental = d.decodeBit() === 1;
        let neverIndex = false;
        if (!incremental) {
          if (d.decodeBit() === 1) {
            // §6.3 dynamic table size update: only before the first field (§4.2)
            if (fields.length > 0) throw new HpackError('hpack table size update after a header field');
            const size = d.decodeInt();
            this.table.updateSize(size);
            tableSizeUpdates.push(size);
            continue;
          }
          neverIndex = d.decodeBit() === 1;
        }
        // §6.2 literal field: indexed or literal name, then the value
        const nameIndex = d.decodeInt();
        const name = nameIndex === 0 ? octets(d.decodeStr()) : latin1(this.table.lookup(nameIndex).name);
        const value = octets(d.decodeStr());
        if (incremental) this.table.add(name.toString('latin1'), value.toString('latin1'), name.length, value.length);
        field = { name, value, neverIndex };
      }
      listSize += field.name.length + field.value.length + 32;
      if (listSize > MAX_DECODED_HEADER_LIST_SIZE) {
        throw new HpackError(`decoded header list exceeds ${MAX_DECODED_HEADER_LIST_SIZE} bytes`);
      }
      fields.push(field);
    }
    return { tableSizeUpdates, fields };
  }
}

const STATIC = hpack['static-table'].map;

/** Static table index of `name` (and of `name: value` when exact), or 0. */
function staticIndex(name: string, value: string): { name: number; exact: number } {
  if (!Object.hasOwn(STATIC, name)) return { name: 0, exact: 0 };
  const entry = STATIC[name]!;
  return { name: entry.index, exact: Object.hasOwn(entry.values, value) ? entry.values[value]! : 0 };
}

/**
 * Encodes `block` without touching the decoder's dynamic table: size updates first (as sent, so the server's table
 * size follows the client's), then each field as a static-table index when it is one exactly, else as a literal
 * without indexing (never indexed when it was sent so), its name by static index when there is one.
 */
export function encodeHeaderBlock(block: DecodedHeaderBlock): Buffer {
  const e = hpack.encoder.create();
  for (const size of block.tableSizeUpdates) {
    e.encodeBits(0b001, 3);
    e.encodeInt(size);
  }
  for (const field of block.fields) {
    const idx = staticIndex(field.name.toString('latin1'), field.value.toString('latin1'));
    if (idx.exact !== 0 && !field.neverIndex) {
      e.encodeBit(1);
      e.encodeInt(idx.exact);
      continue;
    }
    e.encodeBits(field.neverIndex ? 0b0001 : 0b0000, 4);
    e.encodeInt(idx.name);
    if (idx.name === 0) e.encodeStr(field.name, false);
    e.encodeStr(field.value, false);
  }
  return Buffer.concat(e.render());
}

function latin1(s: string): Buffer {
  return Buffer.from(s, 'latin1');
}

function octets(s: Buffer | number[]): Buffer {
  return Buffer.isBuffer(s) ? Buffer.from(s) : Buffer.from(s);
}
