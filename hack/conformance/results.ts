// Reads a Go test binary's `-test.v` output into one result per top-level test, and prints them as
// one table (the suite each came from in its first column). Subtests (indented `--- PASS:` lines,
// names with `/`) belong to their test's row.

export interface TestResult {
  suite: string;
  name: string;
  result: 'PASS' | 'FAIL' | 'SKIP';
  seconds: number;
  /** Failed first and was run once more (the row is the rerun's result). */
  rerun?: true;
}

export function parseGoTestOutput(output: string, suite: string): TestResult[] {
  const results: TestResult[] = [];
  for (const line of output.split('\n')) {
    const m = /^--- (PASS|FAIL|SKIP): (\S+) \(([\d.]+)s\)/.exec(line);
    if (!m || (m[2] ?? '').includes('/')) continue;
    results.push({ suite, name: m[2] ?? '', result: m[1] as TestResult['result'], seconds: Number(m[3]) });
  }
  return results;
}

export function formatResults(results: TestResult[]): string {
  const suiteWidth = Math.max(5, ...results.map((r) => r.suite.length));
  const width = Math.max(4, ...results.map((r) => r.name.length));
  const rows = results.map(
    (r) =>
      `${r.suite.padEnd(suiteWidth)}  ${r.name.padEnd(width)}  ${(r.result + (r.rerun ? '*' : '')).padEnd(6)}  ${r.seconds.toFixed(1).padStart(7)}`,
  );
  return (
    [
      `${'suite'.padEnd(suiteWidth)}  ${'test'.padEnd(width)}  result  seconds`,
      `${'-'.repeat(suiteWidth)}  ${'-'.repeat(width)}  ------  -------`,
      ...rows,
      ...(results.some((r) => r.rerun) ? ['* failed on the first run; the row is its rerun'] : []),
    ].join('\n') + '\n'
  );
}

/**
 * The tests to run again: those that failed. Upstream's own CI reruns failed e2e tests too
 * (gotestsum --rerun-fails); a test that fails both times fails the run.
 */
export function failedTests(results: readonly TestResult[]): string[] {
  return results.filter((r) => r.result === 'FAIL').map((r) => r.name);
}

/** A `-test.run` expression matching exactly these top-level tests. */
export function runExpression(names: readonly string[]): string {
  return `^(${names.map((n) => n.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')).join('|')})$`;
}

/** The first run's rows, each failed one replaced by its rerun's (marked), or kept when it did not run again. */
export function withReruns(first: readonly TestResult[], rerun: readonly TestResult[]): TestResult[] {
  return first.map((r) => {
    if (r.result !== 'FAIL') return r;
    const again = rerun.find((x) => x.name === r.name);
    return again ? { ...again, rerun: true } : r;
  });
}
