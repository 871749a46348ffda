// What one HTTP/2 connection may cost the interceptor. Streams held for a cold start live until the
// app is ready, so a client that opens thousands of them on one connection, each with a request
// body, must meet the advertised concurrent-stream limit, and the bodies of held streams must stay
// within their flow-control window. The interceptor runs as its own process, as deployed, so its
// resident memory is measured alone.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import http2 from 'node:http2';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { stringify } from 'yaml';
import { rssMiB } from '../../../hack/bench/interceptor-lib.ts';
import { eventually } from '../../../tests/harness/eventually.ts';
import { endpointSlice, interceptorRoute, service } from '../testing/harness.ts';

const cli = new URL('../../../bin/keda-http.ts', import.meta.url).pathname;
const streamLimit = 250;

let dir: string;
let child: ChildProcess;
let proxyPort: number;
let adminPort: number;

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'h2-limits-'));
  const file = join(dir, 'routes.yaml');
  // The app has no ready endpoint: every request is held.
  const objects = [
    interceptorRoute(
      'app',
      { target: { service: 'app', port: 80 }, rules: [{ hosts: ['app.test'] }] },
      'team',
    ),
    service('app', [{ name: 'http', port: 80 }], 'team'),
    endpointSlice('app', [{ ip: '127.0.0.1', ready: false }], 9, 'http', 'team'),
  ];
  await writeFile(file, objects.map((o) => stringify(o)).join('---\n'));
  child = spawn(process.execPath, [cli, 'interceptor', '--from-file', file], {
    env: {
      ...process.env,
      KEDA_HTTP_PROXY_PORT: '0',
      KEDA_HTTP_ADMIN_PORT: '0',
      OTEL_PROM_EXPORTER_ENABLED: 'false',
      KEDA_HTTP_SHUTDOWN_DELAY: '0s',
    },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  ({ proxyPort, adminPort } = await new Promise<{ proxyPort: number; adminPort: number }>(
    (resolve, reject) => {
      createInterface({ input: child.stdout! }).on('line', (line) => {
        const entry = JSON.parse(line) as { message: string; proxyPort?: number; adminPort?: number };
        if (entry.message === 'interceptor started')
          resolve({ proxyPort: entry.proxyPort ?? 0, adminPort: entry.adminPort ?? 0 });
      });
      child.once('exit', (code) => reject(new Error(`the interceptor exited early with ${code}`)));
    },
  ));
});

after(async () => {
  child?.kill('SIGKILL');
  if (dir) await rm(dir, { recursive: true, force: true });
});

async function heldNow(): Promise<number> {
  const queue = (await (await fetch(`http://127.0.0.1:${adminPort}/queue`)).json()) as Record<
    string,
    { Concurrency: number }
  >;
  return queue['team/app']?.Concurrency ?? 0;
}

test('2,000 held POST streams with bodies on one h2c connection: the stream limit holds, bodies stay within the window, memory stays bounded', async (t) => {
  const streams = 2000;
  // The streams the server takes (the first ones) send more than their flow-control window; the
  // rest a smaller body. One shared buffer: the client's own memory stays small.
  const big = Buffer.alloc(256 * 1024, 'x');
  const small = big.subarray(0, 32 * 1024);
  const rssBefore = rssMiB(child.pid!);
  const client = http2.connect(`http://127.0.0.1:${proxyPort}`);
  client.on('error', () => undefined);
  try {
    await new Promise<void>((resolve) => client.once('remoteSettings', () => resolve()));
    for (let i = 0; i < streams; i++) {
      const s = client.request({ ':method': 'POST', ':path': '/', ':authority': 'app.test' });
      s.on('error', () => undefined);
      s.write(i < streamLimit ? big : small); // never ended: the request stays held, its body unread
    }
    // Node's client keeps the streams over the server's limit to itself; the server holds the rest.
    await eventually(
      `${streamLimit} held requests`,
      async () => ((await heldNow()) >= streamLimit ? true : undefined),
      { intervalMs: 50, timeoutMs: 20_000 },
    );
    // Until whatever the interceptor still reads or allocates has arrived: its memory stops growing.
    let rss = rssMiB(child.pid!);
    for (let settled = 0, end = performance.now() + 8000; settled < 3 && performance.now() < end;) {
      await new Promise((r) => setTimeout(r, 300));
      const now = rssMiB(child.pid!);
      settled = now - rss < 1 ? settled + 1 : 0;
      rss = now;
    }
    const grew = rss - rssBefore;
    t.diagnostic(`the interceptor grew by ${grew.toFixed(1)} MiB holding ${await heldNow()} streams`);
    assert.ok(grew < 30, `the interceptor grew by ${grew.toFixed(1)} MiB`);
    assert.equal(await heldNow(), streamLimit, 'held requests on the connection');
    assert.equal(client.remoteSettings.maxConcurrentStreams, streamLimit, 'SETTINGS_MAX_CONCURRENT_STREAMS');
  } finally {
    client.destroy();
  }
  await eventually(
    'the held requests to end with their client',
    async () => ((await heldNow()) === 0 ? true : undefined),
    { intervalMs: 50, timeoutMs: 20_000 },
  );
});

/** One HTTP/2 frame: 9-byte header, then the payload. */
function frame(type: number, flags: number, streamId: number, payload: Buffer = Buffer.alloc(0)): Buffer {
  const head = Buffer.alloc(9);
  head.writeUIntBE(payload.length, 0, 3);
  head[3] = type;
  head[4] = flags;
  head.writeUInt32BE(streamId, 5);
  return Buffer.concat([head, payload]);
}

// GET / http, :authority app.test (HPACK: three static-table entries and one literal).
const getBlock = Buffer.concat([Buffer.from([0x82, 0x86, 0x84, 0x01, 8]), Buffer.from('app.test')]);

/**
 * A raw client that opens `opened` streams (HEADERS with END_STREAM | END_HEADERS on 1, 3, 5, ...)
 * without regard for the advertised limit: in its first write, before it has seen the server's
 * SETTINGS, or only after it has acknowledged them. Collects what the server answers until `done`.
 */
async function ignoreTheLimit(
  opened: number,
  when: 'before-settings' | 'after-ack',
  done: (seen: { refused: Set<number>; goaway?: { lastStream: number; code: number } }) => Promise<void>,
): Promise<void> {
  const requests = Buffer.concat(
    Array.from({ length: opened }, (_, i) => frame(0x1, 0x5, 2 * i + 1, getBlock)),
  );
  const preface = [Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n'), frame(0x4, 0, 0)];
  const seen: { refused: Set<number>; goaway?: { lastStream: number; code: number } } = {
    refused: new Set(),
  };
  const s = net.connect(proxyPort, '127.0.0.1', () =>
    s.write(Buffer.concat(when === 'before-settings' ? [...preface, requests] : preface)),
  );
  try {
    let pending = Buffer.alloc(0);
    s.on('data', (chunk: Buffer) => {
      pending = Buffer.concat([pending, chunk]);
      while (pending.length >= 9 && pending.length >= 9 + pending.readUIntBE(0, 3)) {
        const length = pending.readUIntBE(0, 3);
        const type = pending[3];
        const streamId = pending.readUInt32BE(5) & 0x7fffffff;
        const payload = pending.subarray(9, 9 + length);
        if (type === 0x3 && payload.readUInt32BE(0) === 0x7) seen.refused.add(streamId); // REFUSED_STREAM
        if (type === 0x7)
          seen.goaway = { lastStream: payload.readUInt32BE(0), code: payload.readUInt32BE(4) };
        if (type === 0x4 && (pending[4]! & 0x1) === 0) {
          s.write(frame(0x4, 0x1, 0)); // SETTINGS ACK
          if (when === 'after-ack') s.write(requests);
        }
        pending = pending.subarray(9 + length);
      }
    });
    s.on('error', () => undefined);
    await done(seen);
  } finally {
    s.destroy();
  }
  await eventually(
    'the held requests to end with their connection',
    async () => ((await heldNow()) === 0 ? true : undefined),
    { intervalMs: 50, timeoutMs: 20_000 },
  );
}

test('streams opened over the limit before the client has seen it are refused, the rest held', async () => {
  const opened = 400;
  await ignoreTheLimit(opened, 'before-settings', async (seen) => {
    await eventually('refusals', () => (seen.refused.size >= opened - streamLimit ? true : undefined), {
      intervalMs: 50,
      timeoutMs: 20_000,
    });
    await new Promise((r) => setTimeout(r, 200));
    assert.equal(seen.refused.size, opened - streamLimit, 'streams refused with RST_STREAM REFUSED_STREAM');
    assert.ok(
      [...seen.refused].every((id) => id > 2 * streamLimit - 1),
      'only the streams beyond the limit were refused',
    );
    assert.equal(await heldNow(), streamLimit, 'held requests on the connection');
  });
});

test('a client that exceeds the limit it acknowledged loses the connection (GOAWAY PROTOCOL_ERROR)', async () => {
  await ignoreTheLimit(400, 'after-ack', async (seen) => {
    const goaway = await eventually('GOAWAY', () => seen.goaway, { intervalMs: 50, timeoutMs: 20_000 });
    assert.deepEqual(goaway, { lastStream: 2 * streamLimit - 1, code: 0x1 });
  });
});
