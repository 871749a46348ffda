import { test } from 'node:test';
import assert from 'node:assert/strict';
import zlib from 'node:zlib';
import {
  decodeHeaderBlock,
  encodeControlFrame,
  encodeDataFrame,
  encodeHeaderBlock,
  encodeRstStream,
  encodeSynReply,
  FLAG_FIN,
  FrameReader,
  FrameType,
  HEADER_DICTIONARY,
  HeaderCompressor,
  HeaderDecompressor,
  parseSynStream,
} from './port-forward-spdy.ts';

// The zlib id of SPDY/3's header dictionary (Adler-32 of its 1423 bytes), as every SPDY/3 peer
// writes it after a header stream's first two bytes.
const SPDY3_DICTIONARY_ID = 0xe3c6a7c2;

test('the header dictionary is the SPDY/3 one', () => {
  assert.equal(HEADER_DICTIONARY.length, 1423);
  assert.equal(HEADER_DICTIONARY.subarray(0, 11).toString('latin1'), '\0\0\0\x07options');
  assert.ok(HEADER_DICTIONARY.toString('latin1').endsWith('utf-,*,enq=0.'));
});

test('frames are laid out as SPDY/3 says: control bit, version 3, type, flags, 24-bit length', () => {
  assert.deepEqual(
    [...encodeControlFrame(FrameType.ping, 0, Buffer.from([0, 0, 0, 1]))],
    [0x80, 0x03, 0x00, 0x06, 0x00, 0x00, 0x00, 0x04, 0, 0, 0, 1],
  );
  assert.deepEqual(
    [...encodeDataFrame(5, Buffer.from('hi'), FLAG_FIN)],
    [0x00, 0x00, 0x00, 0x05, 0x01, 0x00, 0x00, 0x02, 0x68, 0x69],
  );
  assert.deepEqual(
    [...encodeRstStream(3, 5)],
    [0x80, 0x03, 0x00, 0x03, 0x00, 0x00, 0x00, 0x08, 0, 0, 0, 3, 0, 0, 0, 5],
  );
  assert.deepEqual(
    [...encodeSynReply(7, Buffer.from([0xaa])).subarray(0, 13)],
    [0x80, 0x03, 0x00, 0x02, 0x00, 0x00, 0x00, 0x05, 0, 0, 0, 7, 0xaa],
  );
});

test('the reader reassembles frames cut at any byte', () => {
  const wire = Buffer.concat([
    encodeDataFrame(1, Buffer.from('hello')),
    encodeControlFrame(FrameType.ping, 0, Buffer.from([0, 0, 0, 2])),
    encodeDataFrame(3, Buffer.alloc(0), FLAG_FIN),
  ]);
  for (let cut = 0; cut <= wire.length; cut++) {
    const reader = new FrameReader();
    const frames = [...reader.push(wire.subarray(0, cut)), ...reader.push(wire.subarray(cut))];
    assert.equal(frames.length, 3, `cut at ${cut}`);
    assert.deepEqual(frames[0], { kind: 'data', streamId: 1, flags: 0, data: Buffer.from('hello') });
    assert.deepEqual(frames[1], {
      kind: 'control',
      version: 3,
      type: FrameType.ping,
      flags: 0,
      payload: Buffer.from([0, 0, 0, 2]),
    });
    assert.deepEqual(frames[2], { kind: 'data', streamId: 3, flags: FLAG_FIN, data: Buffer.alloc(0) });
  }
});

test('header blocks: 32-bit counts and lengths, lower-case names, NUL-separated values', () => {
  const block = encodeHeaderBlock(
    new Map([
      ['StreamType', ['data']],
      ['x', ['1', '2']],
    ]),
  );
  assert.deepEqual(
    block,
    Buffer.concat([
      Buffer.from([0, 0, 0, 2]),
      Buffer.from([0, 0, 0, 10]),
      Buffer.from('streamtype'),
      Buffer.from([0, 0, 0, 4]),
      Buffer.from('data'),
      Buffer.from([0, 0, 0, 1]),
      Buffer.from('x'),
      Buffer.from([0, 0, 0, 3]),
      Buffer.from('1\u00002'),
    ]),
  );
  assert.deepEqual(
    decodeHeaderBlock(block),
    new Map([
      ['streamtype', ['data']],
      ['x', ['1', '2']],
    ]),
  );
  assert.throws(() => decodeHeaderBlock(block.subarray(0, block.length - 1)), /truncated/);
});

test('outgoing header blocks are one zlib stream with the SPDY dictionary that any inflater reads', () => {
  const compressor = new HeaderCompressor();
  const first = compressor.compress(encodeHeaderBlock(new Map()));
  const second = compressor.compress(encodeHeaderBlock(new Map([['status', ['200']]])));
  assert.deepEqual([...first.subarray(0, 2)], [0x78, 0x20]);
  assert.equal(first.readUInt32BE(2), SPDY3_DICTIONARY_ID);
  // Each block ends as a sync flush does (an empty stored block): Go's reader needs it to hand over
  // the block's bytes without waiting for the next frame.
  for (const block of [first, second]) assert.deepEqual([...block.subarray(-5)], [0, 0, 0, 0xff, 0xff]);
  const opts = { dictionary: HEADER_DICTIONARY, finishFlush: zlib.constants.Z_SYNC_FLUSH };
  assert.deepEqual(zlib.inflateSync(first, opts), encodeHeaderBlock(new Map()));
  assert.deepEqual(
    zlib.inflateSync(Buffer.concat([first, second]), opts),
    Buffer.concat([encodeHeaderBlock(new Map()), encodeHeaderBlock(new Map([['status', ['200']]]))]),
  );
});

/** Header blocks as a Go SPDY peer writes them: one deflater for the connection, sync-flushed. */
async function deflatedBlocks(blocks: Buffer[]): Promise<Buffer[]> {
  const deflate = zlib.createDeflate({ dictionary: HEADER_DICTIONARY, level: 9 });
  const out: Buffer[] = [];
  for (const block of blocks) {
    const chunks: Buffer[] = [];
    const onData = (c: Buffer): number => chunks.push(c);
    deflate.on('data', onData);
    deflate.write(block);
    await new Promise<void>((resolve) => deflate.flush(zlib.constants.Z_SYNC_FLUSH, () => resolve()));
    deflate.off('data', onData);
    out.push(Buffer.concat(chunks));
  }
  deflate.destroy();
  return out;
}

test('incoming header blocks inflate in order, each continuing the connection stream', async () => {
  const headers = (id: string, type: string) =>
    encodeHeaderBlock(
      new Map([
        ['streamtype', [type]],
        ['port', ['8080']],
        ['requestid', [id]],
      ]),
    );
  const plain = [headers('0', 'error'), headers('0', 'data'), headers('1', 'error'), headers('1', 'data')];
  const compressed = await deflatedBlocks(plain);
  // Later blocks refer back to earlier ones: alone they do not inflate.
  assert.ok(compressed[3]!.length < plain[3]!.length);
  const decompressor = new HeaderDecompressor();
  for (const [i, block] of compressed.entries()) {
    assert.deepEqual(decompressor.decompress(block), plain[i]);
  }
});

test('a header stream that is not zlib with the SPDY dictionary, or a corrupt block, is an error', async () => {
  assert.throws(() => new HeaderDecompressor().decompress(Buffer.from('not zlib at all')), /zlib header/);
  const [first] = await deflatedBlocks([encodeHeaderBlock(new Map())]);
  const decompressor = new HeaderDecompressor();
  decompressor.decompress(first!);
  assert.throws(() => decompressor.decompress(Buffer.from([0xff, 0xff, 0xff, 0xff])), /does not inflate/);
});

test('back-references into earlier blocks resolve against the history carried over', async () => {
  // Blocks of ~20 KiB of incompressible text, each repeated once later: the repeat refers back into
  // the previous block, so the history carried over must be the tail of what was inflated.
  const noise = (seed: number): string =>
    Array.from({ length: 2500 }, (_, i) => ((i * 7919 + seed * 104729) % 1000003).toString(36)).join('');
  const plain = [0, 1, 1, 2, 2].map((s) => encodeHeaderBlock(new Map([['x', [noise(s)]]])));
  const compressed = await deflatedBlocks(plain);
  const decompressor = new HeaderDecompressor();
  for (const [i, block] of compressed.entries()) assert.deepEqual(decompressor.decompress(block), plain[i]);
});

test('SYN_STREAM: stream id, associated id, priority, then the compressed headers', () => {
  const payload = Buffer.from([0, 0, 0, 5, 0, 0, 0, 0, 0xe0, 0, 0xaa, 0xbb]);
  assert.deepEqual(parseSynStream(payload), {
    streamId: 5,
    associatedStreamId: 0,
    priority: 7,
    compressedHeaders: Buffer.from([0xaa, 0xbb]),
  });
  assert.throws(() => parseSynStream(Buffer.alloc(4)), /too short/);
});

test('hundreds of header blocks in a row each come out whole', async () => {
  const plain = Array.from({ length: 300 }, (_, i) =>
    encodeHeaderBlock(
      new Map([
        ['streamtype', [i % 2 ? 'data' : 'error']],
        ['port', [String(8000 + (i % 7))]],
        ['requestid', [String(i >> 1)]],
      ]),
    ),
  );
  const compressed = await deflatedBlocks(plain);
  const decompressor = new HeaderDecompressor();
  for (const [i, block] of compressed.entries()) {
    assert.deepEqual(decodeHeaderBlock(decompressor.decompress(block)), decodeHeaderBlock(plain[i]!));
  }
});
