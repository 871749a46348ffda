// QueueClient's time bounds against local servers that misbehave on purpose.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { QueueClient } from './queue-client.ts';

async function serve(handler: http.RequestListener): Promise<{ endpoint: string; close(): void }> {
  const server = http.createServer(handler);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    endpoint: `127.0.0.1:${(server.address() as AddressInfo).port}`,
    close: () => {
      server.closeAllConnections();
      server.close();
    },
  };
}

test('a good answer is parsed; a bad one says what is wrong and which pod', async () => {
  let body = '{"ns/r":{"Concurrency":1,"RequestCount":2}}\n';
  let status = 200;
  const s = await serve((_req, res) => {
    res.writeHead(status, { 'content-type': 'application/json' });
    res.end(body);
  });
  const client = new QueueClient({ timeoutMs: 200 });
  try {
    assert.deepEqual((await client.fetch(s.endpoint)).keys, ['ns/r']);
    body = 'oops';
    await assert.rejects(
      client.fetch(s.endpoint),
      new RegExp(`GET http://${s.endpoint}/queue failed: queue response is not JSON`),
    );
    status = 500;
    body = 'error getting queue size';
    await assert.rejects(client.fetch(s.endpoint), /status 500: error getting queue size/);
  } finally {
    await client.close();
    s.close();
  }
});

test('a pod that never answers, or stalls mid-answer, is given up on after the timeout', async () => {
  const s = await serve(() => {}); // accepts the request and never answers, like a hung pod
  const stall = await serve((_req, res) => {
    res.writeHead(200, { 'content-type': 'application/json' });
    res.write('{"ns/r":'); // and nothing more
  });
  const client = new QueueClient({ timeoutMs: 100 });
  try {
    let t = performance.now();
    await assert.rejects(client.fetch(s.endpoint), /no answer within 100ms/);
    assert.ok(performance.now() - t < 600, `gave up after ${performance.now() - t}ms`);
    t = performance.now();
    await assert.rejects(client.fetch(stall.endpoint), /the answer stalled for 100ms/);
    assert.ok(performance.now() - t < 600);
  } finally {
    await client.close();
    s.close();
    stall.close();
  }
});

test('a pod that trickles its answer forever is cut off by the total bound', async () => {
  const trickle = await serve((_req, res) => {
    res.writeHead(200, { 'content-type': 'application/json' });
    const timer = setInterval(() => res.write(' '), 20);
    res.on('close', () => clearInterval(timer));
  });
  const client = new QueueClient({ timeoutMs: 100 }); // total: max(1s, 4 x 100ms)
  try {
    const t = performance.now();
    await assert.rejects(client.fetch(trickle.endpoint), /took longer than 1000ms/);
    assert.ok(performance.now() - t < 1_800);
  } finally {
    await client.close();
    trickle.close();
  }
});

test('an answer over the size bound is refused as soon as it passes the bound', async () => {
  const endless = await serve((_req, res) => {
    res.writeHead(200, { 'content-type': 'application/json' });
    res.write('{"ns/r":{"Concurrency":1,"RequestCount":2},"pad":"');
    const chunk = Buffer.alloc(16 * 1024, 'x');
    const pump = (): void => {
      while (!res.destroyed && res.write(chunk));
    };
    res.on('drain', pump);
    pump();
  });
  const announced = await serve((_req, res) => {
    res.writeHead(200, { 'content-type': 'application/json', 'content-length': 10_000_000 });
    res.write('{');
  });
  const client = new QueueClient({ timeoutMs: 1_000, maxBytes: 64 * 1024 });
  try {
    for (const s of [endless, announced]) {
      const t = performance.now();
      await assert.rejects(
        client.fetch(s.endpoint),
        /failed: the answer is larger than the 65536-byte bound \(KEDA_HTTP_SCALER_QUEUE_MAX_BYTES\)/,
      );
      assert.ok(performance.now() - t < 900, 'before any timeout');
    }
  } finally {
    await client.close();
    endless.close();
    announced.close();
  }
});

test('counts that are not non-negative integers make the answer invalid, naming the entry', async () => {
  let body = '';
  const s = await serve((_req, res) => {
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(body);
  });
  const client = new QueueClient({ timeoutMs: 200 });
  try {
    for (const n of ['1e308', '1.5', '-1', '"3"']) {
      body = `{"ns/r":{"Concurrency":${n},"RequestCount":2}}\n`;
      await assert.rejects(client.fetch(s.endpoint), /queue response entry "ns\/r" is not/, n);
    }
  } finally {
    await client.close();
    s.close();
  }
});
