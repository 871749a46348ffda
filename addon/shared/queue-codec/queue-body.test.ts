import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  countOf,
  decodeQueueBody,
  encodeQueueCounts,
  type QueueCount,
  type QueueCounts,
} from './queue-body.ts';

/** The decoded counts as a Map, to compare with what was encoded regardless of order. */
const asMap = (c: QueueCounts): Map<string, QueueCount> =>
  new Map(
    c.keys.map((k, i) => [k, { Concurrency: c.concurrency[i] ?? -1, RequestCount: c.requestCount[i] ?? -1 }]),
  );

/** A small seeded generator (mulberry32), so a failing case can be replayed. */
function random(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

test("upstream's exact encoding (Go's json.Encoder) decodes, and our encoder writes it byte for byte", () => {
  const upstream =
    '{"default/a":{"Concurrency":3,"RequestCount":1234},"team/b-1.x":{"Concurrency":0,"RequestCount":0}}\n';
  const c = decodeQueueBody(upstream);
  assert.deepEqual(c, {
    keys: ['default/a', 'team/b-1.x'],
    concurrency: [3, 0],
    requestCount: [1234, 0],
  });
  assert.equal(encodeQueueCounts(asMap(c)), upstream);
  assert.deepEqual(decodeQueueBody('{}\n'), { keys: [], concurrency: [], requestCount: [] });
  assert.equal(encodeQueueCounts([]), '{}\n');
});

test('any other valid JSON gives the same answer', () => {
  const bodies = [
    '{ "default/a": { "Concurrency": 3, "RequestCount": 1234 } }',
    '{"default/a":{"RequestCount":1234,"Concurrency":3}}',
    '{"default\\/a":{"Concurrency":3,"RequestCount":1234}}',
    '{"default/a":{"Concurrency":3.0,"RequestCount":1234e0}}',
    '{"default/a":{"Concurrency":3,"RequestCount":1234,"Extra":true}}',
  ];
  for (const b of bodies)
    assert.deepEqual(countOf(decodeQueueBody(b), 'default/a'), { Concurrency: 3, RequestCount: 1234 }, b);
});

test('a repeated key counts once, with its last value, as JSON parsers read it', () => {
  for (const body of [
    '{"a/x":{"Concurrency":1,"RequestCount":1},"a/x":{"Concurrency":2,"RequestCount":5}}\n',
    '{"a/x":{"Concurrency":1,"RequestCount":1},"b/y":{"Concurrency":0,"RequestCount":0},"a/x":{"Concurrency":2,"RequestCount":5}}\n',
  ]) {
    const c = decodeQueueBody(body);
    assert.equal(c.keys.filter((k) => k === 'a/x').length, 1, body);
    assert.deepEqual(countOf(c, 'a/x'), { Concurrency: 2, RequestCount: 5 });
  }
});

test('bad bodies are errors that say what is wrong', () => {
  assert.throws(() => decodeQueueBody('<html>'), /not JSON/);
  assert.throws(() => decodeQueueBody('[]'), /not a JSON object/);
  assert.throws(() => decodeQueueBody('{"ns/r":{"Concurrency":"3"}}'), /entry "ns\/r"/);
  assert.throws(() => decodeQueueBody('{"ns/r":{"Concurrency":-1,"RequestCount":0}}'), /entry "ns\/r"/);
  assert.throws(() => decodeQueueBody('{"ns/r":{"Concurrency":1,"RequestCount":2}'), /not JSON/);
  assert.throws(() => decodeQueueBody('{"ns/r":{"Concurrency":1,"RequestCount":2},}'), /not JSON/);
  assert.throws(() => decodeQueueBody('{"ns/r":{"Concurrency":007,"RequestCount":2}}'), /not JSON/);
});

test('counts that are not non-negative integers exact in a double are refused', () => {
  for (const n of ['1e308', '1.5', '-1', '"3"', 'null', 'true', '9007199254740993', '1e400']) {
    for (const body of [
      `{"ns/r":{"Concurrency":${n},"RequestCount":0}}\n`,
      `{"ns/r":{"Concurrency":0,"RequestCount":${n}}}\n`,
    ]) {
      assert.throws(() => decodeQueueBody(body), /entry "ns\/r" is not|not JSON/, body);
    }
  }
  // 16 digits is beyond the scanner but still exact: JSON.parse reads it.
  assert.deepEqual(
    countOf(decodeQueueBody('{"a/b":{"Concurrency":0,"RequestCount":9007199254740991}}'), 'a/b'),
    {
      Concurrency: 0,
      RequestCount: 9007199254740991,
    },
  );
});

test('a body over the bound is refused without parsing; error messages quote a bounded part', () => {
  const body = encodeQueueCounts([['a/b', { Concurrency: 1, RequestCount: 1 }]]);
  assert.throws(() => decodeQueueBody(body, body.length - 1), /larger than the \d+-byte bound/);
  const longKey = 'k'.repeat(1_000_000);
  assert.throws(
    () => decodeQueueBody(`{"${longKey}":{"Concurrency":-1,"RequestCount":0}}`),
    (err: Error) => err.message.length < 1_000 && /more characters/.test(err.message),
  );
});

/** A route key with the characters that need care: quotes, backslashes, controls, unicode, astral. */
function oddKey(next: () => number): string {
  const alphabet = [
    'a',
    'z',
    '/',
    '-',
    '.',
    '"',
    '\\',
    '\n',
    '\t',
    '\u0000',
    '\u001f',
    'é',
    '€',
    '\u2028',
    '😀',
    '\ud800',
    ' ',
  ];
  const length = Math.floor(next() * 12);
  let key = '';
  for (let i = 0; i < length; i++) key += alphabet[Math.floor(next() * alphabet.length)];
  return key;
}

test('property: random count maps with odd keys survive encode -> decode', () => {
  const next = random(20261202);
  for (let round = 0; round < 300; round++) {
    const want = new Map<string, QueueCount>();
    const size = Math.floor(next() * 20);
    for (let i = 0; i < size; i++) {
      const plain = next() < 0.5;
      const key = plain ? `ns-${Math.floor(next() * 50)}/r-${Math.floor(next() * 50)}` : oddKey(next);
      const big = next() < 0.1;
      want.set(key, {
        Concurrency: Math.floor(next() * (big ? Number.MAX_SAFE_INTEGER : 100)),
        RequestCount: Math.floor(next() * (big ? Number.MAX_SAFE_INTEGER : 1e9)),
      });
    }
    const body = encodeQueueCounts(want);
    const got = decodeQueueBody(body);
    // Lone surrogates are encoded as \\ud800 escapes and come back unchanged.
    assert.deepEqual(asMap(got), want, body);
    assert.equal(new Set(got.keys).size, got.keys.length, 'keys are unique');
    // Whitespace and other field order take the other path to the same answer.
    const reformatted = JSON.stringify(
      Object.fromEntries(
        [...want].map(([k, c]) => [k, { RequestCount: c.RequestCount, Concurrency: c.Concurrency }]),
      ),
      null,
      1,
    );
    assert.deepEqual(asMap(decodeQueueBody(reformatted)), want);
  }
});

test('property: random bytes and mutated bodies never crash or hang the decoder, and decoded counts are valid', () => {
  const next = random(42);
  const valid = encodeQueueCounts([
    ['a/x', { Concurrency: 1, RequestCount: 22 }],
    ['b/y', { Concurrency: 0, RequestCount: 333 }],
    ['c/z', { Concurrency: 4, RequestCount: 4444 }],
  ]);
  const t0 = performance.now();
  for (let round = 0; round < 5_000; round++) {
    let input: string;
    if (round % 2 === 0) {
      const bytes = Buffer.alloc(Math.floor(next() * 200));
      for (let i = 0; i < bytes.length; i++) bytes[i] = Math.floor(next() * 256);
      input = bytes.toString('utf8');
    } else {
      // A valid body with a few characters replaced, inserted or removed.
      const chars = [...valid];
      for (let m = 0; m < 1 + Math.floor(next() * 3); m++) {
        const at = Math.floor(next() * chars.length);
        const c = '{}[]":,0123456789-.eE \\ax'[Math.floor(next() * 26)] ?? '';
        const op = next();
        if (op < 0.4) chars[at] = c;
        else if (op < 0.7) chars.splice(at, 0, c);
        else chars.splice(at, 1);
      }
      input = chars.join('');
    }
    let decoded: QueueCounts | undefined;
    try {
      decoded = decodeQueueBody(input, 150);
    } catch (err) {
      assert.ok(err instanceof Error && err.message.length < 1_000, String(err));
      continue;
    }
    assert.ok(input.length <= 150, 'over the bound, yet decoded');
    assert.equal(new Set(decoded.keys).size, decoded.keys.length);
    for (const n of [...decoded.concurrency, ...decoded.requestCount]) {
      assert.ok(Number.isSafeInteger(n) && n >= 0, `decoded count ${n} from ${JSON.stringify(input)}`);
    }
    // Whatever is accepted is what a JSON parser reads from the same text.
    assert.deepEqual(
      asMap(decoded),
      new Map(
        Object.entries(JSON.parse(input) as Record<string, QueueCount>).map(([k, v]) => [
          k,
          { Concurrency: v.Concurrency, RequestCount: v.RequestCount },
        ]),
      ),
    );
  }
  assert.ok(performance.now() - t0 < 10_000);
});
