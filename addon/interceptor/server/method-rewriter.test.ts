// The rewriter frames an HTTP/1.1 byte stream to find request lines; a method is only ever rewritten
// where a request line starts, and anything it cannot frame as llhttp does passes through untouched.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { MethodRewriter } from './method-rewriter.ts';

const header = 'x-keda-http-method-test';

/** The rewritten stream for `input`, fed whole or in pieces of `step` bytes. */
function rewrite(input: string, step = input.length, maxHead = 16 << 10): { out: string; r: MethodRewriter } {
  const r = new MethodRewriter(header, maxHead);
  const bytes = Buffer.from(input, 'latin1');
  const out: Buffer[] = [];
  for (let at = 0; at < bytes.length; at += step) out.push(...r.push(bytes.subarray(at, at + step)));
  return { out: Buffer.concat(out).toString('latin1'), r };
}

/** The same through every piece size from 1 to 7 bytes and whole: the result must not depend on it. */
function rewriteAllWays(input: string): string {
  const whole = rewrite(input).out;
  for (let step = 1; step <= 7; step++) assert.equal(rewrite(input, step).out, whole, `in pieces of ${step}`);
  return whole;
}

test('an unknown method becomes POST with the real one in the header; known ones pass as they are', () => {
  const input =
    'GET /a HTTP/1.1\r\nHost: h\r\n\r\n' +
    'FOO /b?x=1 HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\n\r\nabc' +
    'PURGE /c HTTP/1.1\r\nHost: h\r\n\r\n' +
    'get /d HTTP/1.1\r\nHost: h\r\n\r\n';
  assert.equal(
    rewriteAllWays(input),
    'GET /a HTTP/1.1\r\nHost: h\r\n\r\n' +
      `POST /b?x=1 HTTP/1.1\r\n${header}: FOO\r\nHost: h\r\nContent-Length: 3\r\n\r\nabc` +
      'PURGE /c HTTP/1.1\r\nHost: h\r\n\r\n' +
      `POST /d HTTP/1.1\r\n${header}: get\r\nHost: h\r\n\r\n`,
  );
});

test('request lines inside a Content-Length or chunked body are body, never rewritten', () => {
  const inner = 'BAR /smuggled HTTP/1.1\r\nHost: h\r\n\r\n';
  const chunked =
    'FOO /1 HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n' +
    `${inner.length.toString(16)};ext=1\r\n${inner}\r\n0\r\nTrailer: t\r\n\r\n` +
    'BAZ /2 HTTP/1.1\r\nHost: h\r\n\r\n';
  const out = rewriteAllWays(
    `QUUX /0 HTTP/1.1\r\nHost: h\r\nContent-Length: ${inner.length}\r\n\r\n${inner}` + chunked,
  );
  assert.equal(out.split(inner).length, 3, 'both bodies unchanged');
  assert.deepEqual(
    [...out.matchAll(new RegExp(`${header}: (\\S+)`, 'g'))].map((m) => m[1]),
    ['QUUX', 'FOO', 'BAZ'],
  );
});

test('anything it cannot frame as the parser would: the rest passes through untouched', () => {
  const later = 'FOO /later HTTP/1.1\r\nHost: h\r\n\r\n';
  for (const head of [
    'POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n',
    'POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\nContent-Length: 3\r\n\r\n',
    'POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 3x\r\n\r\n',
    'POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: gzip\r\n\r\n',
    'POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n',
    'POST / HTTP/1.1\r\nHost: h\r\nX: a\r\n folded\r\n\r\n',
    'POST / HTTP/1.1\r\nHost: h\nContent-Length: 3\r\n\r\n',
    'GET /ws HTTP/1.1\r\nHost: h\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n',
    'CONNECT h:443 HTTP/1.1\r\nHost: h:443\r\n\r\n',
    'POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n',
  ]) {
    const { out, r } = rewrite(head + later);
    assert.equal(out, head + later, head);
    assert.ok(r.passingThrough, head);
  }
});

test('a head over the size limit passes through (the parser answers 431)', () => {
  const input = `FOO / HTTP/1.1\r\nHost: h\r\nX: ${'a'.repeat(200)}\r\n\r\n`;
  const { out, r } = rewrite(input, 16, 100);
  assert.equal(out, input);
  assert.ok(r.passingThrough);
});

test('empty lines before a request line are kept, and the request after them is still found', () => {
  assert.equal(
    rewriteAllWays('\r\n\r\nFOO / HTTP/1.1\r\nHost: h\r\n\r\n'),
    `\r\n\r\nPOST / HTTP/1.1\r\n${header}: FOO\r\nHost: h\r\n\r\n`,
  );
});

test('a head trickled a byte at a time costs time in proportion to its size', () => {
  const input = `FOO / HTTP/1.1\r\nHost: h\r\nX: ${'a'.repeat(128 << 10)}\r\n\r\n`;
  const t0 = performance.now();
  const { out, r } = rewrite(input, 1, 1 << 20);
  const ms = performance.now() - t0;
  assert.ok(out.startsWith(`POST / HTTP/1.1\r\n${header}: FOO\r\n`));
  assert.equal(r.rewritten, 1);
  assert.ok(ms < 5000, `${ms.toFixed(0)} ms for ${input.length} one-byte pieces`);
});
