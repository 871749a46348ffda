// Upstream's own end-to-end suites (test/e2e/default, then test/e2e/observability with its collector
// and Jaeger, of github.com/kedacore/http-add-on at UPSTREAM_ADDON_VERSION) against this add-on on
// the embedded default, as `npm run test:conformance` runs them (its own process and state
// directory): every one of their tests must pass. The table of results is printed either way.
// Why: docs/decisions/conformance-suite.md.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { join, resolve } from 'node:path';
import { test } from 'node:test';

const repoRoot = resolve(import.meta.dirname, '../..');

test(
  "upstream's e2e suites test/e2e/default and test/e2e/observability pass against this add-on",
  { timeout: 45 * 60_000 },
  async () => {
    const child = spawn(process.execPath, [join(repoRoot, 'hack/conformance/run.ts')], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let table = '';
    child.stdout.on('data', (c: Buffer) => {
      table += c.toString();
      process.stderr.write(c);
    });
    const code = await new Promise<number | null>((r) => child.on('close', r));
    assert.equal(code, 0, `upstream's suites failed:\n${table}`);
    // Both suites ran: a row of each in the one table.
    assert.match(table, /^default +Test/m);
    assert.match(table, /^observability +TestOtelTracing +PASS/m);
    assert.match(table, /\d+\/\d+ passed/);
  },
);
