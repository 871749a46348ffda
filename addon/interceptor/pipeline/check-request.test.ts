import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { rawRequest } from '../testing/harness.ts';
import { stepFixture, type StepFixture } from '../testing/pipeline-fixture.ts';
import { checkRequest } from './check-request.ts';

let fx: StepFixture;
before(async () => {
  fx = await stepFixture([]);
  fx.step = (x) => {
    if (checkRequest(x.req, x.res)) x.res.end('passed');
  };
});
after(() => fx.close());

const send = (head: string): Promise<string> => rawRequest(fx.port, head, 1000);

test('exactly one Host passes; two are 400 with the reason, and the connection closes', async () => {
  assert.match(await send('GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n'), /passed$/);
  const two = await send('GET / HTTP/1.1\r\nHost: a\r\nhost: b\r\n\r\n');
  assert.match(two, /^HTTP\/1\.1 400 /);
  assert.match(two, /\r\nconnection: close\r\n/i);
  assert.match(two, /400 Bad Request: too many Host headers$/);
});

test('no Host: 400 on HTTP/1.1, allowed on HTTP/1.0', async () => {
  assert.match(await send('GET / HTTP/1.1\r\n\r\n'), /400 Bad Request: missing required Host header$/);
  assert.match(await send('GET / HTTP/1.0\r\n\r\n'), /passed$/);
});

test('chunked is the only transfer coding that passes; anything before it is 501', async () => {
  const body = '3\r\nabc\r\n0\r\n\r\n';
  assert.match(
    await send(
      `POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: Chunked\r\nConnection: close\r\n\r\n${body}`,
    ),
    /passed$/,
  );
  const gz = await send(`POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip, chunked\r\n\r\n${body}`);
  assert.match(gz, /^HTTP\/1\.1 501 /);
  assert.match(gz, /Unsupported transfer encoding$/);
});

test('OPTIONS * is answered 200 with an empty body; OPTIONS on a path passes', async () => {
  const star = await send('OPTIONS * HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n');
  assert.match(star, /^HTTP\/1\.1 200 /);
  assert.match(star, /\r\ncontent-length: 0\r\n/i);
  assert.match(await send('OPTIONS /x HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n'), /passed$/);
});
