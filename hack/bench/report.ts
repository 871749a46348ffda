// Shared by every `npm run bench:*`: prints the table and one JSON line, and writes the results with
// the machine and versions into its own section of docs/benchmarks.md (other sections untouched).
import { cpus, totalmem, release } from 'node:os';
import { readFile, writeFile } from 'node:fs/promises';
import { execFileSync } from 'node:child_process';

export interface BenchReport {
  /** Section id, e.g. "interceptor"; also the `bench` field of the JSON line. */
  name: string;
  title: string;
  /** Column headers and rows of the side-by-side table. */
  columns: string[];
  rows: (string | number)[][];
  /** Targets and whether they were met, said in words ("warm throughput >= upstream: met (1.12x)"). */
  verdicts?: string[];
  /** Versions of what was compared (upstream release, Go version, ...). */
  versions?: Record<string, string>;
  notes?: string[];
  /** Everything machine-readable; printed as one JSON line. */
  data: Record<string, unknown>;
}

export function machine(): Record<string, string> {
  const cpu = cpus();
  let go = 'not found';
  try {
    go = execFileSync('go', ['version'], { encoding: 'utf8' }).trim();
  } catch {
    /* go is optional for reports */
  }
  return {
    cpu: `${cpu.length} x ${cpu[0]?.model ?? 'unknown'}`,
    memory: `${Math.round(totalmem() / 2 ** 30)} GiB`,
    kernel: release(),
    node: process.version,
    go,
  };
}

export function table(columns: string[], rows: (string | number)[][]): string {
  const cells = [columns, ...rows.map((r) => r.map(String))];
  const widths = columns.map((_, i) => Math.max(...cells.map((r) => (r[i] ?? '').length)));
  const line = (r: string[]): string => `| ${r.map((c, i) => c.padEnd(widths[i] ?? 0)).join(' | ')} |`;
  return [
    line(cells[0] ?? []),
    `|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`,
    ...cells.slice(1).map(line),
  ].join('\n');
}

export async function report(
  r: BenchReport,
  docPath = new URL('../../docs/benchmarks.md', import.meta.url),
): Promise<void> {
  const m = machine();
  const when = new Date().toISOString();
  const t = table(r.columns, r.rows);
  console.log(`\n${r.title}\n\n${t}\n`);
  for (const v of r.verdicts ?? []) console.log(`- ${v}`);
  console.log(JSON.stringify({ bench: r.name, when, machine: m, versions: r.versions ?? {}, ...r.data }));

  const section = [
    `<!-- bench:${r.name}:start -->`,
    `## ${r.title}`,
    '',
    `Run ${when} on ${m.cpu}, ${m.memory}, Linux ${m.kernel}, Node ${m.node}, ${m.go}.`,
    ...Object.entries(r.versions ?? {}).map(([k, v]) => `- ${k}: ${v}`),
    '',
    t,
    '',
    ...(r.verdicts ?? []).map((v) => `- ${v}`),
    ...(r.notes ?? []).map((n) => `\n${n}`),
    `<!-- bench:${r.name}:end -->`,
  ].join('\n');
  let doc: string;
  try {
    doc = await readFile(docPath, 'utf8');
  } catch {
    doc =
      '# Benchmarks\n\nEach section is written by its `npm run bench:*` script; numbers are from one run on the machine named.\n';
  }
  const re = new RegExp(`<!-- bench:${r.name}:start -->[\\s\\S]*?<!-- bench:${r.name}:end -->`);
  doc = re.test(doc) ? doc.replace(re, section) : `${doc.trimEnd()}\n\n${section}\n`;
  await writeFile(docPath, doc);
}
