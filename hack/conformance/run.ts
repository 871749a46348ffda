// `npm run test:conformance [-- --upstream] [-- --parallel N] [-- --run REGEX]`: upstream's own
// end-to-end suite, test/e2e/default of github.com/kedacore/http-add-on at UPSTREAM_ADDON_VERSION,
// against this add-on on the embedded default (or, with --upstream, against upstream's own add-on on
// the same environment: the baseline that shows a failure is the add-on's and not the environment's).
//
// The suite comes from the Go module, compiled with `go test -c` by hack/build-binaries.sh
// (upstream-e2e; one documented patch, the scaler Deployment's name). Its apps run in the process
// kubelet: whoami as hack/apps/whoami.ts, socat from Debian, grpc-echo built from the same module
// (hack/kubelet/images.ts). This add-on is installed as a user installs it: the manager, and the
// annotations on the Keda object (addon-enabled=true, addon-namespace=keda, where the suite looks).
// It prints one row per test (name, result, seconds) and exits 1 when any test failed.
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
import { parseGoTestOutput, formatResults, type TestResult } from './results.ts';

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

export function suiteBinaryPath(): string {
  return binaryPath('http-add-on-e2e-default', versions().UPSTREAM_ADDON_VERSION) + '.test';
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

/** Runs the suite binary; resolves with its results and exit code. Its output goes to `logPath`. */
function runSuite(opts: {
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
  say(`$ ${suiteBinaryPath()} ${args.join(' ')}   (output: ${opts.logPath})`);
  const child = spawn(suiteBinaryPath(), args, {
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
      if (m) say(`${m[1]} ${m[2]} (${m[3]}s)`);
    }
  };
  child.stdout.on('data', onData);
  child.stderr.on('data', onData);
  return new Promise((resolvePromise) => {
    child.on('close', (code) => {
      log.end();
      resolvePromise({ results: parseGoTestOutput(output), code });
    });
  });
}

export async function main(argv: string[]): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: {
      upstream: { type: 'boolean', default: false },
      parallel: { type: 'string', default: '4' },
      run: { type: 'string' },
    },
  });
  const parallel = Number(values.parallel);
  if (!Number.isInteger(parallel) || parallel < 1)
    throw new Error(`--parallel must be a positive integer, not ${values.parallel}`);
  ensureSystemPackages('test');
  const target = values.upstream ? `upstream's add-on ${upstreamVersion()}` : 'this add-on';
  say(`upstream's e2e suite test/e2e/default ${upstreamVersion()} against ${target}`);
  if (!existsSync(suiteBinaryPath()))
    say("building upstream's e2e suite from its Go module (first run only: about 5 minutes)");
  build(['upstream-e2e', 'upstream-grpc-echo']);

  const name = values.upstream ? 'conformance-upstream' : 'conformance';
  const dir = join(repoRoot, '.cache', name);
  // Beside the state directory, which is removed at the end: the suite's output outlives the run.
  const logPath = join(repoRoot, '.cache', `${name}-suite.log`);
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
    mkdirSync(join(dir, 'suite'), { recursive: true });
    const t1 = performance.now();
    const { results, code } = await runSuite({
      kubeconfig: e.kubeconfig,
      parallel,
      ...(values.run ? { run: values.run } : {}),
      logPath,
      workDir: join(dir, 'suite'),
    });
    const seconds = (performance.now() - t1) / 1000;
    process.stdout.write(formatResults(results));
    const failed = results.filter((r) => r.result === 'FAIL');
    const passed = results.filter((r) => r.result === 'PASS');
    process.stdout.write(
      `\n${passed.length}/${results.length} passed against ${target} in ${seconds.toFixed(0)}s ` +
        `(-parallel ${parallel}; full output: ${logPath})\n`,
    );
    if (results.length === 0) {
      say(`the suite reported no tests (exit code ${code}); see ${logPath}`);
      return 1;
    }
    if (failed.length > 0 || code !== 0) return 1;
    return 0;
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
