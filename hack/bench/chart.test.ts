// The cold-start chart: real PNGs from headless Chromium, read back from their bytes (signature,
// IHDR size, decoded pixels in the series' colours), and the SVG they are drawn from.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { inflateSync } from 'node:zlib';
import {
  axisTicks,
  coldStartChartSvg,
  median,
  renderColdStartChart,
  type ColdStartChartOptions,
} from './chart.ts';

let dir: string;
before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'cold-start-chart-'));
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
});

const ours = [3420, 3310, 3550, 3390, 3480, 3620, 3300, 3405, 3700, 3380];
const upstream = [4100, 3950, 4480, 4020, 4210, 3990, 4890, 4050, 4120, 4300];

function options(path: string, first: number[]): ColdStartChartOptions {
  return {
    path,
    title: 'Cold start from zero replicas',
    subtitle: '10 samples each; test machine',
    series: [
      { label: 'keda-http (this)', samplesMs: first, addonShareMs: first.map((_, i) => 50 + i * 5) },
      { label: 'upstream v0.11.1', samplesMs: upstream, addonShareMs: upstream.map(() => 800) },
    ],
  };
}

interface Png {
  width: number;
  height: number;
  /** RGB triples, row by row. */
  rgb: Uint8Array;
}

/** A minimal PNG reader: 8-bit RGB or RGBA, not interlaced (what Chromium writes). */
function decodePng(bytes: Buffer): Png {
  assert.deepEqual(
    [...bytes.subarray(0, 8)],
    [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a],
    'PNG signature',
  );
  assert.equal(bytes.toString('latin1', 12, 16), 'IHDR', 'first chunk is IHDR');
  const width = bytes.readUInt32BE(16);
  const height = bytes.readUInt32BE(20);
  const [depth, colorType, , , interlace] = bytes.subarray(24, 29);
  assert.equal(depth, 8);
  assert.ok(colorType === 2 || colorType === 6, `colour type ${colorType}`);
  assert.equal(interlace, 0);
  const channels = colorType === 6 ? 4 : 3;
  const idat: Buffer[] = [];
  for (let at = 8; at < bytes.length;) {
    const len = bytes.readUInt32BE(at);
    const type = bytes.toString('latin1', at + 4, at + 8);
    if (type === 'IDAT') idat.push(bytes.subarray(at + 8, at + 8 + len));
    at += 12 + len;
  }
  const raw = inflateSync(Buffer.concat(idat));
  const stride = width * channels;
  const rows = new Uint8Array(height * stride);
  for (let r = 0; r < height; r++) {
    const filter = raw[r * (stride + 1)];
    const line = raw.subarray(r * (stride + 1) + 1, (r + 1) * (stride + 1));
    for (let i = 0; i < stride; i++) {
      const a = i >= channels ? (rows[r * stride + i - channels] as number) : 0;
      const b = r > 0 ? (rows[(r - 1) * stride + i] as number) : 0;
      const c = r > 0 && i >= channels ? (rows[(r - 1) * stride + i - channels] as number) : 0;
      const x = line[i] as number;
      let v: number;
      if (filter === 0) v = x;
      else if (filter === 1) v = x + a;
      else if (filter === 2) v = x + b;
      else if (filter === 3) v = x + ((a + b) >> 1);
      else if (filter === 4) {
        const p = a + b - c;
        const pa = Math.abs(p - a);
        const pb = Math.abs(p - b);
        const pc = Math.abs(p - c);
        v = x + (pa <= pb && pa <= pc ? a : pb <= pc ? b : c);
      } else assert.fail(`PNG filter ${filter}`);
      rows[r * stride + i] = v & 0xff;
    }
  }
  const rgb = new Uint8Array(width * height * 3);
  for (let p = 0; p < width * height; p++)
    for (let k = 0; k < 3; k++) rgb[p * 3 + k] = rows[p * channels + k] as number;
  return { width, height, rgb };
}

/** Pixels within a small distance of a colour, e.g. '#1f6feb'. */
function countColour(png: Png, hex: string): number {
  const [r, g, b] = [1, 3, 5].map((i) => parseInt(hex.slice(i, i + 2), 16)) as [number, number, number];
  let n = 0;
  for (let p = 0; p < png.rgb.length; p += 3)
    if (
      Math.abs((png.rgb[p] as number) - r) <= 4 &&
      Math.abs((png.rgb[p + 1] as number) - g) <= 4 &&
      Math.abs((png.rgb[p + 2] as number) - b) <= 4
    )
      n++;
  return n;
}

test('renders a PNG of the given size whose pixels show both series; different data, different image', async () => {
  const a = join(dir, 'sub', 'a.png');
  const rendered = await renderColdStartChart(options(a, ours));
  assert.deepEqual(rendered, { path: a, width: 1920, height: 1080 });
  const bytesA = await readFile(a);
  assert.ok(bytesA.length > 20_000, `a ${bytesA.length}-byte PNG is too small for a chart`);
  const png = decodePng(bytesA);
  assert.equal(png.width, 1920);
  assert.equal(png.height, 1080);
  // The add-on's share is drawn in each series' full colour: both are on the image.
  const blue = countColour(png, '#1f6feb');
  const orange = countColour(png, '#d4620a');
  assert.ok(blue > 2_000, `${blue} pixels of the first series' colour`);
  assert.ok(orange > 20_000, `${orange} pixels of the second series' colour`);
  // Mostly white background, not a blank or black page.
  assert.ok(countColour(png, '#ffffff') > png.width * png.height * 0.5, 'a white background');

  const b = join(dir, 'b.png');
  await renderColdStartChart(
    options(
      b,
      ours.map((v) => v + 900),
    ),
  );
  const bytesB = await readFile(b);
  assert.notDeepEqual(bytesB, bytesA, 'other samples draw another image');

  const small = join(dir, 'small.png');
  const r = await renderColdStartChart({ ...options(small, ours), width: 640, height: 360, scale: 1 });
  assert.deepEqual([r.width, r.height], [640, 360]);
  const s = decodePng(await readFile(small));
  assert.deepEqual([s.width, s.height], [640, 360]);
});

test('the SVG has a bar (two segments with shares) per sample, the median and worst labels and the legend', () => {
  const svg = coldStartChartSvg(options('/unused.png', ours));
  const rects = (colour: string, opacity?: string): number =>
    [...svg.matchAll(/<rect [^>]*fill="([^"]+)"([^>]*)\/>/g)].filter(
      (m) =>
        m[1] === colour &&
        (opacity === undefined ? !/fill-opacity/.test(m[2] as string) : (m[2] as string).includes(opacity)),
    ).length;
  // One solid (share) and one light (rest) segment per sample, plus the legend chip.
  assert.equal(rects('#1f6feb'), ours.length + 1);
  assert.equal(rects('#1f6feb', 'fill-opacity="0.35"'), ours.length);
  assert.equal(rects('#d4620a'), upstream.length + 1);
  assert.match(svg, />median 3,413</);
  assert.match(svg, />worst 3,700</);
  assert.match(svg, />median 4,110</);
  assert.match(svg, />worst 4,890</);
  assert.match(svg, /add-on&#39;s share: median 73 ms · worst 95 ms/);
  assert.match(svg, />keda-http \(this\)</);
  assert.match(svg, />upstream v0\.11\.1</);
  assert.match(svg, />cold start \(ms\)</);
  assert.match(svg, />6,000</, 'axis tick above the worst sample');

  // Without shares: one bar per sample; a failed sample (NaN) is a cross, counted as failed.
  const plain = coldStartChartSvg({
    path: '/unused.png',
    title: 't <&>',
    series: [{ label: 'only', samplesMs: [100, Number.NaN, 300] }],
  });
  assert.equal([...plain.matchAll(/<rect [^>]*fill="#1f6feb"\/>/g)].length, 2 + 1);
  assert.match(plain, /3 samples \(1 failed\)/);
  assert.match(plain, />median 200</);
  assert.match(plain, />t &#60;&#38;&#62;</, 'text is escaped');
  assert.doesNotMatch(plain, /add-on&#39;s share \(dark\)/, 'no segment legend without shares');
});

test('bad input is refused, naming the series', () => {
  const base = { path: '/unused.png', title: 't' };
  assert.throws(() => coldStartChartSvg({ ...base, series: [] }), /no series/);
  assert.throws(
    () => coldStartChartSvg({ ...base, series: [{ label: 'x', samplesMs: [1, 2], addonShareMs: [1] }] }),
    /x: 1 add-on shares for 2 samples/,
  );
  assert.throws(
    () => coldStartChartSvg({ ...base, series: [{ label: 'y', samplesMs: [-1] }] }),
    /y: sample -1/,
  );
});

test('median and axis ticks', () => {
  assert.equal(median([3, 1, 2]), 2);
  assert.equal(median([4, 1, 3, 2]), 2.5);
  assert.equal(median([Number.NaN, 5]), 5);
  assert.ok(Number.isNaN(median([])));
  assert.deepEqual(axisTicks(5379), { top: 6000, step: 2000 });
  assert.deepEqual(axisTicks(480), { top: 500, step: 100 });
  assert.deepEqual(axisTicks(0), { top: 1000, step: 200 });
});
