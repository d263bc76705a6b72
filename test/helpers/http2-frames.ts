/**
 * Test-side view of a client's HTTP/2 byte stream, independent of the authority rewriter's own parsing: frames split
 * by their 9-byte headers, header blocks decoded with hpack.js's streaming Decompressor (not hpack-block.ts), and a
 * proxy that records what clients send to a Unix socket.
 */
import * as net from 'node:net';
import hpack from 'hpack.js';

const PREFACE_LENGTH = 24;

export interface Frame {
  readonly type: number;
  readonly flags: number;
  readonly streamId: number;
  readonly payload: Buffer;
}

/** The frames after the connection preface (a trailing partial frame is an error). */
export function splitFrames(bytes: Buffer): Frame[] {
  const frames: Frame[] = [];
  let i = PREFACE_LENGTH;
  while (i < bytes.length) {
    if (bytes.length - i < 9) throw new Error(`partial frame header at ${i}`);
    const length = bytes.readUIntBE(i, 3);
    if (bytes.length - i - 9 < length) throw new Error(`partial frame at ${i}`);
    frames.push({
      type: bytes[i + 3]!,
      flags: bytes[i + 4]!,
      streamId: bytes.readUInt32BE(i + 5) & 0x7fffffff,
      payload: bytes.subarray(i + 9, i + 9 + length),
    });
    i += 9 + length;
  }
  return frames;
}

export interface HeaderList {
  readonly streamId: number;
  readonly endStream: boolean;
  readonly fields: readonly (readonly [string, string])[];
}

/** Every header block of the stream, decoded in order with one decoder (so its dynamic table follows the stream). */
export function headerLists(bytes: Buffer): HeaderList[] {
  const decoder = hpack.decompressor.create({ table: { maxSize: 4096 } });
  const lists: HeaderList[] = [];
  let open: { streamId: number; endStream: boolean; parts: Buffer[] } | undefined;
  for (const f of splitFrames(bytes)) {
    if (f.type === 0x1) {
      let start = 0;
      let end = f.payload.length;
      if (f.flags & 0x8) {
        start = 1;
        end -= f.payload[0]!;
      }
      if (f.flags & 0x20) start += 5;
      open = { streamId: f.streamId, endStream: (f.flags & 0x1) !== 0, parts: [f.payload.subarray(start, end)] };
    } else if (f.type === 0x9) {
      open!.parts.push(f.payload);
    } else {
      continue;
    }
    if (f.flags & 0x4) {
      decoder.write(Buffer.concat(open!.parts));
      decoder.execute();
      const fields: [string, string][] = [];
      for (let h = decoder.read(); h !== null; h = decoder.read()) fields.push([h.name, h.value]);
      lists.push({ streamId: open!.streamId, endStream: open!.endStream, fields });
      open = undefined;
    }
  }
  return lists;
}

/** The frames that are not part of a header block, as [type, flags, streamId, payload hex]. */
export function otherFrames(bytes: Buffer): [number, number, number, string][] {
  return splitFrames(bytes)
    .filter((f) => f.type !== 0x1 && f.type !== 0x9)
    .map((f) => [f.type, f.flags, f.streamId, f.payload.toString('hex')]);
}

export interface CaptureProxy {
  readonly path: string;
  /** What each client connection sent so far, in connection order. */
  captured(): Buffer[];
  close(): Promise<void>;
}

/** A Unix socket at `path` that forwards each connection to `target` and records the client's bytes. */
export async function startCaptureProxy(path: string, target: string): Promise<CaptureProxy> {
  const captures: Buffer[][] = [];
  const sockets = new Set<net.Socket>();
  const server = net.createServer((client) => {
    const chunks: Buffer[] = [];
    captures.push(chunks);
    const upstream = net.connect({ path: target });
    for (const s of [client, upstream]) {
      sockets.add(s);
      s.on('error', () => undefined);
      s.on('close', () => sockets.delete(s));
    }
    client.on('data', (d: Buffer) => chunks.push(Buffer.from(d)));
    client.pipe(upstream);
    upstream.pipe(client);
  });
  await new Promise<void>((resolve) => server.listen(path, resolve));
  return {
    path,
    captured: () => captures.map((c) => Buffer.concat(c)),
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}
