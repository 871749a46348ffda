// The portforward.k8s.io session (port-forward.ts) driven frame by frame, as client-go drives it:
// the SYN_REPLYs, the bytes both ways, half-closes in both directions, the error stream's message
// and its close, RST_STREAM and GOAWAY. tests/integration/port-forward.test.ts runs kubectl itself.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import net from 'node:net';
import zlib from 'node:zlib';
import { servePortForward } from './port-forward.ts';
import {
  decodeHeaderBlock,
  encodeControlFrame,
  encodeDataFrame,
  encodeGoAway,
  encodeHeaderBlock,
  encodeRstStream,
  FLAG_FIN,
  type Frame,
  FrameReader,
  FrameType,
  HEADER_DICTIONARY,
  HeaderDecompressor,
  RstStatus,
  streamIdOf,
} from './port-forward-spdy.ts';

/** The "pod": echoes what it gets in upper case, and ends its side when the client ends its. */
let pod: net.Server;
let podPort: number;

before(async () => {
  pod = net.createServer((s) => {
    s.on('data', (d: Buffer) => s.write(d.toString().toUpperCase()));
    s.on('end', () => s.end());
  });
  pod.listen(0, '127.0.0.1');
  await once(pod, 'listening');
  podPort = (pod.address() as net.AddressInfo).port;
});

after(() => pod.close());

/** A client speaking SPDY the way Go's framer does (one deflater, sync-flushed header blocks). */
class Client {
  private readonly deflate = zlib.createDeflate({ dictionary: HEADER_DICTIONARY });
  private readonly reader = new FrameReader();
  private readonly inflater = new HeaderDecompressor();
  readonly frames: Frame[] = [];
  readonly replies = new Map<number, Map<string, string[]>>();
  private waiters: (() => void)[] = [];
  closed = false;
  readonly socket: net.Socket;

  constructor(socket: net.Socket) {
    this.socket = socket;
    socket.on('data', (c: Buffer) => {
      for (const f of this.reader.push(c)) {
        // Every reply's header block is inflated as it arrives: they share one zlib stream.
        if (f.kind === 'control' && f.type === FrameType.synReply) {
          this.replies.set(
            streamIdOf(f.payload),
            decodeHeaderBlock(this.inflater.decompress(f.payload.subarray(4))),
          );
        } else this.frames.push(f);
      }
      for (const w of this.waiters.splice(0)) w();
    });
    socket.on('close', () => {
      this.closed = true;
      for (const w of this.waiters.splice(0)) w();
    });
  }

  private async headerBlock(headers: Map<string, string[]>): Promise<Buffer> {
    const chunks: Buffer[] = [];
    const onData = (c: Buffer): number => chunks.push(c);
    this.deflate.on('data', onData);
    this.deflate.write(encodeHeaderBlock(headers));
    await new Promise<void>((r) => this.deflate.flush(zlib.constants.Z_SYNC_FLUSH, () => r()));
    this.deflate.off('data', onData);
    return Buffer.concat(chunks);
  }

  async open(id: number, type: 'error' | 'data', port: number, requestId: string): Promise<void> {
    const head = Buffer.alloc(10);
    head.writeUInt32BE(id, 0);
    const block = await this.headerBlock(
      new Map([
        ['streamtype', [type]],
        ['port', [String(port)]],
        ['requestid', [requestId]],
      ]),
    );
    this.socket.write(encodeControlFrame(FrameType.synStream, 0, Buffer.concat([head, block])));
  }

  send(frame: Buffer): void {
    this.socket.write(frame);
  }

  /** Waits for a frame that `match` accepts (frames seen before count too). */
  async next(what: string, match: (f: Frame) => boolean, timeoutMs = 5000): Promise<Frame> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const i = this.frames.findIndex(match);
      if (i >= 0) return this.frames.splice(i, 1)[0]!;
      if (this.closed) throw new Error(`connection closed while waiting for ${what}`);
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
      await new Promise<void>((r) => {
        this.waiters.push(r);
        setTimeout(r, 100);
      });
    }
  }

  async reply(id: number, timeoutMs = 5000): Promise<Map<string, string[]>> {
    const deadline = Date.now() + timeoutMs;
    while (!this.replies.has(id)) {
      if (this.closed || Date.now() > deadline) throw new Error(`no SYN_REPLY for stream ${id}`);
      await new Promise<void>((r) => {
        this.waiters.push(r);
        setTimeout(r, 100);
      });
    }
    return this.replies.get(id)!;
  }

  /** The bytes of stream `id` up to its FIN. */
  async readToFin(id: number): Promise<string> {
    let text = '';
    for (;;) {
      const f = await this.next(`data on ${id}`, (x) => x.kind === 'data' && x.streamId === id);
      if (f.kind !== 'data') continue;
      text += f.data.toString();
      if (f.flags & FLAG_FIN) return text;
    }
  }
}

async function session(): Promise<{ client: Client; server: net.Server; logs: string[] }> {
  const logs: string[] = [];
  const server = net.createServer((s) =>
    servePortForward(s, Buffer.alloc(0), { podIP: '127.0.0.1', pod: 'ns/pod', uid: 'u1' }, (m) =>
      logs.push(m),
    ),
  );
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const socket = net.connect((server.address() as net.AddressInfo).port, '127.0.0.1');
  await once(socket, 'connect');
  return { client: new Client(socket), server, logs };
}

test('a stream pair forwards both ways; the client half-closes, the pod ends, both streams get FIN', async () => {
  const { client, server } = await session();
  try {
    await client.open(1, 'error', podPort, '0');
    await client.open(3, 'data', podPort, '0');
    assert.deepEqual(await client.reply(1), new Map());
    assert.deepEqual(await client.reply(3), new Map());
    client.send(encodeDataFrame(1, Buffer.alloc(0), FLAG_FIN)); // client-go closes its error stream at once
    client.send(encodeDataFrame(3, Buffer.from('hello ')));
    client.send(encodeDataFrame(3, Buffer.from('pod'), FLAG_FIN));
    assert.equal(await client.readToFin(3), 'HELLO POD');
    assert.equal(await client.readToFin(1), '', 'no error, and the error stream is closed');
  } finally {
    client.socket.destroy();
    server.close();
  }
});

test('several pairs at once on one connection, interleaved', async () => {
  const { client, server } = await session();
  try {
    const ids = [0, 1, 2, 3, 4];
    for (const r of ids) await client.open(1 + 4 * r, 'error', podPort, String(r));
    for (const r of ids) await client.open(3 + 4 * r, 'data', podPort, String(r));
    for (const r of ids) await client.reply(3 + 4 * r);
    for (const r of ids) client.send(encodeDataFrame(3 + 4 * r, Buffer.from(`req${r}`), FLAG_FIN));
    for (const r of ids) assert.equal(await client.readToFin(3 + 4 * r), `REQ${r}`);
  } finally {
    client.socket.destroy();
    server.close();
  }
});

test("a port nobody listens on: the kubelet's message on the error stream, then FIN on both", async () => {
  const { client, server, logs } = await session();
  const closed = net.createServer();
  closed.listen(0, '127.0.0.1');
  await once(closed, 'listening');
  const deadPort = (closed.address() as net.AddressInfo).port;
  closed.close();
  try {
    await client.open(1, 'error', deadPort, '7');
    await client.open(3, 'data', deadPort, '7');
    const message = await client.readToFin(1);
    assert.match(
      message,
      new RegExp(`^error forwarding port ${deadPort} to pod ns/pod, uid u1: connect ECONNREFUSED`),
    );
    assert.equal(await client.readToFin(3), '');
    assert.equal(logs.length, 1);
  } finally {
    client.socket.destroy();
    server.close();
  }
});

test('bad stream headers are refused with RST_STREAM; RST_STREAM from the client drops the pair', async () => {
  const { client, server } = await session();
  try {
    await client.open(1, 'data', 0, '0');
    const rst = await client.next(
      'RST_STREAM 1',
      (f) => f.kind === 'control' && f.type === FrameType.rstStream,
    );
    assert.equal(streamIdOf((rst as Frame & { kind: 'control' }).payload), 1);
    await client.open(3, 'error', podPort, '1');
    await client.open(5, 'data', podPort, '1');
    await client.reply(5);
    client.send(encodeRstStream(5, RstStatus.cancel));
    // The session goes on: a new pair still works.
    await client.open(7, 'error', podPort, '2');
    await client.open(9, 'data', podPort, '2');
    await client.reply(9);
    client.send(encodeDataFrame(9, Buffer.from('still here'), FLAG_FIN));
    assert.equal(await client.readToFin(9), 'STILL HERE');
  } finally {
    client.socket.destroy();
    server.close();
  }
});

test('PING is echoed; GOAWAY is answered and the connection closed', async () => {
  const { client, server } = await session();
  try {
    client.send(encodeControlFrame(FrameType.ping, 0, Buffer.from([0, 0, 0, 1])));
    const ping = await client.next('PING', (f) => f.kind === 'control' && f.type === FrameType.ping);
    assert.deepEqual((ping as Frame & { kind: 'control' }).payload, Buffer.from([0, 0, 0, 1]));
    client.send(encodeGoAway(0));
    await client.next('GOAWAY', (f) => f.kind === 'control' && f.type === FrameType.goAway);
    if (!client.closed) await once(client.socket, 'close');
  } finally {
    client.socket.destroy();
    server.close();
  }
});

test('a pod that sends more than the client reads at once is paused and resumed, nothing lost', async () => {
  const size = 8 * 1024 * 1024;
  const bulk = net.createServer((s) => {
    s.end(Buffer.alloc(size, 'x'));
    s.on('error', () => undefined);
  });
  bulk.listen(0, '127.0.0.1');
  await once(bulk, 'listening');
  const { client, server } = await session();
  try {
    client.socket.pause(); // a slow client: the kubelet's writes back up
    await client.open(1, 'error', (bulk.address() as net.AddressInfo).port, '0');
    await client.open(3, 'data', (bulk.address() as net.AddressInfo).port, '0');
    await new Promise((r) => setTimeout(r, 300));
    client.socket.resume();
    await client.reply(3);
    assert.equal((await client.readToFin(3)).length, size);
  } finally {
    client.socket.destroy();
    server.close();
    bulk.close();
  }
});
