// Where the request a parser failed on starts, told from what node:http's own parser reports: every
// case here is run through a real node:http server, so a Node whose parser reads methods otherwise
// fails this test rather than misplacing a request line.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import net from 'node:net';
import { once } from 'node:events';
import { failedRequestStart } from './method-fallback.ts';

let server: http.Server;
let port = 0;
let errors: (NodeJS.ErrnoException & { rawPacket?: Buffer; bytesParsed?: number })[] = [];

before(async () => {
  server = http.createServer((req, res) => {
    req.resume();
    req.on('end', () => res.end());
  });
  server.on('clientError', (err: NodeJS.ErrnoException, socket: net.Socket) => {
    errors.push(err);
    socket.destroy();
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  port = (server.address() as net.AddressInfo).port;
});
after(() => server.close());

/** The parser's error for `before + failing`, sent in one write, and where `failing` starts. */
async function parserError(before: string, failing: string): Promise<number | undefined> {
  errors = [];
  const s = net.connect(port, '127.0.0.1');
  s.on('error', () => {});
  await once(s, 'connect');
  s.write(before + failing);
  await once(s, 'close');
  const err = errors[0];
  assert.ok(err, `the parser refused ${JSON.stringify(failing)}`);
  assert.ok(err.rawPacket?.toString('latin1').endsWith(failing));
  return failedRequestStart(err.rawPacket as Buffer, err.bytesParsed as number, err.code);
}

const get = 'GET / HTTP/1.1\r\nHost: h\r\n\r\n';
const post = (body: string): string =>
  `POST / HTTP/1.1\r\nHost: h\r\nContent-Length: ${body.length}\r\n\r\n${body}`;

test('the failed request is found at the start, after bodyless requests, and after bodies', async () => {
  for (const [before, method] of [
    ['', 'FOO'],
    ['', 'get'],
    ['', 'BASELINE-CONTROL'],
    ['', 'GETX'],
    ['', 'MKCALENDARX'],
    [get, 'FOO'],
    [get + get, 'POSTX'],
    [post('abc'), 'FOO'],
    [post('}'), 'BREW'],
    [`${get}\r\n`, 'FOO'],
    ['', 'PLAY'],
    ['', 'SET_PARAMETER'],
    [get, 'DESCRIBE'],
    [post('ab'), 'SETUP'],
  ] as const) {
    const failing = `${method} /x HTTP/1.1\r\nHost: h\r\n\r\n`;
    const start = await parserError(before, failing);
    assert.equal(start, before.length, `${JSON.stringify(before)} + ${method}`);
  }
});

test('two starts that both fit (a body ending in "xyGE" before "TX"): none is guessed', async () => {
  assert.equal(await parserError(post('xyGE'), 'TX /x HTTP/1.1\r\nHost: h\r\n\r\n'), undefined);
});

test('invalid tokens: the start found still begins with something that is not a token and a space', async () => {
  for (const method of ['A(B', 'FO"O', '{}']) {
    const failing = `${method} /x HTTP/1.1\r\nHost: h\r\n\r\n`;
    const start = await parserError('', failing);
    if (start === undefined) continue;
    const line = failing.slice(start);
    assert.doesNotMatch(line, /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+ /, `${method}: ${line}`);
  }
});
