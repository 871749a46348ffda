// The image as it will run: the add-on's file layout staged exactly as the Dockerfile builds it (its
// COPY list and .dockerignore, `npm ci --omit=dev`, the base image's Node), run as the image's user
// 65532 in a read-only root that holds nothing but the image. First the image alone (it runs, and it
// fails when a file is missing, a dev dependency is needed or it writes to its file system), then
// the embedded default with the add-on's pods running from it: installed through the manager's
// annotation, a sample app scales from zero and answers 200.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { mkdir, readFile, rm, unlink } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import {
  addonCondition,
  burst,
  replicas,
  sampleApp,
  startEmbedded,
  waitFor,
  waitForRoute,
  type Embedded,
} from '../../hack/embedded.ts';
import { stageImage, type StagedImage } from '../../hack/image/stage.ts';
import { spawnSandboxed } from '../../hack/kubelet/sandbox.ts';

const repoRoot = resolve(import.meta.dirname, '../..');
const dir = resolve(repoRoot, '.cache/e2e-image-cluster');
const kedaNs = 'kyma-system';
const appNs = 'shop';
const run = promisify(execFile);

/** Runs a command in the image's read-only root as the image's user, as the kubelet runs its containers. */
async function runInImage(
  image: StagedImage,
  argv: string[],
  name: string,
): Promise<{ code: number | null; output: string }> {
  const state = join(dir, 'runs', name);
  await mkdir(join(state, 'layer'), { recursive: true });
  const logPath = join(state, 'output.log');
  const child = spawnSandboxed({
    argv,
    env: image.env,
    cwd: repoRoot,
    logPath,
    owner: state,
    root: {
      rootfs: image.rootfs,
      layerDir: join(state, 'layer'),
      workingDir: image.workingDir,
      ...image.user,
      readOnly: true,
      noNewPrivileges: true,
    },
  });
  const [code] = (await once(child, 'exit')) as [number | null];
  return { code, output: await readFile(logPath, 'utf8') };
}

/** The image with one file taken out: a hard-linked copy of the staged tree (the original stays whole). */
async function withoutFile(image: StagedImage, path: string): Promise<StagedImage> {
  const copy = join(dir, 'broken', path.replaceAll('/', '_'));
  await rm(copy, { recursive: true, force: true });
  await mkdir(copy, { recursive: true });
  await run('cp', ['--archive', '--link', '--no-target-directory', image.rootfs, join(copy, 'rootfs')]);
  await unlink(join(copy, 'rootfs', path));
  return { ...image, rootfs: join(copy, 'rootfs') };
}

const node = '/nodejs/bin/node';

/** The last lines of every add-on container's log, to tell why an install did not finish. */
async function printAddonLogs(e: Embedded, namespace: string): Promise<void> {
  const names = await e
    .kubectl(['get', 'pods', '-n', namespace, '-o', 'jsonpath={range .items[*]}{.metadata.name}{"\\n"}{end}'])
    .catch(() => '');
  for (const pod of names.split('\n').filter((p) => p.startsWith('keda-add-ons-http-'))) {
    const log = e.kubelet.logPath(namespace, pod);
    const tail =
      log && existsSync(log) ? readFileSync(log, 'utf8').trim().split('\n').slice(-4).join('\n') : '';
    process.stderr.write(`[e2e image] ${pod}:\n${tail}\n`);
  }
}

describe('the staged image on its own', { concurrency: false }, () => {
  let image: StagedImage;
  before(async () => {
    await rm(join(dir, 'runs'), { recursive: true, force: true });
    image = await stageImage({ dir: join(dir, 'image-alone') });
  });
  after(() => rm(join(dir, 'broken'), { recursive: true, force: true }));

  test('holds what the Dockerfile copies and the runtime dependencies, and nothing else', () => {
    const app = join(image.rootfs, image.workingDir);
    assert.deepEqual(readdirSync(app).sort(), [
      'addon',
      'bin',
      'crds',
      'manager',
      'manifests',
      'node_modules',
      'package.json',
    ]);
    // npm ci --omit=dev as the lockfile decides it: what only development needs (even a package the
    // project names as a dev dependency can be a runtime one's dependency) is left out.
    const lock = JSON.parse(readFileSync(join(repoRoot, 'package-lock.json'), 'utf8')) as {
      packages: Record<string, { dev?: boolean; optional?: boolean; devOptional?: boolean }>;
    };
    const packages = Object.entries(lock.packages).filter(([path]) => path !== '');
    for (const [path, entry] of packages) {
      if (entry.dev) assert.equal(existsSync(join(app, path)), false, `dev-only ${path} is not in the image`);
      else if (!entry.optional && !entry.devOptional)
        assert.ok(existsSync(join(app, path, 'package.json')), `runtime ${path} is in the image`);
    }
    for (const dev of ['node_modules/typescript', 'node_modules/node', 'node_modules/eslint'])
      assert.equal(lock.packages[dev]?.dev, true, `${dev} is a dev-only package (the check above covers it)`);
    const tests = readdirSync(app, { recursive: true }).filter((f) => String(f).endsWith('.test.ts'));
    assert.deepEqual(tests, [], '.dockerignore keeps the tests out');
    assert.deepEqual(image.entrypoint, [node, 'bin/keda-http.ts']);
    assert.deepEqual(image.user, { uid: 65532, gid: 65532 });
  });

  test('its entrypoint runs as 65532 in the read-only root: `keda-http render addon` prints the manifests', async () => {
    const r = await runInImage(image, [...image.entrypoint, 'render', 'addon'], 'render');
    assert.equal(r.code, 0, r.output);
    assert.match(r.output, /kind: Deployment/);
    assert.match(r.output, /name: keda-add-ons-http-interceptor/);
  });

  test('a file the code needs, missing from the image, makes it fail', async () => {
    const broken = await withoutFile(image, 'app/manifests/partials/pod-security.hbs');
    const r = await runInImage(broken, [...image.entrypoint, 'render', 'addon'], 'missing-file');
    assert.notEqual(r.code, 0, r.output);
    assert.match(r.output, /pod-security/);
  });

  test('a dev dependency is not there to import', async () => {
    const r = await runInImage(
      image,
      [node, '--input-type=module', '-e', "await import('typescript')"],
      'dev-dep',
    );
    assert.notEqual(r.code, 0, r.output);
    assert.match(r.output, /ERR_MODULE_NOT_FOUND|Cannot find package 'typescript'/);
  });

  test('a write to its own file system fails with EROFS', async () => {
    for (const path of ['/app/cache.json', '/tmp/scratch', '/home/nonroot/.cache']) {
      const r = await runInImage(
        image,
        [node, '-e', `require('node:fs').writeFileSync(${JSON.stringify(path)}, '{}')`],
        `write-${path.replaceAll('/', '_')}`,
      );
      assert.notEqual(r.code, 0, r.output);
      assert.match(r.output, /EROFS/, path);
    }
  });
});

describe('the add-on running from the staged image', { concurrency: false }, () => {
  let e: Embedded;
  let addonNs = kedaNs;
  before(async () => {
    e = await startEmbedded({
      dir,
      stagedImage: true,
      progress: (m) => process.stderr.write(`[e2e image] ${m}\n`),
    });
  });
  after(async () => {
    await e?.stop({ purge: true });
  });

  test("installed through the manager's annotation, its pods run from the image as 65532 with a read-only root", async () => {
    await e.kubectl([
      'annotate',
      'keda',
      'default',
      '-n',
      kedaNs,
      '--overwrite',
      'keda.kyma-project.io/addon-enabled=true',
    ]);
    await waitFor(
      'AddonInstalled=True',
      async () => {
        const c = await addonCondition(e);
        if (c.status === 'True') {
          addonNs = /namespace (\S+)$/.exec(c.message ?? '')?.[1] ?? kedaNs;
          return true;
        }
        return undefined;
      },
      240_000,
    ).catch(async (err: unknown) => {
      await printAddonLogs(e, addonNs);
      throw err;
    });
    const pods = (
      await e.kubectl([
        'get',
        'pods',
        '-n',
        addonNs,
        '-o',
        'jsonpath={range .items[*]}{.metadata.name}{"\\n"}{end}',
      ])
    )
      .split('\n')
      .filter((p) => p.startsWith('keda-add-ons-http-'));
    for (const component of ['interceptor', 'external-scaler', 'operator'])
      assert.ok(
        pods.some((p) => p.startsWith(`keda-add-ons-http-${component}-`)),
        `${component} runs: ${pods.join(', ')}`,
      );
    const rootfs = e.image?.rootfs ?? '';
    for (const pod of pods) {
      const pids = Object.values(e.kubelet.pids(addonNs, pod)).filter((p) => p !== undefined);
      assert.ok(pids.length > 0, `${pod} has a running container`);
      for (const pid of pids) {
        const status = readFileSync(`/proc/${pid}/status`, 'utf8');
        assert.match(status, /^Uid:\s+65532\s+65532\s+65532\s+65532$/m, `${pod} runs as 65532`);
        assert.match(status, /^Gid:\s+65532\s+65532\s+65532\s+65532$/m);
        // Its root is the overlay of the staged tree, read-only at the file system (the super
        // options after " - overlay <source> ": an overlay with no upper layer).
        const rootMount = readFileSync(`/proc/${pid}/mountinfo`, 'utf8')
          .split('\n')
          .find((l) => l.split(' ')[4] === '/');
        assert.match(rootMount ?? '', / - overlay container-root ro,(?!.*upperdir=)/, `${pod}: ${rootMount}`);
        assert.ok(rootMount?.includes(rootfs), `${pod}'s root is the staged tree: ${rootMount}`);
      }
    }
  });

  test('a sample app scales from zero through the interceptor from the image and answers 200', async () => {
    await e.kubectl(
      ['apply', '-f', '-'],
      sampleApp({ namespace: appNs, name: 'web', host: 'web.example.com', startupDelayMs: 1000 }),
    );
    await waitForRoute(e, addonNs, `${appNs}/web`);
    assert.equal((await replicas(e, appNs, 'web')).spec, 0, 'the app starts at zero replicas');
    const r = await burst(e, addonNs, 'web.example.com', 20);
    assert.deepEqual(r.statuses, { '200': 20 }, 'every request answered 200');
    assert.ok(r.coldStart, 'the requests waited for the cold start');
    assert.ok((await replicas(e, appNs, 'web')).spec >= 1, 'the app was scaled up');
  });
});
