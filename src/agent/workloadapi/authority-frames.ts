import { encodeHeaderBlock, HeaderBlockDecoder, type DecodedHeaderBlock, type HeaderField } from './hpack-block.js';

/**
 * Rewrites, in a client's HTTP/2 byte stream, an `:authority` (or `host`) that Node's http2 would refuse.
 *
 * Why: grpc-java (so java-spiffe) sends the Unix socket's path as `:authority`. nghttp2, under Node's http2, accepts
 * only RFC 3986 authority characters there (nghttp2_check_authority: no `/`) and resets the stream with PROTOCOL_ERROR
 * before grpc-js sees it; Node exposes no option to relax that. The Workload API does not use the authority at all,
 * so such a value is replaced by {@link REWRITTEN_AUTHORITY}; every other byte means what the client sent.
 *
 * Cost: frame headers are parsed (9 bytes per frame) and every other frame's bytes pass through as slices of the
 * chunk they came in. Only HEADERS/CONTINUATION payloads are buffered and HPACK-decoded (their dynamic table must be
 * followed). A block that needs no change is forwarded as its original bytes until the first rewrite; after that,
 * every block is re-encoded so that the server's dynamic table never has to match the client's (hpack-block.ts).
 *
 * Malformed input (a bad frame layout, a CONTINUATION out of place, a client PUSH_PROMISE, a bad HPACK block, a
 * header block over {@link MAX_HEADER_BLOCK_SIZE}) throws {@link FrameError}: the caller closes that connection.
 */

export const REWRITTEN_AUTHORITY = 'localhost';
/** Bound on one compressed header block (HEADERS + CONTINUATIONs); grpc-js's metadata limit is far below it. */
export const MAX_HEADER_BLOCK_SIZE = 64 * 1024;
/** SETTINGS_MAX_FRAME_SIZE's initial value: every peer accepts frames up to it, so re-encoded frames stay within. */
const MAX_FRAME_PAYLOAD = 16_384;

const PREFACE = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', 'latin1');
const FRAME_HEADER = 9;
const TYPE_HEADERS = 0x1;
const TYPE_PUSH_PROMISE = 0x5;
const TYPE_CONTINUATION = 0x9;
const FLAG_END_STREAM = 0x1;
const FLAG_END_HEADERS = 0x4;
const FLAG_PADDED = 0x8;
const FLAG_PRIORITY = 0x20;

export class FrameError extends Error {
  override readonly name = 'FrameError';
}

/**
 * Whether nghttp2 accepts `value` as :authority / host: RFC 3986 unreserved, pct-encoded, sub-delims, ":", "@",
 * "[" and "]" (the character set of nghttp2_check_authority).
 */
export function isAcceptedAuthority(value: Uint8Array): boolean {
  for (const c of value) if (!AUTHORITY_CHARS[c]) return false;
  return true;
}

const AUTHORITY_CHARS: boolean[] = (() => {
  const table = new Array<boolean>(256).fill(false);
  const allowed = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~%!$&'()*+,;=:@[]";
  for (const ch of allowed) table[ch.charCodeAt(0)] = true;
  return table;
})();

const AUTHORITY_NAMES = new Set([':authority', 'host']);

/** The field list with each refused authority replaced, or undefined when nothing needed it. */
export function rewriteAuthorities(fields: readonly HeaderField[]): HeaderField[] | undefined {
  let out: HeaderField[] | undefined;
  fields.forEach((f, i) => {
    if (AUTHORITY_NAMES.has(f.name.toString('latin1')) && !isAcceptedAuthority(f.value)) {
      out ??= [...fields];
      out[i] = { ...f, value: Buffer.from(REWRITTEN_AUTHORITY, 'latin1') };
    }
  });
  return out;
}

interface OpenBlock {
  readonly streamId: number;
  readonly endStream: boolean;
  /** The 5 priority bytes of the HEADERS frame, when it had them. */
  readonly priority: Buffer | undefined;
  readonly fragments: Buffer[];
  size: number;
  /** The block's frames exactly as received (forwarded as they are when nothing changes). */
  readonly raw: Buffer[];
}

/** Client-to-server byte stream rewriter for one connection: feed chunks in order, forward what it returns. */
export class AuthorityFrameRewriter {
  private readonly decoder = new HeaderBlockDecoder();
  private prefaceSeen = 0;
  /** Not HTTP/2 (no preface): bytes pass untouched and Node's http2 answers it. */
  private passthrough = false;
  /** True once a block has been re-encoded: from then on every block is (the server's table stopped following). */
  private reencoding = false;
  private readonly header = Buffer.alloc(FRAME_HEADER);
  private headerFill = 0;
  /** Bytes of the current frame's payload still to come; -1 between frames. */
  private remaining = -1;
  private type = 0;
  private flags = 0;
  private streamId = 0;
  /** Payload of the current HEADERS/CONTINUATION frame being collected. */
  private payload: Buffer[] = [];
  private block: OpenBlock | undefined;
  /** Blocks rewritten so far (metrics, tests). */
  rewrites = 0;

  push(chunk: Buffer): Buffer {
    if (this.passthrough) return chunk;
    const out: Buffer[] = [];
    let i = 0;
    /** Start of the run of chunk bytes forwarded untouched (not yet copied to out). */
    let run = 0;
    const flushRun = (end: number) => {
      if (end > run) out.push(chunk.subarray(run, end));
    };

    if (this.prefaceSeen < PREFACE.length) {
      const n = Math.min(PREFACE.length - this.prefaceSeen, chunk.length);
      if (!chunk.subarray(0, n).equals(PREFACE.subarray(this.prefaceSeen, this.prefaceSeen + n))) {
        this.passthrough = true;
        return chunk;
      }
      this.prefaceSeen += n;
      i = n;
    }

    while (i < chunk.length) {
      if (this.remaining < 0) {
        // A frame header. Where it began: negative when it began in an earlier chunk (those bytes were held back).
        const headerStart = i - this.headerFill;
        const n = Math.min(FRAME_HEADER - this.headerFill, chunk.length - i);
        chunk.copy(this.header, this.headerFill, i, i + n);
        this.headerFill += n;
        i += n;
        if (this.headerFill < FRAME_HEADER) {
          // Incomplete: forward what precedes it and hold its bytes until the frame's type is known.
          flushRun(Math.max(run, headerStart));
          run = chunk.length;
          break;
        }
        this.headerFill = 0;
        this.startFrame();
        if (this.collecting()) {
          // A header block frame is forwarded (as it was, or re-encoded) only once its block is complete.
          flushRun(Math.max(run, headerStart));
          run = i;
          if (this.remaining === 0) this.endFrame(out);
        } else {
          if (headerStart < 0) {
            // The header began in an earlier chunk: its held-back bytes go out now (none of it is in the run).
            out.push(Buffer.from(this.header));
            run = i;
          }
          if (this.remaining === 0) this.remaining = -1;
        }
        continue;
      }
      const n = Math.min(this.remaining, chunk.length - i);
      const collecting = this.collecting();
      if (collecting) this.payload.push(chunk.subarray(i, i + n));
      this.remaining -= n;
      i += n;
      if (collecting) {
        run = i;
        if (this.remaining === 0) this.endFrame(out);
      } else if (this.remaining === 0) {
        this.remaining = -1;
      }
    }
    flushRun(chunk.length);
    return out.length === 1 ? out[0]! : Buffer.concat(out);
  }

  private collecting(): boolean {
    return this.type === TYPE_HEADERS || this.type === TYPE_CONTINUATION;
  }

  private startFrame(): void {
    const h = this.header;
    const length = h.readUIntBE(0, 3);
    this.type = h[3]!;
    this.flags = h[4]!;
    this.streamId = h.readUInt32BE(5) & 0x7fffffff;
    this.remaining = length;
    this.payload = [];
    if (this.block !== undefined && this.type !== TYPE_CONTINUATION) {
      throw new FrameError(`expected a continuation frame for stream ${this.block.streamId}, got frame type ${this.type}`);
    }
    if (this.type === TYPE_PUSH_PROMISE) throw new FrameError('a client sent push_promise');
    if (this.type === TYPE_CONTINUATION && (this.block === undefined || this.block.streamId !== this.streamId)) {
      throw new FrameError(`continuation frame for stream ${this.streamId} outside its header block`);
    }
    if (this.collecting() && length > MAX_HEADER_BLOCK_SIZE) {
      throw new FrameError(`header frame of ${length} bytes exceeds ${MAX_HEADER_BLOCK_SIZE}`);
    }
  }

  /** A HEADERS/CONTINUATION frame is complete: add it to the block, and finish the block on END_HEADERS. */
  private endFrame(out: Buffer[]): void {
    const payload = this.payload.length === 1 ? this.payload[0]! : Buffer.concat(this.payload);
    const raw = Buffer.concat([Buffer.from(this.header), payload]);
    this.payload = [];
    this.remaining = -1;
    const type = this.type;
    this.type = 0;
    if (type === TYPE_HEADERS) {
      let start = 0;
      let end = payload.length;
      if (this.flags & FLAG_PADDED) {
        if (payload.length < 1) throw new FrameError('padded headers frame without a pad length');
        const pad = payload[0]!;
        start = 1;
        end -= pad;
      }
      let priority: Buffer | undefined;
      if (this.flags & FLAG_PRIORITY) {
        priority = Buffer.from(payload.subarray(start, start + 5));
        start += 5;
      }
      if (end < start) throw new FrameError('headers frame padding exceeds its payload');
      if (this.streamId === 0) throw new FrameError('headers frame on stream 0');
      this.block = {
        streamId: this.streamId,
        endStream: (this.flags & FLAG_END_STREAM) !== 0,
        priority,
        fragments: [],
        size: 0,
        raw: [],
      };
      this.addFragment(payload.subarray(start, end), raw);
    } else {
      this.addFragment(payload, raw);
    }
    if (this.flags & FLAG_END_HEADERS) this.finishBlock(out);
  }

  private addFragment(fragment: Buffer, raw: Buffer): void {
    const block = this.block!;
    block.size += fragment.length;
    if (block.size > MAX_HEADER_BLOCK_SIZE) {
      throw new FrameError(`header block exceeds ${MAX_HEADER_BLOCK_SIZE} bytes`);
    }
    block.fragments.push(fragment);
    block.raw.push(raw);
  }

  private finishBlock(out: Buffer[]): void {
    const block = this.block!;
    this.block = undefined;
    let decoded: DecodedHeaderBlock;
    try {
      decoded = this.decoder.decode(Buffer.concat(block.fragments));
    } catch (err) {
      throw new FrameError((err as Error).message);
    }
    const rewritten = rewriteAuthorities(decoded.fields);
    if (rewritten === undefined && !this.reencoding) {
      out.push(...block.raw);
      return;
    }
    if (rewritten !== undefined) this.rewrites++;
    this.reencoding = true;
    const encoded = encodeHeaderBlock({ tableSizeUpdates: decoded.tableSizeUpdates, fields: rewritten ?? decoded.fields });
    out.push(...headerFrames(block, encoded));
  }
}

/** HEADERS (+ CONTINUATION) frames carrying `encoded` for `block`'s stream, each within the initial max frame size. */
function headerFrames(block: OpenBlock, encoded: Buffer): Buffer[] {
  const frames: Buffer[] = [];
  const prefix = block.priority ?? Buffer.alloc(0);
  let offset = 0;
  let first = true;
  do {
    const room = MAX_FRAME_PAYLOAD - (first ? prefix.length : 0);
    const piece = encoded.subarray(offset, offset + room);
    offset += piece.length;
    const last = offset >= encoded.length;
    let flags = last ? FLAG_END_HEADERS : 0;
    if (first) flags |= (block.endStream ? FLAG_END_STREAM : 0) | (block.priority ? FLAG_PRIORITY : 0);
    const payload = first ? Buffer.concat([prefix, piece]) : piece;
    const header = Buffer.alloc(FRAME_HEADER);
    header.writeUIntBE(payload.length, 0, 3);
    header[3] = first ? TYPE_HEADERS : TYPE_CONTINUATION;
    header[4] = flags;
    header.writeUInt32BE(block.streamId, 5);
    frames.push(header, payload);
    first = false;
  } while (offset < encoded.length);
  return frames;
}
