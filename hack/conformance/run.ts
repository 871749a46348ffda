// `npm run test:conformance [-- --upstream] [-- --suite default|observability|all] [-- --parallel N]
// [-- --run REGEX] [-- --reruns 0|1]`: upstream's own end-to-end suites of github.com/kedacore/http-add-on at
// UPSTREAM_ADDON_VERSION, test/e2e/default then test/e2e/observability (both by default), against
// this add-on on the embedded default (or, with --upstream, against upstream's own add-on on the
// same environment: the baseline that shows a failure is the add-on's and not the environment's).
//
// The suites come from the Go module, compiled with `go test -c` by hack/build-binaries.sh
// (upstream-e2e, upstream-e2e-observability; one documented patch, the scaler Deployment's name).
// Their apps run in the process kubelet: whoami as hack/apps/whoami.ts, socat from Debian, grpc-echo
// built from the same module (hack/kubelet/images.ts); the observability suite's collector and
// Jaeger are Jaeger v2 built from its Go module (observability-backends.ts). This add-on is
// installed as a user installs it: the manager, and the annotations on the Keda object
// (addon-enabled=true, addon-namespace=keda, where the suites look). One environment serves both
// suites, one after the other (the observability suite patches the interceptor's env and restores
// it when done). A test that fails is run once more on its own (`--reruns 0` turns that off), as
// upstream's CI reruns failed tests; one that fails twice fails the run. It prints one table, a
// row per test (suite, name, result, seconds; a rerun marked), and exits 1 when any test failed.
// Why it is run this way: docs/decisions/conformance-suite.md.
import { execFileSync, spawn } from 'node:child_process';
import { createWriteStream, existsSync, mkdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { binaryPath, versions } from '../cluster/control-plane.ts';
import { kedaNamespace } from '../keda.ts';
import { startEmbedded, type Embedded } from '../embedded.ts';
import { upstreamBinary, upstreamVersion } from '../upstream-addon.ts';
import { upstreamAddon } from '../bench/upstream-manifests.ts';
import { ensureSystemPackages } from '../system-packages.ts';
import {
  failedTests,
  formatResults,
  parseGoTestOutput,
  runExpression,
  withReruns,
  type TestResult,
} from './results.ts';
import { collectorNamespace, jaegerNamespace, observabilityBackends } from './observability-backends.ts';

const repoRoot = resolve(import.meta.dirname, '../..');
/** Where the suite looks for the add-on (test/helpers/env.go: AddonNamespace). */
const addonNamespace = 'keda';
/** Where the Keda object lives: the embedded default's (the manager's default namespace). */
const kedaObjectNamespace = 'kyma-system';
/** The image repository the suite's grpc-echo image is named after (`$KO_DOCKER_REPO/grpc-echo:latest`). */
const koDockerRepo = 'ko.local';

function say(message: string): void {
  process.stderr.write(`[conformance] ${message}\n`);
}

/** Upstream's e2e suites this runner knows, in the order it runs them. */
const suites = ['default', 'observability'] as const;
type Suite = (typeof suites)[number];

/** hack/build-binaries.sh's targets each suite needs. */
const suiteBuildTargets: Record<Suite, string[]> = {
  default: ['upstream-e2e', 'upstream-grpc-echo'],
  observability: ['upstream-e2e-observability', 'jaeger'],
};

export function suiteBinaryPath(suite: Suite = 'default'): string {
  return binaryPath(`http-add-on-e2e-${suite}`, versions().UPSTREAM_ADDON_VERSION) + '.test';
}

function build(targets: string[]): void {
  execFileSync('bash', [join(repoRoot, 'hack/build-binaries.sh'), ...targets], {
    stdio: ['ignore', 'inherit', 'inherit'],
  });
}

async function installThisAddon(e: Embedded): Promise<void> {
  say(
    `$ kubectl annotate keda default -n ${kedaObjectNamespace} keda.kyma-project.io/addon-enabled=true keda.kyma-project.io/addon-namespace=${addonNamespace}`,
  );
  await e.kubectl([
    'annotate',
    'keda',
    'default',
    '-n',
    kedaObjectNamespace,
    '--overwrite',
    'keda.kyma-project.io/addon-enabled=true',
    `keda.kyma-project.io/addon-namespace=${addonNamespace}`,
  ]);
  await e.kubectl([
    'wait',
    'keda/default',
    '-n',
    kedaObjectNamespace,
    '--for=condition=AddonInstalled',
    '--timeout=5m',
  ]);
}

async function installUpstreamAddon(e: Embedded): Promise<void> {
  for (const c of ['interceptor', 'scaler', 'operator'] as const) upstreamBinary(c);
  say(
    `installing upstream's add-on ${upstreamVersion()} in ${addonNamespace} (hack/bench/upstream-manifests.ts)`,
  );
  // An empty watch namespace: its operator serves HTTPScaledObjects in every namespace, as installed by Helm.
  const objects = upstreamAddon(addonNamespace, '');
  await e.kubectl(['apply', '-f', '-'], objects.map((o) => JSON.stringify(o)).join('\n---\n'));
  for (const d of ['interceptor', 'external-scaler', 'operator']) {
    await e.kubectl([
      'rollout',
      'status',
      `deployment/keda-add-ons-http-${d}`,
      '-n',
      addonNamespace,
      '--timeout=5m',
    ]);
  }
}

/** The suite's collector and Jaeger (observability-backends.ts), applied and rolled out. */
async function installObservabilityBackends(e: Embedded): Promise<void> {
  say(
    `installing the observability suite's OpenTelemetry collector and Jaeger (Jaeger v2 ${versions().JAEGER_VERSION})`,
  );
  await e.kubectl(
    ['apply', '-f', '-'],
    observabilityBackends()
      .map((o) => JSON.stringify(o))
      .join('\n---\n'),
  );
  for (const [namespace, name] of [
    [collectorNamespace, 'opentelemetry-collector'],
    [jaegerNamespace, 'jaeger'],
  ] as const) {
    await e.kubectl(['rollout', 'status', `deployment/${name}`, '-n', namespace, '--timeout=5m']);
  }
}

/** Runs one suite's binary; resolves with its results and exit code. Its output goes to `logPath`. */
function runSuite(opts: {
  suite: Suite;
  kubeconfig: string;
  parallel: number;
  run?: string;
  logPath: string;
  workDir: string;
}): Promise<{ results: TestResult[]; code: number | null }> {
  const args = [
    '-test.v',
    `-test.parallel=${opts.parallel}`,
    '-test.timeout=40m',
    `-kubeconfig=${opts.kubeconfig}`,
  ];
  if (opts.run) args.push(`-test.run=${opts.run}`);
  const binary = suiteBinaryPath(opts.suite);
  say(`$ ${binary} ${args.join(' ')}   (output: ${opts.logPath})`);
  const child = spawn(binary, args, {
    cwd: opts.workDir,
    env: { ...process.env, KUBECONFIG: opts.kubeconfig, KO_DOCKER_REPO: koDockerRepo },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const log = createWriteStream(opts.logPath);
  let output = '';
  const onData = (chunk: Buffer): void => {
    log.write(chunk);
    output += chunk.toString();
    // Progress: each finished top-level test as it finishes.
    for (const line of chunk.toString().split('\n')) {
      const m = /^--- (PASS|FAIL|SKIP): (\S+) \(([\d.]+)s\)/.exec(line);
      if (m) say(`${opts.suite}: ${m[1]} ${m[2]} (${m[3]}s)`);
    }
  };
  child.stdout.on('data', onData);
  child.stderr.on('data', onData);
  return new Promise((resolvePromise) => {
    child.on('close', (code) => {
      log.end();
      resolvePromise({ results: parseGoTestOutput(output, opts.suite), code });
    });
  });
}

export async function main(argv: string[]): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: {
      upstream: { type: 'boolean', default: false },
      suite: { type: 'string', default: 'all' },
      parallel: { type: 'string', default: '4' },
      run: { type: 'string' },
      reruns: { type: 'string', default: '1' },
    },
  });
  const reruns = Number(values.reruns);
  if (!Number.isInteger(reruns) || reruns < 0 || reruns > 1)
    throw new Error(`--reruns must be 0 or 1, not ${values.reruns}`);
  const parallel = Number(values.parallel);
  if (!Number.isInteger(parallel) || parallel < 1)
    throw new Error(`--parallel must be a positive integer, not ${values.parallel}`);
  const selected: Suite[] = values.suite === 'all' ? [...suites] : suites.filter((s) => s === values.suite);
  if (selected.length === 0)
    throw new Error(`--suite must be one of ${[...suites, 'all'].join(', ')}, not ${values.suite}`);
  ensureSystemPackages('test');
  const target = values.upstream ? `upstream's add-on ${upstreamVersion()}` : 'this add-on';
  say(
    `upstream's e2e suites ${selected.map((s) => `test/e2e/${s}`).join(', ')} ${upstreamVersion()} against ${target}`,
  );
  if (selected.some((s) => !existsSync(suiteBinaryPath(s))))
    say(
      "building upstream's e2e suites (and, for observability, Jaeger) from their Go modules " +
        '(first run only: see docs/decisions/conformance-suite.md for the times)',
    );
  build(selected.flatMap((s) => suiteBuildTargets[s]));

  const name = values.upstream ? 'conformance-upstream' : 'conformance';
  const dir = join(repoRoot, '.cache', name);
  // Beside the state directory, which is removed at the end: the suites' output outlives the run.
  const logPath = (suite: Suite): string =>
    join(repoRoot, '.cache', suite === 'default' ? `${name}-suite.log` : `${name}-${suite}-suite.log`);
  const abort = new AbortController();
  const onSignal = (): void => abort.abort(new Error('interrupted'));
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  const t0 = performance.now();
  const e = await startEmbedded({ dir, progress: say, signal: abort.signal });
  try {
    if (values.upstream) await installUpstreamAddon(e);
    else await installThisAddon(e);
    say(
      `environment ready in ${((performance.now() - t0) / 1000).toFixed(0)}s (KEDA in ${kedaNamespace}, the add-on in ${addonNamespace})`,
    );
    const results: TestResult[] = [];
    const timings: string[] = [];
    let ok = true;
    for (const suite of selected) {
      const t1 = performance.now();
      if (suite === 'observability') await installObservabilityBackends(e);
      const workDir = join(dir, 'suite', suite);
      mkdirSync(workDir, { recursive: true });
      const run = await runSuite({
        suite,
        kubeconfig: e.kubeconfig,
        parallel,
        ...(values.run ? { run: values.run } : {}),
        logPath: logPath(suite),
        workDir,
      });
      let suiteResults = run.results;
      let code = run.code;
      const failed = failedTests(run.results);
      if (failed.length > 0 && reruns > 0) {
        // Once more, only what failed (as upstream's CI reruns failed tests): a timing-bound test
        // on a loaded 2-core machine must not fail the run alone, a real failure fails twice.
        say(`${suite}: running ${failed.join(', ')} once more`);
        const again = await runSuite({
          suite,
          kubeconfig: e.kubeconfig,
          parallel,
          run: runExpression(failed),
          logPath: `${logPath(suite)}.rerun`,
          workDir,
        });
        suiteResults = withReruns(run.results, again.results);
        code = failedTests(suiteResults).length === 0 ? again.code : run.code;
      }
      results.push(...suiteResults);
      timings.push(`${suite} ${((performance.now() - t1) / 1000).toFixed(0)}s`);
      // With --run, a suite may have no test of that name; without, no tests means it never ran.
      if (run.results.length === 0 && (!values.run || run.code !== 0)) {
        say(`${suite}: the suite reported no tests (exit code ${run.code}); see ${logPath(suite)}`);
        ok = false;
      }
      if (suiteResults.some((r) => r.result === 'FAIL') || code !== 0) ok = false;
    }
    if (results.length === 0) ok = false;
    process.stdout.write(formatResults(results));
    const passed = results.filter((r) => r.result === 'PASS');
    process.stdout.write(
      `\n${passed.length}/${results.length} passed against ${target} (${timings.join(', ')}; ` +
        `-parallel ${parallel}; full output: ${selected.map(logPath).join(', ')})\n`,
    );
    return ok ? 0 : 1;
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    await e.stop({ purge: true });
  }
}

if (import.meta.main) {
  main(process.argv.slice(2)).then(
    (code) => process.exit(code),
    (err: unknown) => {
      say(err instanceof Error ? err.message : String(err));
      process.exit(1);
    },
  );
}
