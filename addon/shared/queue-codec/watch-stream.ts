// GET /queue/watch, both ways: a text/event-stream the interceptor writes and the scaler reads.
//   event: snapshot\ndata: <the /queue body, without its newline>\n\n   (first, once)
//   event: active\ndata: {"key":"ns/name","Concurrency":1,"RequestCount":4}\n\n
//   event: idle\ndata: {"key":"ns/name","Concurrency":0,"RequestCount":4}\n\n
//   : heartbeat\n\n
// The reader is the subset of the server-sent-events format these use ("event:" and "data:"
// fields, ":" comments, a blank line ends an event) and works on bytes: chunks may split lines and
// UTF-8 characters anywhere, each byte is looked at once however long a line gets, and an event
// longer than the bound is an error as soon as it passes the bound, not once it ends.
import { boundedJson } from '../bounded-text.ts';
import { defaultMaxQueueBytes, isQueueCount, type QueueCount } from './queue-body.ts';

export type WatchTransition = 'active' | 'idle';

export interface WatchEvent extends QueueCount {
  key: string;
}

/** One transition event; `wireKey` is the route key as encodeQueueKey() gives it. */
export function encodeWatchEvent(
  kind: WatchTransition,
  wireKey: string,
  count: Readonly<QueueCount>,
): string {
  return `event: ${kind}\ndata: {"key":${wireKey},"Concurrency":${count.Concurrency},"RequestCount":${count.RequestCount}}\n\n`;
}

/** The first event of a stream: the same document as GET /queue. */
export function encodeSnapshotEvent(queueBody: string): string {
  return `event: snapshot\ndata: ${queueBody.trimEnd()}\n\n`;
}

export const heartbeatComment = ': heartbeat\n\n';

/** Decodes an active/idle event's data; throws an error saying what is wrong (quoting a bounded part). */
export function decodeWatchEvent(data: string): WatchEvent {
  let msg: Partial<Record<keyof WatchEvent, unknown>> | null;
  try {
    msg = JSON.parse(data) as typeof msg;
  } catch {
    throw new Error(`queue watch event is not JSON: ${boundedJson(data)}`);
  }
  if (
    typeof msg !== 'object' ||
    msg === null ||
    typeof msg.key !== 'string' ||
    !isQueueCount(msg.Concurrency) ||
    !isQueueCount(msg.RequestCount)
  ) {
    throw new Error(
      `queue watch event is not {"key":<string>,"Concurrency":<n>,"RequestCount":<n>} with non-negative integers: ${boundedJson(data)}`,
    );
  }
  return { key: msg.key, Concurrency: msg.Concurrency, RequestCount: msg.RequestCount };
}

export interface ServerSentEvent {
  event: string;
  data: string;
}

const NEWLINE = 10;
const CARRIAGE_RETURN = 13;
const COLON = 58;

/** Reads a text/event-stream from byte chunks. */
export class WatchStreamReader {
  readonly #maxEventBytes: number;
  /** The start of a line that has not ended yet, in the chunks it came in. */
  #partial: Buffer[] = [];
  #partialBytes = 0;
  #event = '';
  #data: string[] = [];
  /** Bytes of the event so far (its completed lines); with #partialBytes, what the bound limits. */
  #eventBytes = 0;

  constructor(maxEventBytes = defaultMaxQueueBytes) {
    this.#maxEventBytes = maxEventBytes;
  }

  /** Feeds a chunk; returns the events it completed. Throws once an event passes the bound. */
  feed(chunk: Buffer): ServerSentEvent[] {
    const out: ServerSentEvent[] = [];
    let start = 0;
    for (;;) {
      const nl = chunk.indexOf(NEWLINE, start);
      if (nl === -1) break;
      this.#line(this.#take(chunk, start, nl), out);
      start = nl + 1;
    }
    if (start < chunk.length) {
      this.#partial.push(chunk.subarray(start));
      this.#partialBytes += chunk.length - start;
      this.#checkBound();
    }
    return out;
  }

  /** The line ending at `end` in `chunk`, joined with the part of it that came in earlier chunks. */
  #take(chunk: Buffer, start: number, end: number): Buffer {
    let line = chunk.subarray(start, end);
    if (this.#partial.length > 0) {
      this.#partialBytes += line.length;
      this.#checkBound();
      line = Buffer.concat([...this.#partial, line]);
      this.#partial = [];
      this.#partialBytes = 0;
    }
    this.#eventBytes += line.length + 1;
    this.#checkBound();
    return line;
  }

  #checkBound(): void {
    const size = this.#eventBytes + this.#partialBytes;
    if (size > this.#maxEventBytes) {
      throw new Error(`queue watch event is larger than the ${this.#maxEventBytes}-byte bound`);
    }
  }

  #line(bytes: Buffer, out: ServerSentEvent[]): void {
    let end = bytes.length;
    if (end > 0 && bytes[end - 1] === CARRIAGE_RETURN) end--;
    if (end === 0) {
      if (this.#data.length > 0 || this.#event !== '') {
        out.push({ event: this.#event || 'message', data: this.#data.join('\n') });
      }
      this.#event = '';
      this.#data = [];
      this.#eventBytes = 0;
      return;
    }
    if (bytes[0] === COLON) {
      this.#eventBytes -= bytes.length + 1; // a comment (": heartbeat") is no part of an event
      return;
    }
    const colon = bytes.indexOf(COLON);
    const fieldEnd = colon === -1 || colon > end ? end : colon;
    const field = bytes.toString('latin1', 0, fieldEnd);
    let valueStart = fieldEnd === end ? end : fieldEnd + 1;
    if (bytes[valueStart] === 32 && valueStart < end) valueStart++; // one optional space
    if (field === 'event') this.#event = bytes.toString('utf8', valueStart, end);
    else if (field === 'data') this.#data.push(bytes.toString('utf8', valueStart, end));
  }
}
