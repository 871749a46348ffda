// SPDY/3.1 framing, as much of it as the kubelet's port-forward needs (hack/kubelet/port-forward.ts).
// kube-apiserver reaches the kubelet's /portForward endpoint over SPDY/3.1 (`Upgrade: SPDY/3.1`,
// `X-Stream-Protocol-Version: portforward.k8s.io`) whether its own client spoke SPDY or WebSockets
// (it tunnels the latter's SPDY frames), so SPDY is the one protocol to serve.
//
// Frames (draft-mbelshe-httpbis-spdy-00, section 2.2): 8-byte header, then the payload.
//   control: 1 | version(15) | type(16) | flags(8) | length(24)
//   data:    0 | stream id(31)          | flags(8) | length(24)
// Header blocks (SYN_STREAM, SYN_REPLY, HEADERS) are zlib streams with a preset dictionary, one
// stream per direction for the whole connection: each block continues where the last one ended.
import zlib from 'node:zlib';

export const SPDY_VERSION = 3;

export const FrameType = {
  synStream: 1,
  synReply: 2,
  rstStream: 3,
  settings: 4,
  ping: 6,
  goAway: 7,
  headers: 8,
  windowUpdate: 9,
} as const;

/** The sender's last frame on this stream (data frames, SYN_STREAM, SYN_REPLY). */
export const FLAG_FIN = 0x01;

/** RST_STREAM status codes used here. */
export const RstStatus = { protocolError: 1, refusedStream: 3, cancel: 5 } as const;

const MAX_FRAME_LENGTH = 0xffffff;

export interface DataFrame {
  kind: 'data';
  streamId: number;
  flags: number;
  data: Buffer;
}

export interface ControlFrame {
  kind: 'control';
  version: number;
  type: number;
  flags: number;
  payload: Buffer;
}

export type Frame = DataFrame | ControlFrame;

/** Cuts a byte stream into frames; `push` returns the frames completed by each chunk. */
export class FrameReader {
  private buffered: Buffer = Buffer.alloc(0);

  push(chunk: Buffer): Frame[] {
    this.buffered = this.buffered.length === 0 ? chunk : Buffer.concat([this.buffered, chunk]);
    const frames: Frame[] = [];
    while (this.buffered.length >= 8) {
      const length = this.buffered.readUIntBE(5, 3);
      if (this.buffered.length < 8 + length) break;
      const first = this.buffered.readUInt32BE(0);
      const flags = this.buffered.readUInt8(4);
      const payload = this.buffered.subarray(8, 8 + length);
      if (first & 0x80000000) {
        frames.push({
          kind: 'control',
          version: (first >>> 16) & 0x7fff,
          type: first & 0xffff,
          flags,
          payload,
        });
      } else {
        frames.push({ kind: 'data', streamId: first & 0x7fffffff, flags, data: payload });
      }
      this.buffered = this.buffered.subarray(8 + length);
    }
    return frames;
  }
}

function frameHeader(first: number, flags: number, length: number): Buffer {
  if (length > MAX_FRAME_LENGTH)
    throw new Error(`SPDY frame payload of ${length} bytes exceeds ${MAX_FRAME_LENGTH}`);
  const header = Buffer.alloc(8);
  header.writeUInt32BE(first >>> 0, 0);
  header.writeUInt8(flags, 4);
  header.writeUIntBE(length, 5, 3);
  return header;
}

export function encodeControlFrame(type: number, flags: number, payload: Buffer): Buffer {
  return Buffer.concat([
    frameHeader((0x80000000 | (SPDY_VERSION << 16) | type) >>> 0, flags, payload.length),
    payload,
  ]);
}

export function encodeDataFrame(streamId: number, data: Buffer, flags = 0): Buffer {
  return Buffer.concat([frameHeader(streamId & 0x7fffffff, flags, data.length), data]);
}

export function encodeRstStream(streamId: number, status: number): Buffer {
  const payload = Buffer.alloc(8);
  payload.writeUInt32BE(streamId & 0x7fffffff, 0);
  payload.writeUInt32BE(status, 4);
  return encodeControlFrame(FrameType.rstStream, 0, payload);
}

export function encodeGoAway(lastGoodStreamId: number, status = 0): Buffer {
  const payload = Buffer.alloc(8);
  payload.writeUInt32BE(lastGoodStreamId & 0x7fffffff, 0);
  payload.writeUInt32BE(status, 4);
  return encodeControlFrame(FrameType.goAway, 0, payload);
}

/** SYN_REPLY with an already compressed header block. */
export function encodeSynReply(streamId: number, compressedHeaders: Buffer, flags = 0): Buffer {
  const id = Buffer.alloc(4);
  id.writeUInt32BE(streamId & 0x7fffffff, 0);
  return encodeControlFrame(FrameType.synReply, flags, Buffer.concat([id, compressedHeaders]));
}

export interface SynStream {
  streamId: number;
  associatedStreamId: number;
  priority: number;
  /** The header block, still compressed. */
  compressedHeaders: Buffer;
}

export function parseSynStream(payload: Buffer): SynStream {
  if (payload.length < 10) throw new Error(`SYN_STREAM payload of ${payload.length} bytes is too short`);
  return {
    streamId: payload.readUInt32BE(0) & 0x7fffffff,
    associatedStreamId: payload.readUInt32BE(4) & 0x7fffffff,
    priority: payload.readUInt8(8) >> 5,
    compressedHeaders: payload.subarray(10),
  };
}

/** The stream id at the start of RST_STREAM, SYN_REPLY, HEADERS and WINDOW_UPDATE payloads. */
export function streamIdOf(payload: Buffer): number {
  return payload.length >= 4 ? payload.readUInt32BE(0) & 0x7fffffff : 0;
}

/** Names (lower case) to values; several values of one name travel NUL-separated. */
export type Headers = Map<string, string[]>;

/** An uncompressed header block: count, then (length, name, length, value) pairs, all lengths 32-bit. */
export function encodeHeaderBlock(headers: Headers): Buffer {
  const parts: Buffer[] = [];
  const u32 = (n: number): Buffer => {
    const b = Buffer.alloc(4);
    b.writeUInt32BE(n, 0);
    return b;
  };
  parts.push(u32(headers.size));
  for (const [name, values] of headers) {
    const n = Buffer.from(name.toLowerCase());
    const v = Buffer.from(values.join('\0'));
    parts.push(u32(n.length), n, u32(v.length), v);
  }
  return Buffer.concat(parts);
}

export function decodeHeaderBlock(block: Buffer): Headers {
  const headers: Headers = new Map();
  let offset = 0;
  const u32 = (): number => {
    if (offset + 4 > block.length) throw new Error('SPDY header block is truncated');
    const n = block.readUInt32BE(offset);
    offset += 4;
    return n;
  };
  const bytes = (n: number): string => {
    if (offset + n > block.length) throw new Error('SPDY header block is truncated');
    const s = block.toString('utf8', offset, offset + n);
    offset += n;
    return s;
  };
  const count = u32();
  for (let i = 0; i < count; i++) {
    const name = bytes(u32()).toLowerCase();
    const values = bytes(u32()).split('\0');
    headers.set(name, [...(headers.get(name) ?? []), ...values]);
  }
  return headers;
}

/** The preset zlib dictionary of SPDY/3 header blocks (the draft's section 2.6.10.1). */
export const HEADER_DICTIONARY = Buffer.from(
  'AAAAB29wdGlvbnMAAAAEaGVhZAAAAARwb3N0AAAAA3B1dAAAAAZkZWxldGUAAAAFdHJhY2UAAAAGYWNjZXB0AAAADmFjY2Vw' +
    'dC1jaGFyc2V0AAAAD2FjY2VwdC1lbmNvZGluZwAAAA9hY2NlcHQtbGFuZ3VhZ2UAAAANYWNjZXB0LXJhbmdlcwAAAANhZ2UA' +
    'AAAFYWxsb3cAAAANYXV0aG9yaXphdGlvbgAAAA1jYWNoZS1jb250cm9sAAAACmNvbm5lY3Rpb24AAAAMY29udGVudC1iYXNl' +
    'AAAAEGNvbnRlbnQtZW5jb2RpbmcAAAAQY29udGVudC1sYW5ndWFnZQAAAA5jb250ZW50LWxlbmd0aAAAABBjb250ZW50LWxv' +
    'Y2F0aW9uAAAAC2NvbnRlbnQtbWQ1AAAADWNvbnRlbnQtcmFuZ2UAAAAMY29udGVudC10eXBlAAAABGRhdGUAAAAEZXRhZwAA' +
    'AAZleHBlY3QAAAAHZXhwaXJlcwAAAARmcm9tAAAABGhvc3QAAAAIaWYtbWF0Y2gAAAARaWYtbW9kaWZpZWQtc2luY2UAAAAN' +
    'aWYtbm9uZS1tYXRjaAAAAAhpZi1yYW5nZQAAABNpZi11bm1vZGlmaWVkLXNpbmNlAAAADWxhc3QtbW9kaWZpZWQAAAAIbG9j' +
    'YXRpb24AAAAMbWF4LWZvcndhcmRzAAAABnByYWdtYQAAABJwcm94eS1hdXRoZW50aWNhdGUAAAATcHJveHktYXV0aG9yaXph' +
    'dGlvbgAAAAVyYW5nZQAAAAdyZWZlcmVyAAAAC3JldHJ5LWFmdGVyAAAABnNlcnZlcgAAAAJ0ZQAAAAd0cmFpbGVyAAAAEXRy' +
    'YW5zZmVyLWVuY29kaW5nAAAAB3VwZ3JhZGUAAAAKdXNlci1hZ2VudAAAAAR2YXJ5AAAAA3ZpYQAAAAd3YXJuaW5nAAAAEHd3' +
    'dy1hdXRoZW50aWNhdGUAAAAGbWV0aG9kAAAAA2dldAAAAAZzdGF0dXMAAAAGMjAwIE9LAAAAB3ZlcnNpb24AAAAISFRUUC8x' +
    'LjEAAAADdXJsAAAABnB1YmxpYwAAAApzZXQtY29va2llAAAACmtlZXAtYWxpdmUAAAAGb3JpZ2luMTAwMTAxMjAxMjAyMjA1' +
    'MjA2MzAwMzAyMzAzMzA0MzA1MzA2MzA3NDAyNDA1NDA2NDA3NDA4NDA5NDEwNDExNDEyNDEzNDE0NDE1NDE2NDE3NTAyNTA0' +
    'NTA1MjAzIE5vbi1BdXRob3JpdGF0aXZlIEluZm9ybWF0aW9uMjA0IE5vIENvbnRlbnQzMDEgTW92ZWQgUGVybWFuZW50bHk0' +
    'MDAgQmFkIFJlcXVlc3Q0MDEgVW5hdXRob3JpemVkNDAzIEZvcmJpZGRlbjQwNCBOb3QgRm91bmQ1MDAgSW50ZXJuYWwgU2Vy' +
    'dmVyIEVycm9yNTAxIE5vdCBJbXBsZW1lbnRlZDUwMyBTZXJ2aWNlIFVuYXZhaWxhYmxlSmFuIEZlYiBNYXIgQXByIE1heSBK' +
    'dW4gSnVsIEF1ZyBTZXB0IE9jdCBOb3YgRGVjIDAwOjAwOjAwIE1vbiwgVHVlLCBXZWQsIFRodSwgRnJpLCBTYXQsIFN1biwg' +
    'R01UY2h1bmtlZCx0ZXh0L2h0bWwsaW1hZ2UvcG5nLGltYWdlL2pwZyxpbWFnZS9naWYsYXBwbGljYXRpb24veG1sLGFwcGxp' +
    'Y2F0aW9uL3hodG1sK3htbCx0ZXh0L3BsYWluLHRleHQvamF2YXNjcmlwdCxwdWJsaWNwcml2YXRlbWF4LWFnZT1nemlwLGRl' +
    'ZmxhdGUsc2RjaGNoYXJzZXQ9dXRmLThjaGFyc2V0PWlzby04ODU5LTEsdXRmLSwqLGVucT0wLg==',
  'base64',
);

function adler32(data: Buffer): number {
  let a = 1;
  let b = 0;
  for (const byte of data) {
    a = (a + byte) % 65521;
    b = (b + a) % 65521;
  }
  return ((b << 16) | a) >>> 0;
}

const SYNC_FLUSH_MARKER = Buffer.from([0x00, 0x00, 0x00, 0xff, 0xff]);

/**
 * Compresses outgoing header blocks as stored (uncompressed) deflate blocks: a valid zlib stream with
 * the SPDY dictionary, synchronous, and the kubelet's replies carry no headers worth compressing.
 */
export class HeaderCompressor {
  private started = false;

  compress(block: Buffer): Buffer {
    const parts: Buffer[] = [];
    if (!this.started) {
      // CMF 0x78 (deflate, 32K window), FLG 0x20 (FDICT; 0x7820 % 31 == 0), then the dictionary's id.
      const header = Buffer.from([0x78, 0x20, 0, 0, 0, 0]);
      header.writeUInt32BE(adler32(HEADER_DICTIONARY), 2);
      parts.push(header);
      this.started = true;
    }
    for (let offset = 0; offset < block.length; offset += 0xffff) {
      const piece = block.subarray(offset, offset + 0xffff);
      // BFINAL 0, BTYPE 00 (stored), then LEN and its one's complement, little-endian.
      const stored = Buffer.from([0, 0, 0, 0, 0]);
      stored.writeUInt16LE(piece.length, 1);
      stored.writeUInt16LE(~piece.length & 0xffff, 3);
      parts.push(stored, piece);
    }
    // An empty stored block, as a sync flush ends: Go's inflater hands out a block's bytes only once
    // it has read the next block's header, so without it the reader waits for bytes that never come.
    parts.push(SYNC_FLUSH_MARKER);
    return Buffer.concat(parts);
  }
}

/** Deflate's back-references reach this far back. */
const DEFLATE_WINDOW = 32 * 1024;

/**
 * Decompresses incoming header blocks, synchronously. The sender's zlib stream is sync-flushed after
 * every block, so each block starts on a byte boundary with a fresh deflate block, and all that
 * carries over from the blocks before is the history its back-references may reach: the last 32 KiB
 * of the dictionary and everything inflated so far. Each block is inflated on its own as raw deflate
 * with that history as its dictionary, which is exactly what one long-lived inflater would produce.
 */
export class HeaderDecompressor {
  private history: Buffer = HEADER_DICTIONARY;
  private started = false;

  decompress(block: Buffer): Buffer {
    let deflated = block;
    if (!this.started) {
      // The zlib header: CMF (deflate), FLG with FDICT, the header check, then the dictionary's id.
      const valid =
        block.length >= 6 &&
        (block.readUInt8(0) & 0x0f) === 8 &&
        block.readUInt16BE(0) % 31 === 0 &&
        (block.readUInt8(1) & 0x20) !== 0 &&
        block.readUInt32BE(2) === adler32(HEADER_DICTIONARY);
      if (!valid)
        throw new Error('SPDY header stream does not start with a zlib header for the SPDY dictionary');
      deflated = block.subarray(6);
      this.started = true;
    }
    let out: Buffer;
    try {
      out = zlib.inflateRawSync(deflated, {
        dictionary: this.history,
        finishFlush: zlib.constants.Z_SYNC_FLUSH,
      });
    } catch (err) {
      throw new Error(`SPDY header block does not inflate: ${(err as Error).message}`);
    }
    this.history = Buffer.concat([this.history, out]).subarray(-DEFLATE_WINDOW);
    return out;
  }
}
