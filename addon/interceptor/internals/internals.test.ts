// The runtime-internals layer: each piece is used when switched on and its internals have the
// expected shape on this Node; switched off or with another shape, its public-API fallback is used
// and one log line says why.
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import http from 'node:http';
import net from 'node:net';
import type { AddressInfo } from 'node:net';
import { test } from 'node:test';
import { quietLogger } from '../testing/harness.ts';
import { Forwarder } from '../proxy/forward.ts';
import { checkHttpParserShape, httpParser, resolveHttpParser } from './http-parser.ts';
import {
  checkHeaderDeadlineChecker,
  checkSocketResponseProbe,
  resolveSocketResponseProbe,
  responseMayBeInFlight,
  startHeaderDeadlines,
} from './http-server.ts';
import { loadMinorGc, resolveMinorGc } from './minor-gc.ts';
import { checkConnectionDetach, resolveMethodFallback, takeBackConnection } from './server-connection.ts';
import { allInternalsOn, configureRuntimeInternals, type InternalsSwitches } from './switches.ts';

/** Configures the layer with a capturing logger; returns the fallback lines logged. */
function configure(switches: Partial<InternalsSwitches> = {}): string[] {
  const lines: string[] = [];
  configureRuntimeInternals({ ...allInternalsOn, ...switches }, quietLogger(lines));
  return lines;
}
const fallbackLines = (lines: string[]): string[] => lines.filter((l) => l.includes('falls back'));

test('on this Node every piece has the expected shape and is used', () => {
  const lines = configure();
  assert.equal(typeof checkHttpParserShape(createRequire(import.meta.url)('_http_common')), 'function');
  assert.ok(httpParser());
  assert.ok(new Forwarder({ connectTimeoutMs: 500, maxConnsPerHost: 0, forceHttp2: false }).h1);
  assert.equal(typeof loadMinorGc(), 'function');
  assert.equal(checkSocketResponseProbe(), undefined);
  const server = http.createServer();
  startHeaderDeadlines(server);
  assert.equal(checkHeaderDeadlineChecker(server), undefined, "Node's checker runs");
  server.close();
  assert.equal(checkConnectionDetach(), undefined, 'a server connection can be taken back');
  assert.equal(resolveMethodFallback(), true);
  assert.deepEqual(fallbackLines(lines), []);
});

test('method fallback: switched off or another shape, no connection is taken back, and one line says why', () => {
  let lines = configure({ methodFallback: false });
  const socket = new net.Socket();
  const server = http.createServer();
  server.emit('connection', socket);
  assert.equal(takeBackConnection(socket), false);
  assert.equal(takeBackConnection(socket), false);
  assert.ok(socket.listeners('data').length > 0, "node:http's listeners stay");
  assert.match(
    fallbackLines(lines).join('\n'),
    /KEDA_HTTP_INTERNALS_METHOD_FALLBACK.*methodFallback falls back to public APIs: switched off/,
  );
  assert.equal(fallbackLines(lines).length, 1);
  lines = configure();
  assert.equal(
    resolveMethodFallback(() => "node:http's server has no 'data' listener"),
    false,
  );
  assert.equal(takeBackConnection(socket), false);
  assert.match(
    fallbackLines(lines).join('\n'),
    /methodFallback falls back to public APIs: node:http's server has no 'data'/,
  );
  assert.match(fallbackLines(lines).join('\n'), /"level":"warn"/);
  // A connection that is not node:http's is never touched, even when the piece is on.
  configure();
  const plain = new net.Socket();
  assert.equal(takeBackConnection(plain), false);
  assert.equal(takeBackConnection(socket), true, 'the shape is checked per connection too');
  assert.equal(socket.listeners('data').length, 0);
  plain.destroy();
  socket.destroy();
  server.close();
});

test('switched off: the lean client, the idle scavenge and the socket probe fall back, one line each', () => {
  const lines = configure({ leanHttp1Client: false, idleScavenge: false, socketResponseProbe: false });
  assert.equal(httpParser(), undefined);
  assert.equal(httpParser(), undefined);
  assert.equal(
    new Forwarder({ connectTimeoutMs: 500, maxConnsPerHost: 0, forceHttp2: false }).h1,
    undefined,
    'undici carries every request',
  );
  assert.equal(loadMinorGc(), undefined);
  const socket = new net.Socket();
  assert.equal(responseMayBeInFlight(socket), true, 'without the probe: maybe, so no 400 is written');
  assert.equal(responseMayBeInFlight(socket), true);
  socket.destroy();
  const fell = fallbackLines(lines);
  assert.equal(fell.length, 3, fell.join('\n'));
  assert.match(fell.join('\n'), /leanHttp1Client.*switched off/);
  assert.match(fell.join('\n'), /KEDA_HTTP_INTERNALS_IDLE_SCAVENGE/);
});

test('another shape: each checker refuses it, the fallback is used, and one line says why', () => {
  const lines = configure();
  // An HTTPParser without the callbacks' slot numbers, as a future Node might have.
  const fake = { HTTPParser: class {} };
  assert.equal(resolveHttpParser(fake), undefined);
  assert.equal(resolveHttpParser(fake), undefined);
  assert.equal(resolveHttpParser({}), undefined);
  assert.equal(
    resolveMinorGc(() => ({ notAFunction: true })),
    undefined,
  );
  assert.equal(
    resolveMinorGc(() => () => {
      throw new TypeError('unknown option');
    }),
    undefined,
  );
  assert.equal(
    resolveSocketResponseProbe(() => 'socket._httpMessage is gone'),
    false,
  );
  const server = http.createServer();
  startHeaderDeadlines(server, () => 'no checker symbol');
  server.close();
  const fell = fallbackLines(lines);
  assert.equal(fell.length, 4, fell.join('\n'));
  assert.match(fell[0] ?? '', /leanHttp1Client.*HTTPParser has no initialize\(\) method/);
  assert.match(fell[0] ?? '', /"level":"warn"/);
  assert.match(fell[1] ?? '', /idleScavenge.*no gc function/);
  assert.match(fell[2] ?? '', /socketResponseProbe.*socket._httpMessage is gone/);
  assert.match(fell[3] ?? '', /nodeHeaderDeadlines.*no checker symbol/);
});

/**
 * A server fed connections the way the proxy's sniffing listener feeds it (never listening itself),
 * answering 408 on clientError like the proxy; returns what a client that never finishes its head gets.
 */
async function slowHeadAgainst(prepare: (server: http.Server) => void): Promise<{ raw: string; ms: number }> {
  const server = http.createServer({ headersTimeout: 300, connectionsCheckingInterval: 50 }, (_req, res) =>
    res.end('ok'),
  );
  server.on('clientError', (err: NodeJS.ErrnoException, socket: net.Socket) => {
    if (err.code === 'ERR_HTTP_REQUEST_TIMEOUT' && !responseMayBeInFlight(socket))
      socket.end('HTTP/1.1 408 Request Timeout\r\nConnection: close\r\nContent-Length: 0\r\n\r\n');
    else socket.destroy();
  });
  prepare(server);
  const front = net.createServer((socket) => server.emit('connection', socket));
  await new Promise<void>((r) => front.listen(0, '127.0.0.1', r));
  const port = (front.address() as AddressInfo).port;
  try {
    const t0 = performance.now();
    const raw = await new Promise<string>((resolve) => {
      let got = '';
      const s = net.connect(port, '127.0.0.1', () => {
        // A first request answered, then a second head that never completes.
        s.write('GET /one HTTP/1.1\r\nHost: x\r\n\r\n');
        setTimeout(() => s.write('GET /two HTTP/1.1\r\nHost: x'), 50);
      });
      s.on('data', (c: Buffer) => (got += c.toString('latin1')));
      s.on('close', () => resolve(got));
      s.on('error', () => {});
      setTimeout(() => s.destroy(), 3000).unref();
    });
    return { raw, ms: performance.now() - t0 };
  } finally {
    front.close();
    server.close();
  }
}

for (const [name, switches, prepare] of [
  ["Node's checker", {}, (s: http.Server) => startHeaderDeadlines(s)],
  ['switched off: timers', { nodeHeaderDeadlines: false }, (s: http.Server) => startHeaderDeadlines(s)],
  ['another shape: timers', {}, (s: http.Server) => startHeaderDeadlines(s, () => 'no checker symbol')],
] as const) {
  test(`request-head deadlines (${name}): a head that never completes gets 408 and the connection closes`, async () => {
    configure(switches);
    const { raw, ms } = await slowHeadAgainst(prepare);
    assert.match(raw, /^HTTP\/1\.1 200 OK[\s\S]*ok(HTTP\/1\.1 408 Request Timeout)/);
    assert.ok(ms < 2000, `closed after ${ms.toFixed(0)} ms`);
  });
}

test('request-head deadlines: the tests above mean something (with neither, the slow head is never cut)', async () => {
  configure();
  const { raw } = await slowHeadAgainst(() => {});
  assert.doesNotMatch(raw, /408/);
});
