// The whoami stand-in against what traefik/whoami v1.11.0 prints (its app.go: fmt.Fprintln lines,
// then Go's Request.Write of the request) and what upstream's e2e suite parses from it.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import net from 'node:net';
import os from 'node:os';
import type http from 'node:http';
import { WebSocket } from 'ws';
import { dataContent, interfaceIPs, parseFlags, goDurationMs, startWhoami } from './whoami.ts';

let server: http.Server;
let port: number;

before(async () => {
  server = startWhoami(parseFlags(['--name', 'iamfoo'], {}));
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  port = (server.address() as net.AddressInfo).port;
});

after(() => {
  server.closeAllConnections();
  server.close();
});

/** Sends raw bytes and returns the raw response, so header case and order are what was sent. */
async function raw(request: string): Promise<{ head: string; body: string; localPort: number }> {
  const socket = net.connect(port, '127.0.0.1');
  await once(socket, 'connect');
  const localPort = socket.localPort ?? 0;
  socket.end(request);
  let text = '';
  for await (const chunk of socket) text += (chunk as Buffer).toString('latin1');
  const split = text.indexOf('\r\n\r\n');
  return { head: text.slice(0, split), body: text.slice(split + 4), localPort };
}

test("GET /: Name, Hostname, every interface IP, RemoteAddr, then the request as Go's Request.Write prints it", async () => {
  const { head, body, localPort } = await raw(
    'GET /svc/a?x=1 HTTP/1.1\r\nhost: app.e2e.test\r\nx-forwarded-for: 10.0.0.1\r\naccept: */*\r\n' +
      'user-agent: curl/8\r\nX-Multi: one\r\nx-multi: two\r\nConnection: close\r\n\r\n',
  );
  assert.match(head, /^HTTP\/1\.1 200 OK\r\n/);
  assert.match(head, /\r\nContent-Type: text\/plain; charset=utf-8/i);
  const expected =
    'Name: iamfoo\n' +
    `Hostname: ${os.hostname()}\n` +
    interfaceIPs()
      .map((ip) => `IP: ${ip}\n`)
      .join('') +
    `RemoteAddr: 127.0.0.1:${localPort}\n` +
    'GET /svc/a?x=1 HTTP/1.1\r\n' +
    'Host: app.e2e.test\r\n' +
    'User-Agent: curl/8\r\n' +
    'Accept: */*\r\n' +
    'Connection: close\r\n' +
    'X-Forwarded-For: 10.0.0.1\r\n' +
    'X-Multi: one\r\n' +
    'X-Multi: two\r\n' +
    '\r\n';
  assert.equal(body, expected);
  assert.ok(interfaceIPs().includes('127.0.0.1'), 'the loopback address is listed');
});

test("a request without User-Agent shows Go's default; a POST shows Content-Length and its body", async () => {
  const get = await raw('GET / HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n');
  assert.match(
    get.body,
    /\nGET \/ HTTP\/1\.1\r\nHost: h\r\nUser-Agent: Go-http-client\/1\.1\r\nConnection: close\r\n\r\n$/,
  );
  const post = await raw(
    'POST /p HTTP/1.1\r\nHost: h\r\nContent-Type: application/json\r\nContent-Length: 15\r\nConnection: close\r\n\r\n{"key":"value"}',
  );
  assert.match(
    post.body,
    /\nPOST \/p HTTP\/1\.1\r\nHost: h\r\nUser-Agent: Go-http-client\/1\.1\r\nContent-Length: 15\r\nConnection: close\r\nContent-Type: application\/json\r\n\r\n\{"key":"value"\}$/,
  );
  const empty = await raw('POST /p HTTP/1.1\r\nHost: h\r\nContent-Length: 0\r\nConnection: close\r\n\r\n');
  assert.match(empty.body, /\r\nContent-Length: 0\r\n/, 'Go sends Content-Length: 0 for an empty POST');
});

/** What upstream's e2e helper parseWhoami reads from the body (test/helpers/traffic.go). */
function parseLikeUpstream(body: string): { hostname: string; path: string; headers: Map<string, string[]> } {
  const r = { hostname: '', path: '', headers: new Map<string, string[]>() };
  let pastRequestLine = false;
  for (const line of body.split('\n')) {
    if (line.startsWith('Hostname: ')) r.hostname = line.slice('Hostname: '.length);
    else if (!pastRequestLine) {
      const parts = line.trim().split(/\s+/);
      if (parts.length === 3 && parts[2]!.startsWith('HTTP/')) {
        r.path = parts[1]!;
        pastRequestLine = true;
      }
    } else {
      const i = line.indexOf(': ');
      if (i > 0)
        r.headers.set(line.slice(0, i), [...(r.headers.get(line.slice(0, i)) ?? []), line.slice(i + 2)]);
    }
  }
  return r;
}

test("upstream's parser reads the hostname, the request path and the headers", async () => {
  const res = await fetch(`http://127.0.0.1:${port}/svc-a`, { headers: { 'X-Test': 'yes' } });
  const parsed = parseLikeUpstream(await res.text());
  assert.equal(parsed.hostname, os.hostname());
  assert.equal(parsed.path, '/svc-a');
  assert.deepEqual(parsed.headers.get('X-Test'), ['yes\r']);
});

test('?wait= takes a Go duration and delays the answer', async () => {
  const t0 = performance.now();
  const res = await fetch(`http://127.0.0.1:${port}/?wait=300ms`);
  await res.text();
  assert.ok(performance.now() - t0 >= 290);
  assert.equal(goDurationMs('500ms'), 500);
  assert.equal(goDurationMs('1m30s'), 90_000);
  assert.equal(goDurationMs('1.5h'), 5_400_000);
  assert.equal(goDurationMs('10s'), 10_000);
  assert.equal(goDurationMs('10'), undefined);
  assert.equal(goDurationMs('soon'), undefined);
});

test('/health answers 200 until a POST sets another status', async () => {
  const s = startWhoami(parseFlags([], {}));
  s.listen(0, '127.0.0.1');
  await once(s, 'listening');
  const base = `http://127.0.0.1:${(s.address() as net.AddressInfo).port}`;
  try {
    const first = await fetch(`${base}/health`);
    assert.equal(first.status, 200);
    assert.equal(await first.text(), '');
    assert.equal((await fetch(`${base}/health`, { method: 'POST', body: '503' })).status, 200);
    assert.equal((await fetch(`${base}/health`)).status, 503);
    assert.equal((await fetch(`${base}/health`, { method: 'POST', body: 'nope' })).status, 400);
  } finally {
    s.closeAllConnections();
    s.close();
  }
});

test('/echo is a WebSocket echo of text and binary messages', async () => {
  const ws = new WebSocket(`ws://127.0.0.1:${port}/echo`);
  await once(ws, 'open');
  ws.send('hello from e2e');
  const [text, textIsBinary] = (await once(ws, 'message')) as [Buffer, boolean];
  assert.equal(text.toString(), 'hello from e2e');
  assert.equal(textIsBinary, false);
  ws.send(Buffer.from([1, 2, 3]));
  const [bin, binIsBinary] = (await once(ws, 'message')) as [Buffer, boolean];
  assert.deepEqual([...bin], [1, 2, 3]);
  assert.equal(binIsBinary, true);
  ws.close();
  assert.equal((await fetch(`http://127.0.0.1:${port}/echo`)).status, 400);
});

test('/api, /bench and /data answer as whoami does', async () => {
  const api = (await (
    await fetch(`http://127.0.0.1:${port}/api?x=1`, { headers: { 'X-A': 'b' } })
  ).json()) as Record<string, unknown>;
  assert.equal(api.hostname, os.hostname());
  assert.equal(api.url, '/api?x=1');
  assert.equal(api.method, 'GET');
  assert.equal(api.name, 'iamfoo');
  assert.deepEqual((api.headers as Record<string, string[]>)['X-A'], ['b']);
  assert.equal(await (await fetch(`http://127.0.0.1:${port}/bench`)).text(), '1');
  assert.equal(await (await fetch(`http://127.0.0.1:${port}/data?size=10`)).text(), '|ABCDEFGH|');
  assert.equal(dataContent(1).length, 0);
  assert.equal(dataContent(2).toString(), '||');
  assert.equal(dataContent(2 * 1024).length, 2048);
});

test('flags: Go syntax, --port defaults to $WHOAMI_PORT_NUMBER then 80, unknown flags are an error', () => {
  assert.equal(parseFlags([], {}).port, '80');
  assert.equal(parseFlags([], { WHOAMI_PORT_NUMBER: '8080' }).port, '8080');
  assert.equal(parseFlags(['--port=9000'], { WHOAMI_PORT_NUMBER: '8080' }).port, '9000');
  assert.equal(parseFlags(['-port', '9001'], {}).port, '9001');
  assert.deepEqual(parseFlags(['--verbose', '--cert=/certs/tls.crt', '--key=/certs/tls.key'], {}), {
    port: '80',
    name: '',
    cert: '/certs/tls.crt',
    key: '/certs/tls.key',
    cacert: '',
    verbose: true,
  });
  assert.equal(parseFlags([], { WHOAMI_NAME: 'n' }).name, 'n');
  assert.throws(() => parseFlags(['--nope'], {}), /flag provided but not defined: -nope/);
  assert.throws(() => parseFlags(['--port'], {}), /flag needs an argument/);
});
