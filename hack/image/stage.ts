// Stages the image the Dockerfile builds as a directory tree, without a container engine: each
// stage's instructions run against a directory standing in for its root file system (base images
// per base-images.ts, COPY from the build context filtered by .dockerignore or from an earlier
// stage, RUN `npm ...` in build stages), and the last stage's tree plus its WORKDIR, ENTRYPOINT,
// CMD, ENV and USER is the image the process kubelet runs (hack/kubelet/images.ts). Stages other
// than the last are cached by the content they depend on, as docker build caches layers, so
// `npm ci` runs again only when package.json, package-lock.json or the stage itself change.
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { cp, lstat, mkdir, readdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { join, posix, relative, resolve } from 'node:path';
import { promisify } from 'node:util';
import { baseImage } from './base-images.ts';
import { parseDockerfile, type Stage } from './dockerfile.ts';
import { isIgnored, parseDockerignore, type IgnoreRule } from './dockerignore.ts';

const repoRoot = resolve(import.meta.dirname, '../..');
const run = promisify(execFile);

/** An image staged as a directory: what a container runtime takes from an image. */
export interface StagedImage {
  /** The image's root file system. */
  rootfs: string;
  workingDir: string;
  entrypoint: string[];
  cmd: string[];
  env: Record<string, string>;
  /** The image's USER, resolved against its /etc/passwd and /etc/group. */
  user: { uid: number; gid: number };
}

type ImageConfig = Omit<StagedImage, 'rootfs' | 'user'> & { user: string };

export interface StageOptions {
  /** Where the image goes: `<dir>/rootfs` and `<dir>/image.json`, replaced on every call. */
  dir: string;
  /** The build context (default: this checkout). */
  context?: string;
  /** Default `<context>/Dockerfile`. */
  dockerfile?: string;
  /** The cache of intermediate stages (default `<this checkout>/.cache/image/stages`). */
  cacheDir?: string;
  progress?: (message: string) => void;
}

export async function stageImage(opts: StageOptions): Promise<StagedImage> {
  const context = resolve(opts.context ?? repoRoot);
  const dockerfilePath = opts.dockerfile ?? join(context, 'Dockerfile');
  const stages = parseDockerfile(readFileSync(dockerfilePath, 'utf8'), dockerfilePath);
  const ignorePath = join(context, '.dockerignore');
  const ignore = existsSync(ignorePath) ? parseDockerignore(readFileSync(ignorePath, 'utf8')) : [];
  const build = new Build(
    context,
    ignore,
    stages,
    opts.cacheDir ?? join(repoRoot, '.cache/image/stages'),
    opts.progress ?? (() => undefined),
  );
  const final = stages.at(-1) as Stage;
  const rootfs = join(resolve(opts.dir), 'rootfs');
  await rm(opts.dir, { recursive: true, force: true });
  await mkdir(rootfs, { recursive: true });
  const config = await build.run(final, rootfs);
  const image: StagedImage = { ...config, rootfs, user: await resolveUser(rootfs, config.user) };
  await writeFile(join(opts.dir, 'image.json'), `${JSON.stringify(image, null, 2)}\n`);
  return image;
}

class Build {
  readonly #context: string;
  readonly #ignore: IgnoreRule[];
  readonly #stages: Stage[];
  readonly #cacheDir: string;
  readonly #progress: (message: string) => void;
  /** Built intermediate stages: their root and the key that names their content. */
  readonly #built = new Map<number, { root: string; key: string; config: ImageConfig }>();

  constructor(
    context: string,
    ignore: IgnoreRule[],
    stages: Stage[],
    cacheDir: string,
    progress: (message: string) => void,
  ) {
    this.#context = context;
    this.#ignore = ignore;
    this.#stages = stages;
    this.#cacheDir = cacheDir;
    this.#progress = progress;
  }

  /** Runs a stage's instructions into `root`, building the stages it copies from first. */
  async run(stage: Stage, root: string): Promise<ImageConfig> {
    const from = this.#stageNamed(stage.base, stage.index);
    let config: ImageConfig;
    let runStep: ((command: string, cwd: string) => Promise<void>) | undefined;
    if (from) {
      const parent = await this.#intermediate(from);
      await cp(parent.root, root, { recursive: true, verbatimSymlinks: true });
      config = structuredClone(parent.config);
    } else {
      const base = await baseImage(stage.base);
      await base.populate(root);
      config = {
        workingDir: base.workingDir,
        entrypoint: [],
        cmd: [],
        env: { ...base.env },
        user: base.user,
      };
      runStep = base.run;
    }
    for (const step of stage.instructions) {
      const where = `Dockerfile:${step.line}`;
      switch (step.kind) {
        case 'WORKDIR':
          config.workingDir = posix.resolve(config.workingDir, step.path);
          await mkdir(join(root, config.workingDir), { recursive: true });
          break;
        case 'ENV':
          Object.assign(config.env, step.vars);
          break;
        case 'USER':
          config.user = step.user;
          break;
        case 'ENTRYPOINT':
          config.entrypoint = step.argv;
          config.cmd = []; // as docker build: a new ENTRYPOINT drops an inherited CMD
          break;
        case 'CMD':
          config.cmd = step.argv;
          break;
        case 'RUN':
          if (!runStep)
            throw new Error(`${where}: RUN in a stage from ${stage.base}, which cannot run commands`);
          this.#progress(`image stage ${stage.name ?? stage.index}: RUN ${step.command}`);
          await runStep(step.command, join(root, config.workingDir));
          break;
        case 'COPY': {
          const dest = posix.resolve(config.workingDir, step.dest);
          const intoDir = step.dest.endsWith('/') || step.sources.length > 1;
          if (step.from !== undefined) {
            const source = this.#stageNamed(step.from, stage.index);
            if (!source) throw new Error(`${where}: COPY --from=${step.from} names no earlier stage`);
            const built = await this.#intermediate(source);
            for (const s of step.sources)
              await copyInto(join(built.root, posix.resolve('/', s)), join(root, dest), intoDir, where, {
                hardLinks: true,
              });
          } else {
            for (const s of step.sources) {
              const rel = this.#contextPath(s, where);
              await copyInto(join(this.#context, rel), join(root, dest), intoDir, where, {
                ignored: (src) => isIgnored(this.#ignore, relative(this.#context, src)),
              });
            }
          }
          break;
        }
      }
    }
    return config;
  }

  /** A stage COPY --from or FROM refers to, by name or index; only earlier stages count. */
  #stageNamed(ref: string, before: number): Stage | undefined {
    return this.#stages.find((s) => s.index < before && (s.name === ref || String(s.index) === ref));
  }

  /** A context-relative source path; one outside the context or excluded by .dockerignore is an error. */
  #contextPath(source: string, where: string): string {
    const rel = posix.normalize(source).replace(/^(\.\/)+/, '');
    if (rel.startsWith('..') || posix.isAbsolute(rel))
      throw new Error(`${where}: ${source} is outside the context`);
    if (rel !== '.' && isIgnored(this.#ignore, rel))
      throw new Error(`${where}: ${source} is excluded by .dockerignore`);
    return rel;
  }

  /** An intermediate stage, from the cache when nothing it depends on changed. */
  async #intermediate(stage: Stage): Promise<{ root: string; key: string; config: ImageConfig }> {
    const done = this.#built.get(stage.index);
    if (done) return done;
    const key = await this.#key(stage);
    const label = stage.name ?? String(stage.index);
    const dir = join(this.#cacheDir, `${label}-${key}`);
    const configPath = join(dir, 'config.json');
    if (!existsSync(configPath)) {
      this.#progress(`image stage ${label}: building (cached afterwards)`);
      const tmp = `${dir}.tmp-${process.pid}`;
      await rm(tmp, { recursive: true, force: true });
      await mkdir(join(tmp, 'rootfs'), { recursive: true });
      const config = await this.run(stage, join(tmp, 'rootfs'));
      await writeFile(join(tmp, 'config.json'), JSON.stringify(config));
      await rm(dir, { recursive: true, force: true });
      await rename(tmp, dir);
      // Older builds of this stage are only ever read while staging, so they can go.
      for (const entry of await readdir(this.#cacheDir))
        if (entry.startsWith(`${label}-`) && entry !== `${label}-${key}` && !entry.includes('.tmp-'))
          await rm(join(this.#cacheDir, entry), { recursive: true, force: true });
    }
    const result = {
      root: join(dir, 'rootfs'),
      key,
      config: JSON.parse(await readFile(configPath, 'utf8')) as ImageConfig,
    };
    this.#built.set(stage.index, result);
    return result;
  }

  /** What a stage's result depends on: its base, its instructions and the content it copies. */
  async #key(stage: Stage): Promise<string> {
    const hash = createHash('sha256').update(JSON.stringify([stage.base, stage.instructions]));
    const parent = this.#stageNamed(stage.base, stage.index);
    if (parent) hash.update((await this.#intermediate(parent)).key);
    for (const step of stage.instructions) {
      if (step.kind !== 'COPY') continue;
      if (step.from !== undefined) {
        const source = this.#stageNamed(step.from, stage.index);
        if (source) hash.update((await this.#intermediate(source)).key);
        continue;
      }
      for (const s of step.sources) await this.#hashTree(join(this.#context, this.#contextPath(s, '')), hash);
    }
    return hash.digest('hex').slice(0, 16);
  }

  async #hashTree(path: string, hash: ReturnType<typeof createHash>): Promise<void> {
    const rel = relative(this.#context, path);
    if (rel !== '' && isIgnored(this.#ignore, rel)) return;
    const info = await lstat(path);
    hash.update(`${rel}\0${info.mode}\0`);
    if (info.isDirectory()) {
      for (const entry of (await readdir(path)).sort()) await this.#hashTree(join(path, entry), hash);
    } else if (info.isFile()) {
      hash.update(await readFile(path));
    }
  }
}

/**
 * COPY's rules: a directory's contents go into the destination directory; a file goes to the
 * destination path, or into it when it names a directory (`dest/`, several sources).
 * `hardLinks` (from a cached stage, which nothing writes to): `cp --archive --link`, so the
 * 100+ MB of node_modules are staged in a moment instead of copied; the staged tree is only ever
 * mounted read-only or under an overlay, so no write reaches the cache through a link.
 */
async function copyInto(
  source: string,
  dest: string,
  intoDir: boolean,
  where: string,
  opts: { ignored?: (path: string) => boolean; hardLinks?: boolean } = {},
): Promise<void> {
  const info = await stat(source).catch(() => undefined);
  if (!info) throw new Error(`${where}: COPY source ${source} does not exist`);
  const target = info.isDirectory() || !intoDir ? dest : join(dest, posix.basename(source));
  await mkdir(info.isDirectory() ? dest : posix.dirname(target), { recursive: true });
  if (opts.hardLinks) {
    await run('cp', ['--archive', '--link', '--no-target-directory', source, target]).catch(
      (err: unknown) => {
        throw new Error(`${where}: COPY ${source}: ${(err as { stderr?: string }).stderr ?? String(err)}`);
      },
    );
    return;
  }
  const ignored = opts.ignored ?? (() => false);
  await cp(source, target, { recursive: true, verbatimSymlinks: true, filter: (src) => !ignored(src) });
}

/** The home directory of a uid in the image's /etc/passwd; `/` when it has none, as runtimes default. */
export async function passwdHome(rootfs: string, uid: number): Promise<string> {
  const passwd = await readFile(join(rootfs, 'etc/passwd'), 'utf8').catch(() => '');
  const entry = passwd.split('\n').find((l) => l.split(':')[2] === String(uid));
  return entry?.split(':')[5] || '/';
}

/** USER `uid[:gid]` or `name[:group]`, looked up in the image's own /etc/passwd and /etc/group. */
export async function resolveUser(rootfs: string, user: string): Promise<{ uid: number; gid: number }> {
  const read = async (file: string): Promise<string[][]> =>
    (await readFile(join(rootfs, file), 'utf8').catch(() => ''))
      .split('\n')
      .filter((l) => l !== '')
      .map((l) => l.split(':'));
  const [u = '', g] = user.split(':');
  const passwd = await read('etc/passwd');
  const entry = passwd.find((p) => p[0] === u || p[2] === u);
  const uid = /^\d+$/.test(u) ? Number(u) : Number(entry?.[2] ?? NaN);
  if (Number.isNaN(uid)) throw new Error(`USER ${user}: no user ${u} in the image's /etc/passwd`);
  if (g === undefined) return { uid, gid: Number(entry?.[3] ?? 0) };
  const group = (await read('etc/group')).find((p) => p[0] === g);
  const gid = /^\d+$/.test(g) ? Number(g) : Number(group?.[2] ?? NaN);
  if (Number.isNaN(gid)) throw new Error(`USER ${user}: no group ${g} in the image's /etc/group`);
  return { uid, gid };
}
