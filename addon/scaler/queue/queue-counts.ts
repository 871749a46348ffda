// The interceptor's /queue document: {"ns/name":{"Concurrency":3,"RequestCount":1234}, ...}.
// It is validated here, once, so the rest of the scaler can trust the numbers.

export interface QueueCount {
  Concurrency: number;
  RequestCount: number;
}

export type QueueCounts = Readonly<Record<string, QueueCount>>;

/** Parses a /queue body; throws an error saying what is wrong with it. */
export function parseQueueCounts(body: string): QueueCounts {
  let doc: unknown;
  try {
    doc = JSON.parse(body);
  } catch (err) {
    throw new Error(`queue response is not JSON: ${err instanceof Error ? err.message : String(err)}`);
  }
  if (typeof doc !== 'object' || doc === null || Array.isArray(doc)) {
    throw new Error('queue response is not a JSON object of route keys');
  }
  const counts = doc as Record<string, unknown>;
  for (const key in counts) {
    const c = counts[key] as Partial<QueueCount> | null;
    if (typeof c !== 'object' || c === null || !isCount(c.Concurrency) || !isCount(c.RequestCount)) {
      throw new Error(
        `queue response entry "${key}" is not {"Concurrency":<n>,"RequestCount":<n>}: ${JSON.stringify(c)}`,
      );
    }
  }
  return counts as QueueCounts;
}

function isCount(v: unknown): v is number {
  return typeof v === 'number' && Number.isFinite(v) && v >= 0;
}
