// Reads a Go test binary's `-test.v` output into one result per top-level test, and prints them as
// one table (the suite each came from in its first column). Subtests (indented `--- PASS:` lines,
// names with `/`) belong to their test's row.

export interface TestResult {
  suite: string;
  name: string;
  result: 'PASS' | 'FAIL' | 'SKIP';
  seconds: number;
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
      `${r.suite.padEnd(suiteWidth)}  ${r.name.padEnd(width)}  ${r.result.padEnd(6)}  ${r.seconds.toFixed(1).padStart(7)}`,
  );
  return (
    [
      `${'suite'.padEnd(suiteWidth)}  ${'test'.padEnd(width)}  result  seconds`,
      `${'-'.repeat(suiteWidth)}  ${'-'.repeat(width)}  ------  -------`,
      ...rows,
    ].join('\n') + '\n'
  );
}
