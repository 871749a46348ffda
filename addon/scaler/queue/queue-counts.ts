// The interceptor's /queue document: {"ns/name":{"Concurrency":3,"RequestCount":1234}, ...}.
// It is validated here, once, so the rest of the scaler can trust the numbers.
//
// At 10,000 routes a body is ~580 KiB and the scaler reads one per interceptor per tick, so
// parsing is most of a tick's work. JSON.parse builds 10,000 small objects per body; upstream's
// exact encoding (Go's json.Encoder over map[string]Count: no spaces, fields in this order) is
// scanned directly instead, about 10x faster. Anything else (whitespace, other field order,
// escapes, non-integers) falls back to JSON.parse with full validation, so every valid document
// is accepted and an invalid one is reported.

/** One interceptor's counts, as parallel arrays (index i describes keys[i]). */
export interface QueueCounts {
  readonly keys: readonly string[];
  readonly concurrency: readonly number[];
  readonly requestCount: readonly number[];
}

export interface QueueCount {
  Concurrency: number;
  RequestCount: number;
}

/** Parses a /queue body; throws an error saying what is wrong with it. */
export function parseQueueCounts(body: string): QueueCounts {
  return scanGoEncoding(body) ?? parseGeneric(body);
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

/** The fast path; undefined when the body is not exactly Go's encoding. */
function scanGoEncoding(body: string): QueueCounts | undefined {
  let end = body.length;
  if (body.charCodeAt(end - 1) === 10) end--; // json.Encoder's trailing newline
  if (body.charCodeAt(0) !== OPEN || body.charCodeAt(end - 1) !== CLOSE) return undefined;
  const keys: string[] = [];
  const concurrency: number[] = [];
  const requestCount: number[] = [];
  let i = 1;
  if (i === end - 1) return { keys, concurrency, requestCount }; // {}
  for (;;) {
    if (body.charCodeAt(i) !== QUOTE) return undefined;
    const keyEnd = body.indexOf('"', i + 1);
    if (keyEnd === -1) return undefined;
    const key = body.slice(i + 1, keyEnd);
    if (key.includes('\\')) return undefined; // escaped characters: let JSON.parse decode them
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

// Where readInt stopped; a module variable rather than a returned object, because the scanner
// reads a million numbers per tick at 10,000 routes x 50 interceptors.
let scanPos = 0;

/** A non-negative decimal integer (at most 15 digits, exact in a double), or -1. Sets scanPos. */
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
  if (digits === 0 || digits > 15) return -1;
  const next = s.charCodeAt(p);
  if (next === 46 || next === 101 || next === 69 || next === BACKSLASH) return -1; // . e E
  scanPos = p;
  return v;
}

function parseGeneric(body: string): QueueCounts {
  let doc: unknown;
  try {
    doc = JSON.parse(body);
  } catch (err) {
    throw new Error(`queue response is not JSON: ${err instanceof Error ? err.message : String(err)}`);
  }
  if (typeof doc !== 'object' || doc === null || Array.isArray(doc)) {
    throw new Error('queue response is not a JSON object of route keys');
  }
  const keys: string[] = [];
  const concurrency: number[] = [];
  const requestCount: number[] = [];
  for (const [key, value] of Object.entries(doc as Record<string, unknown>)) {
    const c = value as Partial<QueueCount> | null;
    if (typeof c !== 'object' || c === null || !isCount(c.Concurrency) || !isCount(c.RequestCount)) {
      throw new Error(
        `queue response entry "${key}" is not {"Concurrency":<n>,"RequestCount":<n>}: ${JSON.stringify(c)}`,
      );
    }
    keys.push(key);
    concurrency.push(c.Concurrency);
    requestCount.push(c.RequestCount);
  }
  return { keys, concurrency, requestCount };
}

function isCount(v: unknown): v is number {
  return typeof v === 'number' && Number.isFinite(v) && v >= 0;
}
