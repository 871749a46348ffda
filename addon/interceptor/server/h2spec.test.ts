// HTTP/2 conformance of the interceptor's listeners, measured with h2spec (its 145 cases) against
// the h2c port and the TLS port, next to the same run against a bare node:http2 server on the same
// Node. Node's HTTP/2 stack fails a few cases on its own; the interceptor must fail no case that
// bare Node passes: whatever the proxy adds in front of Node's stack (connection sniffing, limits,
// the drain) must not break the protocol.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import type http from 'node:http';
import http2 from 'node:http2';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildBinaries } from '../../../hack/cluster/build.ts';
import { binaryPath, versions } from '../../../hack/cluster/control-plane.ts';
import {
  endpointSlice,
  interceptorRoute,
  service,
  startBackend,
  startTestInterceptor,
  type Backend,
  type TestInterceptor,
} from '../testing/harness.ts';

const tlsDir = new URL('../testing/tls/', import.meta.url).pathname;
const cert = readFileSync(`${tlsDir}tls.crt`);
const key = readFileSync(`${tlsDir}tls.key`);

type Outcome = 'passed' | 'failed' | 'skipped';
/** Cases by id ("http2/3.5 #2"), numbered within their section as the report lists them. */
type Report = Map<string, { section: string; title: string; outcome: Outcome }>;

/**
 * h2spec's JUnit report, case by case. A case is named as h2spec prints it: its section and its
 * number within the section ("http2/3.5 #2"); a failure is an <error> (or <failure>) element.
 */
function parseJUnit(xml: string): Report {
  const cases: Report = new Map();
  for (const suite of xml.matchAll(/<testsuite\b[^>]*\bpackage="([^"]*)"[^>]*>([\s\S]*?)<\/testsuite>/g)) {
    let n = 0;
    for (const c of (suite[2] ?? '').matchAll(/<testcase\b([^>]*)>([\s\S]*?)<\/testcase>/g)) {
      n++;
      const body = c[2] ?? '';
      const outcome: Outcome = /<(error|failure)\b/.test(body)
        ? 'failed'
        : /<skipped\b/.test(body)
          ? 'skipped'
          : 'passed';
      const title = /classname="([^"]*)"/.exec(c[1] ?? '')?.[1] ?? '';
      cases.set(`${suite[1]} #${n}`, { section: suite[1] ?? '', title, outcome });
    }
  }
  return cases;
}

let h2spec: string;
let workDir: string;

/** Runs every h2spec case against one port; h2spec exits non-zero when a case fails, so only the report counts. */
async function runH2spec(name: string, port: number, tls: boolean, only: string[] = []): Promise<Report> {
  const report = join(workDir, `${name}.xml`);
  // -o: seconds h2spec waits for an expected frame; its default of 2 s is tight on a busy machine.
  const args = ['-h', '127.0.0.1', '-p', String(port), '-o', '3', '-j', report, ...(tls ? ['-t', '-k'] : [])];
  // h2spec names one case on its command line as section/number: "http2/3.5 #2" is http2/3.5/2.
  args.push(...only.map((id) => id.replace(' #', '/')));
  const output = await new Promise<string>((resolve) =>
    execFile(h2spec, args, { timeout: 240_000, maxBuffer: 16 << 20 }, (_err, stdout, stderr) =>
      resolve(`${stdout}${stderr}`),
    ),
  );
  assert.ok(existsSync(report), `h2spec wrote no report for ${name}:\n${output}`);
  const cases = parseJUnit(await readFile(report, 'latin1'));
  const expected = only.length > 0 ? only.length : 145;
  assert.equal(
    cases.size,
    expected,
    `h2spec ran ${cases.size} cases against ${name}, not ${expected}:\n${output}`,
  );
  return cases;
}

/** Answers every request once its body has been read, like the backends behind the interceptor. */
function drainThenAnswer(
  req: http.IncomingMessage | http2.Http2ServerRequest,
  res: http.ServerResponse | http2.Http2ServerResponse,
): void {
  req.resume();
  req.on('end', () => res.end('ok\n'));
}

let httpBackend: Backend;
let httpsBackend: https.Server;
let plainInterceptor: TestInterceptor;
let tlsInterceptor: TestInterceptor;
let bareH2c: http2.Http2Server;
let bareTls: http2.Http2SecureServer;

before(async () => {
  const version = versions().H2SPEC_VERSION;
  assert.ok(version, 'H2SPEC_VERSION is not set in hack/versions.env');
  h2spec = binaryPath('h2spec', version);
  if (!existsSync(h2spec)) await buildBinaries(['h2spec']);
  workDir = await mkdtemp(join(tmpdir(), 'h2spec-'));

  httpBackend = await startBackend(drainThenAnswer);
  httpsBackend = https.createServer({ cert, key }, drainThenAnswer);
  await new Promise<void>((r) => httpsBackend.listen(0, '127.0.0.1', r));
  // h2spec sends :authority 127.0.0.1:<port>: a catch-all route takes it.
  const routeTo = (port: number, portName: string) => [
    interceptorRoute('app', { target: { service: 'app', port: 80 } }),
    service('app', [{ name: portName, port: 80 }]),
    endpointSlice('app', [{ ip: '127.0.0.1' }], port, portName),
  ];
  plainInterceptor = await startTestInterceptor(routeTo(httpBackend.port, 'http'));
  // The TLS listener dials its backends over https (SNI app.default, in the test certificate).
  tlsInterceptor = await startTestInterceptor(
    routeTo((httpsBackend.address() as AddressInfo).port, 'https'),
    {
      KEDA_HTTP_PROXY_TLS_ENABLED: 'true',
      KEDA_HTTP_PROXY_TLS_PORT: '0',
      KEDA_HTTP_PROXY_TLS_CERT_PATH: `${tlsDir}tls.crt`,
      KEDA_HTTP_PROXY_TLS_KEY_PATH: `${tlsDir}tls.key`,
    },
  );

  bareH2c = http2.createServer(drainThenAnswer);
  bareTls = http2.createSecureServer({ cert, key, allowHTTP1: true }, drainThenAnswer);
  await new Promise<void>((r) => bareH2c.listen(0, '127.0.0.1', r));
  await new Promise<void>((r) => bareTls.listen(0, '127.0.0.1', r));
});

after(async () => {
  await plainInterceptor?.close();
  await tlsInterceptor?.close();
  await httpBackend?.close();
  httpsBackend?.closeAllConnections();
  httpsBackend?.close();
  bareH2c?.close();
  bareTls?.close();
  if (workDir) await rm(workDir, { recursive: true, force: true });
});

/** The cases bare Node passes and the interceptor does not. */
function regressions(bare: Report, proxied: Report): string[] {
  return [...bare]
    .filter(([id, b]) => b.outcome === 'passed' && proxied.get(id)?.outcome !== 'passed')
    .map(([id]) => id);
}

/**
 * The regressions that stay when each is run once more on its own: a case that only missed h2spec's
 * timeout on a busy machine is not taken for a protocol error. A case run alone is the only one in
 * its section's report, so it is found by its title.
 */
async function confirmedRegressions(
  name: string,
  port: number,
  tls: boolean,
  bare: Report,
  proxied: Report,
): Promise<string[]> {
  const suspects = regressions(bare, proxied);
  if (suspects.length === 0) return [];
  const again = [...(await runH2spec(`${name}-again`, port, tls, suspects)).values()];
  return suspects
    .filter((id) => {
      const c = proxied.get(id) ?? bare.get(id);
      return again.find((a) => a.section === c?.section && a.title === c.title)?.outcome !== 'passed';
    })
    .map((id) => `${id} ${bare.get(id)?.title}`);
}

function summary(cases: Report): string {
  const counts = { passed: 0, failed: 0, skipped: 0 };
  const failed: string[] = [];
  for (const [id, c] of cases) {
    counts[c.outcome]++;
    if (c.outcome === 'failed') failed.push(id);
  }
  return `${counts.passed} passed, ${counts.failed} failed, ${counts.skipped} skipped (failed: ${failed.join(', ')})`;
}

test('h2c and TLS listeners fail no h2spec case that a bare node:http2 server passes', async (t) => {
  const clearPort = plainInterceptor.running.proxyPort;
  const tlsPort = tlsInterceptor.running.tlsPort ?? 0;
  // The four runs wait on timeouts most of the time, so they run side by side.
  const [bareClear, proxiedClear, bareSecure, proxiedSecure] = await Promise.all([
    runH2spec('bare-h2c', (bareH2c.address() as AddressInfo).port, false),
    runH2spec('interceptor-h2c', clearPort, false),
    runH2spec('bare-tls', (bareTls.address() as AddressInfo).port, true),
    runH2spec('interceptor-tls', tlsPort, true),
  ]);
  for (const [name, cases] of Object.entries({ bareClear, proxiedClear, bareSecure, proxiedSecure }))
    t.diagnostic(`${name}: ${summary(cases)}`);
  assert.deepEqual(
    {
      h2c: await confirmedRegressions('interceptor-h2c', clearPort, false, bareClear, proxiedClear),
      tls: await confirmedRegressions('interceptor-tls', tlsPort, true, bareSecure, proxiedSecure),
    },
    { h2c: [], tls: [] },
    'cases bare node:http2 passes and the interceptor fails',
  );
});
