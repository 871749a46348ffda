// The byte stream of an HTTP/1.1 connection that carries methods node:http's parser (llhttp) does not
// know, rewritten so that it can: each request line whose method is a valid token outside llhttp's
// list gets a stand-in method of the same framing (POST), and the real method travels in a header
// whose name only this process knows, which the fallback server restores and removes
// (method-fallback.ts). Everything else passes unchanged, byte for byte.
//
// To find the next request line, the rewriter frames the stream itself: a request head, then its
// body by Content-Length or chunked Transfer-Encoding, as RFC 9112 section 6 and llhttp frame it.
// Node's parser still parses every byte it is given; the rewriter only decides where request lines
// are. Where the two could disagree (anything but a plain head with at most one Content-Length or a
// chunked Transfer-Encoding without Content-Length, an Upgrade or CONNECT, a head over the size
// limit), the rewriter stops rewriting and passes the rest through: Node then rejects what it
// rejects, and a later unknown method gets 400 as it would without this fallback. A method is never
// rewritten anywhere Node could read as body.
import { METHODS } from 'node:http';

/** A method token (RFC 9110 section 5.6.2): one or more tchar. */
const tchar = new Uint8Array(256);
for (const c of "!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ")
  tchar[c.charCodeAt(0)] = 1;

export function isTchar(byte: number): boolean {
  return tchar[byte] === 1;
}

/** The methods node:http's parser accepts on an HTTP/1.x request line. */
export const parserMethods: ReadonlySet<string> = new Set(METHODS);

/** What the stand-in method is: any method llhttp frames by the headers alone (not HEAD or CONNECT). */
export const standInMethod = 'POST';

const CR = 0x0d;
const LF = 0x0a;
const noBytes = Buffer.alloc(0);
/** Longest chunk-size line (size and extensions) accepted before giving up. */
const maxChunkLine = 4096;

type State = 'head' | 'body' | 'chunk-size' | 'chunk-data' | 'chunk-end' | 'trailers' | 'through';

export class MethodRewriter {
  readonly #header: string;
  readonly #maxHead: number;
  #state: State = 'head';
  /** Bytes of an unfinished head, chunk-size line or trailer section. */
  #pending: Buffer[] = [];
  #pendingBytes = 0;
  /** The last (up to 3) bytes of #pending. */
  #tail: Buffer = noBytes;
  /** Body or chunk bytes still to pass. */
  #remaining = 0;
  /** Requests rewritten so far (tests and the debug log). */
  rewritten = 0;

  /** `header`: the lowercase name of the header that carries the real method. */
  constructor(header: string, maxHeadBytes: number) {
    this.#header = header;
    this.#maxHead = maxHeadBytes;
  }

  /** Whether the rewriter has given up (every later byte passes through unchanged). */
  get passingThrough(): boolean {
    return this.#state === 'through';
  }

  /** The bytes to hand on for `chunk`, in order. */
  push(chunk: Buffer): Buffer[] {
    const out: Buffer[] = [];
    let at = 0;
    while (at < chunk.length) {
      switch (this.#state) {
        case 'through':
          out.push(at === 0 ? chunk : chunk.subarray(at));
          return out;
        case 'body':
        case 'chunk-data': {
          const n = Math.min(this.#remaining, chunk.length - at);
          out.push(chunk.subarray(at, at + n));
          at += n;
          this.#remaining -= n;
          if (this.#remaining === 0) this.#state = this.#state === 'body' ? 'head' : 'chunk-end';
          break;
        }
        default:
          at = this.#line(chunk, at, out);
      }
    }
    return out;
  }

  /**
   * Collects a head, chunk-size line, chunk end or trailer section; returns where it stopped. Bytes
   * of an unfinished section wait in #pending; each new chunk is searched once (with the last 3
   * bytes before it, for a mark split across chunks), so a head trickled in small pieces costs
   * time in proportion to its size.
   */
  #line(chunk: Buffer, at: number, out: Buffer[]): number {
    const state = this.#state;
    const rest = chunk.subarray(at);
    // An empty line first: before a request line llhttp skips it (it is passed as it is); as a
    // trailer section it ends the chunked body.
    if ((state === 'head' || state === 'trailers') && this.#startsWithCrlf(rest)) {
      const used = 2 - this.#pendingBytes; // a lone CR may have been waiting
      out.push(used === 2 ? rest.subarray(0, 2) : Buffer.from('\r\n', 'latin1'));
      this.#clearPending();
      if (state === 'trailers') this.#state = 'head';
      return at + used;
    }
    // A head and a trailer section end at an empty line; the others at the end of one line.
    const endMark = state === 'head' || state === 'trailers' ? '\r\n\r\n' : '\r\n';
    const limit = state === 'chunk-size' || state === 'chunk-end' ? maxChunkLine : this.#maxHead;
    const tail = this.#tail;
    const found = (tail.length === 0 ? rest : Buffer.concat([tail, rest])).indexOf(endMark);
    if (found === -1) {
      this.#pending.push(rest);
      this.#pendingBytes += rest.length;
      if (this.#pendingBytes > limit) return this.#giveUp(out, chunk.length);
      this.#tail = rest.length >= 3 ? rest.subarray(-3) : Buffer.concat([tail, rest]).subarray(-3);
      return chunk.length;
    }
    const used = found - tail.length + endMark.length; // bytes of this chunk in the section
    const section = Buffer.concat([...this.#pending, rest.subarray(0, used)]);
    this.#clearPending();
    if (section.length > limit) {
      this.#pending = [section];
      return this.#giveUp(out, at + used);
    }
    switch (state) {
      case 'head':
        this.#head(section, out);
        break;
      case 'chunk-size':
        this.#chunkSize(section, out);
        break;
      case 'chunk-end':
        // The CRLF after a chunk's data: anything else is not a chunk llhttp would frame the same.
        this.#state = section.length === 2 ? 'chunk-size' : 'through';
        out.push(section);
        break;
      case 'trailers':
        out.push(section);
        this.#state = 'head';
        break;
    }
    return at + used;
  }

  /** Whether the waiting bytes and then `rest` begin with CRLF. */
  #startsWithCrlf(rest: Buffer): boolean {
    const waiting = this.#pending[0];
    if (waiting === undefined) return rest[0] === CR && rest[1] === LF;
    if (waiting.length >= 2) return waiting[0] === CR && waiting[1] === LF;
    return waiting[0] === CR && (this.#pending.length > 1 ? this.#pending[1]?.[0] : rest[0]) === LF;
  }

  #clearPending(): void {
    this.#pending = [];
    this.#pendingBytes = 0;
    this.#tail = noBytes;
  }

  /** Stops rewriting: what was waiting passes unchanged, and so does everything from `from` on. */
  #giveUp(out: Buffer[], from: number): number {
    this.#state = 'through';
    out.push(...this.#pending);
    this.#clearPending();
    return from;
  }

  #head(head: Buffer, out: Buffer[]): void {
    const text = head.toString('latin1');
    const lines = text.slice(0, -4).split('\r\n');
    const requestLine = lines[0] ?? '';
    const sp = requestLine.indexOf(' ');
    const method = sp > 0 ? requestLine.slice(0, sp) : '';
    let framing: 'none' | 'length' | 'chunked' | 'unsure' = 'none';
    let length = 0;
    let lengths = 0;
    let chunked = false;
    // After an Upgrade or CONNECT the bytes belong to another protocol (or the connection closes),
    // whether or not Node takes it as one: nothing after it is rewritten.
    let upgrade = method === 'CONNECT';
    for (let i = 1; i < lines.length; i++) {
      const line = lines[i] as string;
      const colon = line.indexOf(':');
      // No name, a folded line, or a bare CR or LF inside: leave the judgement to the parser.
      if (colon <= 0 || line.includes('\n') || line.includes('\r') || !isTcharString(line.slice(0, colon))) {
        framing = 'unsure';
        break;
      }
      const name = line.slice(0, colon).toLowerCase();
      const value = line.slice(colon + 1).trim();
      if (name === 'content-length') {
        lengths++;
        if (!/^\d{1,15}$/.test(value)) framing = 'unsure';
        else length = Number(value);
      } else if (name === 'transfer-encoding') {
        if (chunked) framing = 'unsure'; // two lines: llhttp's reading is not worth guessing
        const codings = value.toLowerCase().split(',');
        chunked = codings[codings.length - 1]?.trim() === 'chunked';
        if (!chunked) framing = 'unsure';
      } else if (name === 'upgrade') {
        upgrade = true;
      }
    }
    if (framing !== 'unsure') {
      if (lengths > 1 || (lengths === 1 && chunked)) framing = 'unsure';
      else if (chunked) framing = 'chunked';
      else if (lengths === 1 && length > 0) framing = 'length';
    }
    const rewrite = method !== '' && !parserMethods.has(method) && isTcharString(method);
    if (rewrite) {
      this.rewritten++;
      out.push(
        Buffer.from(`${standInMethod}${requestLine.slice(sp)}\r\n${this.#header}: ${method}\r\n`, 'latin1'),
        head.subarray(requestLine.length + 2),
      );
    } else {
      out.push(head);
    }
    if (framing === 'unsure' || upgrade) this.#state = 'through';
    else if (framing === 'chunked') this.#state = 'chunk-size';
    else if (framing === 'length') {
      this.#state = 'body';
      this.#remaining = length;
    } else this.#state = 'head';
  }

  #chunkSize(line: Buffer, out: Buffer[]): void {
    out.push(line);
    const m = /^([0-9a-fA-F]{1,15})(?:[ \t]*;[^\r\n]*)?\r\n$/.exec(line.toString('latin1'));
    if (m === null) {
      this.#state = 'through';
      return;
    }
    const size = parseInt(m[1] as string, 16);
    if (size === 0) this.#state = 'trailers';
    else {
      this.#state = 'chunk-data';
      this.#remaining = size;
    }
  }
}

export function isTcharString(s: string): boolean {
  if (s.length === 0) return false;
  for (let i = 0; i < s.length; i++) if (tchar[s.charCodeAt(i)] !== 1) return false;
  return true;
}
