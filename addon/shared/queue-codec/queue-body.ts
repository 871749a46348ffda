// The interceptor's GET /queue document, both ways: the interceptor encodes its counts with it and
// the scaler decodes them with it. The format is upstream's (Go's json.Encoder over
// map[string]Count): {"ns/name":{"Concurrency":3,"RequestCount":1234},...} plus a newline, keys
// sorted, no spaces. Upstream's scaler reads what we encode, and we read what upstream's
// interceptor encodes.
//
// Encoding: a route's JSON-encoded key is computed once, when the route is added (wireKey), so
// writing a body of 10,000 routes is concatenation of numbers and cached strings.
//
// Decoding: at 10,000 routes a body is ~580 KiB and the scaler reads one per interceptor per tick,
// so parsing is most of a tick's work. Our own encoding (the same as upstream's) is scanned
// directly; anything else (whitespace, other field order, escapes, unsorted or repeated keys,
// long numbers) goes through JSON.parse and the same validation, so every valid document gives the
// same answer, and a repeated key counts once, with its last value, as JSON parsers read it.
// Every count must be a non-negative integer no larger than 2^53 - 1 (exact in a double): 1e308,
// 1.5, -1 or "3" make the whole body invalid.
import { boundedJson, boundedText } from '../bounded-text.ts';

export interface QueueCount {
  Concurrency: number;
  RequestCount: number;
}

/** One interceptor's counts, as parallel arrays (index i describes keys[i]); keys are unique. */
export interface QueueCounts {
  readonly keys: readonly string[];
  readonly concurrency: readonly number[];
  readonly requestCount: readonly number[];
}

/** What the encoder reads for each route: its key, its cached JSON-encoded key, its numbers. */
export interface QueueBodyEntry extends QueueCount {
  readonly key: string;
  /** encodeQueueKey(key), kept with the entry so a body never re-encodes a key. */
  readonly wireKey: string;
}

/**
 * The bound on a /queue body and on one /queue/watch event, in bytes. A body is ~60 bytes per
 * route with usual names and at most ~360 with the longest names Kubernetes allows, so this
 * holds ~140,000 usual routes (23,000 of the longest).
 */
export const defaultMaxQueueBytes = 8 * 1024 * 1024;

/** A route key as a JSON string (with its quotes). */
export function encodeQueueKey(key: string): string {
  return JSON.stringify(key);
}

/** The order of keys in a body: ascending by UTF-16 code units, the order the scanner expects. */
export function compareQueueKeys(a: { key: string }, b: { key: string }): number {
  return a.key < b.key ? -1 : a.key > b.key ? 1 : 0;
}

/** The /queue body for entries already in compareQueueKeys order. */
export function encodeQueueBody(sorted: readonly QueueBodyEntry[]): string {
  let out = '{';
  for (let i = 0; i < sorted.length; i++) {
    const e = sorted[i] as QueueBodyEntry;
    out += `${i === 0 ? '' : ','}${e.wireKey}:{"Concurrency":${e.Concurrency},"RequestCount":${e.RequestCount}}`;
  }
  return `${out}}\n`;
}

/** The /queue body for any collection of counts (sorts them; for tests and tools). */
export function encodeQueueCounts(counts: Iterable<readonly [string, QueueCount]>): string {
  const entries: QueueBodyEntry[] = [];
  for (const [key, c] of counts) {
    entries.push({
      key,
      wireKey: encodeQueueKey(key),
      Concurrency: c.Concurrency,
      RequestCount: c.RequestCount,
    });
  }
  return encodeQueueBody(entries.sort(compareQueueKeys));
}

/** A count as the wire may carry it: a non-negative integer that a double holds exactly. */
export function isQueueCount(v: unknown): v is number {
  return typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;
}

/**
 * Decodes a /queue body; throws an error saying what is wrong with it (quoting at most a bounded
 * part of it). `maxChars` bounds the input (the reader should already have stopped reading there).
 */
export function decodeQueueBody(body: string, maxChars = defaultMaxQueueBytes): QueueCounts {
  if (body.length > maxChars) {
    throw new Error(`queue response is larger than the ${maxChars}-byte bound`);
  }
  return scanOwnEncoding(body) ?? decodeAnyJson(body);
}

/** The counts of one key, for tests and logs. */
export function countOf(counts: QueueCounts, key: string): QueueCount | undefined {
  const i = counts.keys.indexOf(key);
  if (i === -1) return undefined;
  return { Concurrency: counts.concurrency[i] ?? 0, RequestCount: counts.requestCount[i] ?? 0 };
}

const QUOTE = 34;
const BACKSLASH = 92;
const COMMA = 44;
const OPEN = 123;
const CLOSE = 125;
const concurrencyField = '":{"Concurrency":';
const requestCountField = ',"RequestCount":';
/** The fast path; undefined when the body is not exactly our (and upstream's) encoding. */
function scanOwnEncoding(body: string): QueueCounts | undefined {
  // The body is scanned in place, never sliced: reading characters through a slice is slower.
  let end = body.length;
  if (body.charCodeAt(end - 1) === 10) end--; // json.Encoder's trailing newline
  if (body.charCodeAt(0) !== OPEN || body.charCodeAt(end - 1) !== CLOSE) return undefined;

  const keys: string[] = [];
  const concurrency: number[] = [];
  const requestCount: number[] = [];
  let i = 1;
  if (i === end - 1) return { keys, concurrency, requestCount }; // {}
  let previousStart = -1;
  let previousEnd = -1;
  for (;;) {
    if (body.charCodeAt(i) !== QUOTE) return undefined;
    const keyEnd = scanKey(body, i + 1, end, previousStart, previousEnd);
    if (keyEnd === -1) return undefined;
    previousStart = i + 1;
    previousEnd = keyEnd;
    const key = body.slice(i + 1, keyEnd);
    if (!body.startsWith(concurrencyField, keyEnd)) return undefined;
    const c = readInt(body, keyEnd + concurrencyField.length);
    if (c < 0 || !body.startsWith(requestCountField, scanPos)) return undefined;
    const n = readInt(body, scanPos + requestCountField.length);
    if (n < 0) return undefined;
    let p = scanPos;
    if (body.charCodeAt(p) !== CLOSE) return undefined;
    keys.push(key);
    concurrency.push(c);
    requestCount.push(n);
    p++;
    const sep = body.charCodeAt(p);
    if (p === end - 1 && sep === CLOSE) return { keys, concurrency, requestCount };
    if (sep !== COMMA) return undefined;
    i = p + 1;
  }
}

/**
 * The end (closing quote) of the key starting at `start`, or -1 when the scanner must leave the
 * body to JSON.parse: an escape or a raw control character (invalid in JSON) in the key, or a key
 * that does not sort strictly after the previous one, s[prevStart, prevEnd) (by UTF-16 code units,
 * as `<` on strings). Strictly ascending keys cannot repeat; JSON.parse reads a repeated key as
 * its last value. One pass over the key's characters does all three, in place: reading through a
 * slice of the body would be slower.
 */
function scanKey(s: string, start: number, end: number, prevStart: number, prevEnd: number): number {
  let p = start;
  let q = prevStart;
  // -1: not decided yet (equal so far); 1: after the previous key. No previous key: after it.
  let order = prevStart === -1 ? 1 : -1;
  for (; p < end; p++) {
    const ch = s.charCodeAt(p);
    if (ch === QUOTE) break;
    if (ch < 32 || ch === BACKSLASH) return -1;
    if (order === -1) {
      if (q === prevEnd) {
        order = 1; // the previous key is a prefix of this one
      } else {
        const prev = s.charCodeAt(q++);
        if (ch !== prev) {
          if (ch < prev) return -1;
          order = 1;
        }
      }
    }
  }
  if (p === end || order === -1) return -1; // unterminated, or equal to (or a prefix of) the previous key
  return p;
}

// Where readInt stopped; a module variable rather than a returned object, because the scanner
// reads a million numbers per tick at 10,000 routes x 50 interceptors.
let scanPos = 0;

/**
 * A JSON non-negative integer of at most 15 digits (exact in a double), or -1 (anything else,
 * including a leading zero, a fraction or an exponent, is for JSON.parse to judge). Sets scanPos.
 */
function readInt(s: string, start: number): number {
  let p = start;
  let v = 0;
  for (;;) {
    const ch = s.charCodeAt(p);
    if (ch < 48 || ch > 57) break;
    v = v * 10 + (ch - 48);
    p++;
  }
  const digits = p - start;
  if (digits === 0 || digits > 15 || (digits > 1 && s.charCodeAt(start) === 48)) return -1;
  const next = s.charCodeAt(p);
  if (next === 46 || next === 101 || next === 69) return -1; // . e E
  scanPos = p;
  return v;
}

function decodeAnyJson(body: string): QueueCounts {
  let doc: unknown;
  try {
    doc = JSON.parse(body);
  } catch (err) {
    throw new Error(
      `queue response is not JSON: ${boundedText(err instanceof Error ? err.message : String(err))}`,
    );
  }
  if (typeof doc !== 'object' || doc === null || Array.isArray(doc)) {
    throw new Error('queue response is not a JSON object of route keys');
  }
  const keys: string[] = [];
  const concurrency: number[] = [];
  const requestCount: number[] = [];
  for (const [key, value] of Object.entries(doc as Record<string, unknown>)) {
    const c = value as Partial<QueueCount> | null;
    if (
      typeof c !== 'object' ||
      c === null ||
      !isQueueCount(c.Concurrency) ||
      !isQueueCount(c.RequestCount)
    ) {
      throw new Error(
        `queue response entry ${boundedJson(key)} is not {"Concurrency":<n>,"RequestCount":<n>} with non-negative integers: ${boundedJson(c)}`,
      );
    }
    keys.push(key);
    concurrency.push(c.Concurrency);
    requestCount.push(c.RequestCount);
  }
  return { keys, concurrency, requestCount };
}
