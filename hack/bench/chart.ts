// The cold-start chart the end-to-end benchmark writes for README and docs/benchmarks.md: every
// sample of every series as a bar, side by side, with each series' median and worst marked and,
// when given, each bar split into the add-on's own share and the rest (cluster + app start).
// Drawn as SVG and turned into a PNG by headless Chromium (hack/browser.ts), so no image library
// is needed.
import { mkdir } from 'node:fs/promises';
import { dirname } from 'node:path';
import { launchBrowser } from '../browser.ts';

export interface ColdStartSeries {
  /** Shown under the series' bars and in the legend, e.g. "keda-http (this)". */
  label: string;
  /** Each sample's cold start in ms, in the order measured; NaN marks a sample that failed. */
  samplesMs: number[];
  /**
   * Optional, one per sample in the same order: the part of that cold start spent in the add-on
   * itself. The bar's lower segment shows it, the upper one the rest ("cluster + app").
   * NaN: not known for that sample (the bar is drawn whole). Values above the total are capped.
   */
  addonShareMs?: number[];
}

export interface ColdStartChartOptions {
  /** Where the PNG goes; its directory is created. */
  path: string;
  title: string;
  /** A second line, e.g. the machine and the sample count. */
  subtitle?: string;
  series: ColdStartSeries[];
  /** The value axis' title. Default: "cold start (ms)". */
  axisLabel?: string;
  /** Names of the two segments when `addonShareMs` is given. Default: "add-on's share", "cluster + app". */
  segmentLabels?: [string, string];
  /** Size in CSS pixels (default 960 x 540); the PNG has `scale` (default 2) times as many pixels. */
  width?: number;
  height?: number;
  scale?: number;
}

export interface RenderedChart {
  path: string;
  /** The PNG's size in pixels. */
  width: number;
  height: number;
}

const palette = ['#1f6feb', '#d4620a', '#1a7f37', '#8250df', '#bf3989', '#0a7f84'];
const ink = '#1f2328';
const muted = '#59636e';
const grid = '#d8dee4';
/** A 12.5 px character's average width, for placing legend entries and labels. */
const charW = 6.4;
const font = "'DejaVu Sans', 'Liberation Sans', Arial, sans-serif";

function esc(s: string): string {
  return s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

const fmt = (ms: number): string => Math.round(ms).toLocaleString('en-US');

/** The median as the benchmark reports it: the middle sample, or the mean of the two middle ones. */
export function median(xs: readonly number[]): number {
  const s = xs.filter((x) => Number.isFinite(x)).sort((a, b) => a - b);
  if (s.length === 0) return Number.NaN;
  const mid = Math.floor(s.length / 2);
  return s.length % 2 ? (s[mid] as number) : ((s[mid - 1] as number) + (s[mid] as number)) / 2;
}

/** A round axis maximum and tick step at or above `max`, with about five ticks. */
export function axisTicks(max: number): { top: number; step: number } {
  if (!(max > 0)) return { top: 1000, step: 200 };
  const rough = max / 5;
  const pow = 10 ** Math.floor(Math.log10(rough));
  const step = ([1, 2, 2.5, 5, 10].find((m) => m * pow >= rough) ?? 10) * pow;
  return { top: Math.ceil(max / step) * step, step };
}

function validate(opts: ColdStartChartOptions): void {
  if (opts.series.length === 0) throw new Error('renderColdStartChart: no series');
  for (const s of opts.series) {
    for (const v of s.samplesMs)
      if (v < 0 || v === Infinity) throw new Error(`renderColdStartChart: ${s.label}: sample ${v} ms`);
    if (s.addonShareMs) {
      if (s.addonShareMs.length !== s.samplesMs.length)
        throw new Error(
          `renderColdStartChart: ${s.label}: ${s.addonShareMs.length} add-on shares for ${s.samplesMs.length} samples`,
        );
      for (const v of s.addonShareMs)
        if (v < 0 || v === Infinity)
          throw new Error(`renderColdStartChart: ${s.label}: add-on share ${v} ms`);
    }
  }
}

/** The chart as an SVG document (what the PNG shows); exported for tests and for an .svg copy. */
export function coldStartChartSvg(opts: ColdStartChartOptions): string {
  validate(opts);
  const W = opts.width ?? 960;
  const H = opts.height ?? 540;
  const scale = opts.scale ?? 2;
  const [shareLabel, restLabel] = opts.segmentLabels ?? ["add-on's share", 'cluster + app'];
  const anyShare = opts.series.some((s) => s.addonShareMs !== undefined);

  const out: string[] = [];
  const text = (
    x: number,
    yy: number,
    s: string,
    attrs: { size?: number; anchor?: string; weight?: string; fill?: string; halo?: boolean } = {},
  ): void => {
    const halo = attrs.halo
      ? ' stroke="#fff" stroke-width="3.5" stroke-linejoin="round" paint-order="stroke"'
      : '';
    out.push(
      `<text x="${x.toFixed(1)}" y="${yy.toFixed(1)}" font-size="${attrs.size ?? 12}" text-anchor="${attrs.anchor ?? 'start'}" font-weight="${attrs.weight ?? 'normal'}" fill="${attrs.fill ?? ink}"${halo}>${esc(s)}</text>`,
    );
  };

  const left = 84;
  const right = 24;
  const margin = 24;

  // Title, subtitle.
  text(margin, 32, opts.title, { size: 19, weight: 'bold' });
  if (opts.subtitle) text(margin, 54, opts.subtitle, { size: 12.5, fill: muted });

  // Legend: one chip per series, then the segments and the markers, wrapped to the width.
  const legend: { width: number; draw: (x: number, y: number) => void }[] = [];
  const chip = (color: string, label: string, opacity = 1): void => {
    legend.push({
      width: 20 + label.length * charW,
      draw: (x, y) => {
        out.push(
          `<rect x="${x}" y="${y - 10}" width="14" height="12" rx="2" fill="${color}"${opacity === 1 ? '' : ` fill-opacity="${opacity}"`}/>`,
        );
        text(x + 20, y, label, { size: 12.5 });
      },
    });
  };
  opts.series.forEach((s, i) => chip(palette[i % palette.length] as string, s.label));
  if (anyShare) {
    chip(muted, `${shareLabel} (dark)`);
    chip(muted, `${restLabel} (light)`, 0.35);
  }
  legend.push({
    width: 28 + 'median'.length * charW,
    draw: (x, y) => {
      out.push(
        `<line x1="${x}" y1="${y - 4}" x2="${x + 22}" y2="${y - 4}" stroke="${ink}" stroke-width="2" stroke-dasharray="5 3"/>`,
      );
      text(x + 28, y, 'median', { size: 12.5 });
    },
  });
  legend.push({
    width: 18 + 'worst'.length * charW,
    draw: (x, y) => {
      out.push(`<path d="M ${x} ${y - 9} l 12 0 l -6 9 z" fill="${ink}"/>`);
      text(x + 18, y, 'worst', { size: 12.5 });
    },
  });
  let lx = margin;
  let ly = opts.subtitle ? 84 : 64;
  for (const item of legend) {
    if (lx > margin && lx + item.width > W - right) {
      lx = margin;
      ly += 22;
    }
    item.draw(lx, ly);
    lx += item.width + 22;
  }
  const top = ly + 28;

  // The lines under each group: counts, median and worst, the add-on's share; joined where they fit.
  const groupW = (W - left - right) / opts.series.length;
  const wrap = (parts: string[]): string[] => {
    const lines: string[] = [];
    for (const part of parts) {
      const last = lines.at(-1);
      if (last !== undefined && `${last} · ${part}`.length * charW <= groupW - 12)
        lines[lines.length - 1] = `${last} · ${part}`;
      else lines.push(part);
    }
    return lines;
  };
  const captions = opts.series.map((s) => {
    const failed = s.samplesMs.filter((v) => !Number.isFinite(v)).length;
    const finiteS = s.samplesMs.filter((v) => Number.isFinite(v));
    const lines = wrap([
      `${s.samplesMs.length} samples${failed ? ` (${failed} failed)` : ''}`,
      ...(finiteS.length
        ? [`median ${fmt(median(finiteS))} ms`, `worst ${fmt(Math.max(...finiteS))} ms`]
        : []),
    ]);
    const shares = (s.addonShareMs ?? []).filter((v) => Number.isFinite(v));
    if (shares.length > 0)
      lines.push(
        ...wrap([`${shareLabel}: median ${fmt(median(shares))} ms`, `worst ${fmt(Math.max(...shares))} ms`]),
      );
    return lines;
  });
  const captionLines = Math.max(...captions.map((c) => c.length));
  const bottom = H - (34 + captionLines * 17);
  const plotW = W - left - right;
  const plotH = bottom - top;

  const finite = opts.series.flatMap((s) => s.samplesMs.filter((v) => Number.isFinite(v)));
  const { top: yMax, step } = axisTicks(Math.max(0, ...finite) * 1.1);
  const y = (ms: number): number => bottom - (Math.min(ms, yMax) / yMax) * plotH;

  // Axis, grid, ticks.
  for (let v = 0; v <= yMax + step / 1000; v += step) {
    const yy = y(v);
    out.push(
      `<line x1="${left}" y1="${yy.toFixed(1)}" x2="${left + plotW}" y2="${yy.toFixed(1)}" stroke="${v === 0 ? muted : grid}" stroke-width="1"/>`,
    );
    text(left - 8, yy + 4, fmt(v), { size: 12, anchor: 'end', fill: muted });
  }
  out.push(`<line x1="${left}" y1="${top}" x2="${left}" y2="${bottom}" stroke="${muted}" stroke-width="1"/>`);
  const axisLabel = opts.axisLabel ?? 'cold start (ms)';
  out.push(
    `<text transform="translate(20 ${(top + bottom) / 2}) rotate(-90)" font-size="12.5" text-anchor="middle" fill="${ink}">${esc(axisLabel)}</text>`,
  );

  // One group of bars per series.
  opts.series.forEach((s, i) => {
    const color = palette[i % palette.length] as string;
    const gx = left + i * groupW;
    // Bars on the left of the group, the median's and the worst's values in a gutter on its right.
    const pad = Math.min(28, groupW * 0.06);
    const gutter = Math.min(124, groupW * 0.34);
    const innerW = groupW - pad - gutter;
    const labelX = gx + pad + innerW + 8;
    const n = s.samplesMs.length;
    const slot = n > 0 ? innerW / n : innerW;
    const barW = Math.max(1, Math.min(44, slot * 0.72));
    const cx = (k: number): number => gx + pad + slot * (k + 0.5);
    if (i > 0)
      out.push(
        `<line x1="${gx.toFixed(1)}" y1="${top}" x2="${gx.toFixed(1)}" y2="${bottom}" stroke="${grid}" stroke-dasharray="2 4"/>`,
      );

    let worstK = -1;
    s.samplesMs.forEach((v, k) => {
      const x0 = cx(k) - barW / 2;
      if (!Number.isFinite(v)) {
        // A failed sample: a cross on the baseline.
        const c = cx(k);
        out.push(
          `<path d="M ${c - 5} ${bottom - 13} l 10 10 M ${c + 5} ${bottom - 13} l -10 10" stroke="#cf222e" stroke-width="2.2"/>`,
        );
        return;
      }
      if (worstK < 0 || v > (s.samplesMs[worstK] as number)) worstK = k;
      const share = s.addonShareMs?.[k];
      const yTop = y(v);
      if (share === undefined || !Number.isFinite(share)) {
        out.push(
          `<rect x="${x0.toFixed(1)}" y="${yTop.toFixed(1)}" width="${barW.toFixed(1)}" height="${(bottom - yTop).toFixed(1)}" fill="${color}"/>`,
        );
        return;
      }
      const ySplit = y(Math.min(share, v));
      out.push(
        `<rect x="${x0.toFixed(1)}" y="${yTop.toFixed(1)}" width="${barW.toFixed(1)}" height="${(ySplit - yTop).toFixed(1)}" fill="${color}" fill-opacity="0.35"/>`,
        `<rect x="${x0.toFixed(1)}" y="${ySplit.toFixed(1)}" width="${barW.toFixed(1)}" height="${(bottom - ySplit).toFixed(1)}" fill="${color}"/>`,
      );
    });

    const med = median(s.samplesMs);
    let medianLabelY = Infinity;
    if (Number.isFinite(med)) {
      const ym = y(med);
      medianLabelY = ym + 4;
      out.push(
        `<line x1="${(gx + pad * 0.5).toFixed(1)}" y1="${ym.toFixed(1)}" x2="${(labelX - 4).toFixed(1)}" y2="${ym.toFixed(1)}" stroke="${ink}" stroke-width="2" stroke-dasharray="5 3"/>`,
      );
      text(labelX, medianLabelY, `median ${fmt(med)}`, { size: 12, weight: 'bold', halo: true });
    }
    if (worstK >= 0) {
      const wv = s.samplesMs[worstK] as number;
      const wx = cx(worstK);
      const yw = y(wv);
      out.push(
        `<path d="M ${(wx - 6).toFixed(1)} ${(yw - 13).toFixed(1)} l 12 0 l -6 9 z" fill="${ink}"/>`,
        `<line x1="${(wx + 8).toFixed(1)}" y1="${(yw - 8).toFixed(1)}" x2="${(labelX - 4).toFixed(1)}" y2="${(yw - 8).toFixed(1)}" stroke="${muted}" stroke-width="1" stroke-dasharray="1 3"/>`,
      );
      // Kept clear of the median's label when the two values are close.
      text(labelX, Math.min(yw - 4, medianLabelY - 16), `worst ${fmt(wv)}`, { size: 12, halo: true });
    }
    if (n === 0) text(gx + groupW / 2, (top + bottom) / 2, 'no samples', { anchor: 'middle', fill: muted });

    // Under the group: the label and the numbers.
    const mid = gx + groupW / 2;
    text(mid, bottom + 22, s.label, { size: 14, anchor: 'middle', weight: 'bold', fill: color });
    (captions[i] as string[]).forEach((line, k) =>
      text(mid, bottom + 40 + k * 17, line, { size: 12, anchor: 'middle', fill: muted }),
    );
  });

  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W * scale}" height="${H * scale}" viewBox="0 0 ${W} ${H}" font-family="${font}">`,
    `<rect width="${W}" height="${H}" fill="#fff"/>`,
    ...out,
    '</svg>',
  ].join('\n');
}

/** Renders the chart and writes it as a PNG to `opts.path`. */
export async function renderColdStartChart(opts: ColdStartChartOptions): Promise<RenderedChart> {
  const svg = coldStartChartSvg(opts);
  const scale = opts.scale ?? 2;
  const width = Math.round((opts.width ?? 960) * scale);
  const height = Math.round((opts.height ?? 540) * scale);
  await mkdir(dirname(opts.path), { recursive: true });
  const browser = await launchBrowser();
  try {
    const page = await browser.context.newPage();
    await page.setViewportSize({ width, height });
    await page.setContent(`<!doctype html><html><body style="margin:0;background:#fff">${svg}</body></html>`);
    await page.locator('svg').first().screenshot({ path: opts.path, type: 'png' });
  } finally {
    await browser.close();
  }
  return { path: opts.path, width, height };
}
