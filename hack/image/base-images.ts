// The base images the Dockerfile names, as this machine can stand them in without a container engine
// or a registry. Each says what a stage starts from: its files, environment, user and working
// directory, and whether it can RUN anything.
//
// - `node:24-*` (the build stage): RUN steps run here with this checkout's Node 24 first on PATH
//   and the machine's npm; only `npm ...` commands, which act inside the stage's working directory
//   and nowhere else on this machine.
// - `gcr.io/distroless/nodejs24-debian12` (the runtime stage): what that image holds that the add-on
//   can touch: Node 24 at /nodejs/bin/node (this checkout's `node` dev dependency, node@24, the same
//   major version the image's tag names), the shared libraries that binary links (from this
//   machine), the CA bundle, /etc/passwd and /etc/group with root and nonroot (65532), nsswitch.conf,
//   /tmp, and the image's environment. No shell, no package manager, as in the image.
import { execFile } from 'node:child_process';
import { chmod, copyFile, chown, link, mkdir, readFile, writeFile } from 'node:fs/promises';
import { existsSync, realpathSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);
const repoRoot = resolve(import.meta.dirname, '../..');
/** The image's Node: the `node` dev dependency of this checkout (node@24). */
export const imageNodeBinary = join(repoRoot, 'node_modules/node/bin/node');

export interface BaseImage {
  /** Puts the base image's files into an empty stage root. */
  populate(root: string): Promise<void>;
  env: Record<string, string>;
  /** The image's default USER (`uid[:gid]` or a name in its /etc/passwd). */
  user: string;
  workingDir: string;
  /** Runs one RUN step in `cwd` (the stage's WORKDIR under its root); undefined: the image cannot. */
  run?: (command: string, cwd: string) => Promise<void>;
}

const defaultPath = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

/** `node:24`, `node:24-bookworm-slim`, ...: a build stage whose RUN steps may be `npm ...`. */
const nodeBuildImage = /^(?:docker\.io\/)?(?:library\/)?node:(\d+)(?:[.-][\w.-]*)?$/;
/** Distroless Node images; the `nonroot` tags run as 65532. */
const distrolessNodeImage = /^gcr\.io\/distroless\/nodejs(\d+)-debian\d+(?::([\w.-]+))?$/;

export async function baseImage(reference: string): Promise<BaseImage> {
  const build = nodeBuildImage.exec(reference);
  if (build) {
    await requireNodeMajor(build[1] ?? '', reference);
    return {
      populate: async () => undefined,
      env: { PATH: defaultPath },
      user: '0',
      workingDir: '/',
      run: runNpm,
    };
  }
  const distroless = distrolessNodeImage.exec(reference);
  if (distroless) {
    await requireNodeMajor(distroless[1] ?? '', reference);
    const nonroot = (distroless[2] ?? 'latest').startsWith('nonroot');
    return {
      populate: populateDistrolessNode,
      env: { PATH: defaultPath, SSL_CERT_FILE: '/etc/ssl/certs/ca-certificates.crt' },
      user: nonroot ? '65532' : '0',
      workingDir: nonroot ? '/home/nonroot' : '/',
    };
  }
  throw new Error(
    `the image stager cannot stand in base image ${reference}: it knows node:<major>[-variant] ` +
      `(build stages) and gcr.io/distroless/nodejs<major>-debian<n>[:nonroot]`,
  );
}

async function requireNodeMajor(major: string, reference: string): Promise<void> {
  const { stdout } = await run(imageNodeBinary, ['--version']);
  if (stdout.trim().split('.')[0] !== `v${major}`)
    throw new Error(
      `${reference} has Node ${major}, but this checkout's node dev dependency (${imageNodeBinary}) is ${stdout.trim()}`,
    );
}

/** RUN in a build stage: `npm <args>` only, run without a shell in the stage's working directory. */
async function runNpm(command: string, cwd: string): Promise<void> {
  const words = command.trim().split(/\s+/);
  if (words[0] !== 'npm' || /[;&|<>$`'"\\()]/.test(command))
    throw new Error(
      `RUN ${command}: the image stager runs only plain \`npm ...\` commands in build stages (there is no container engine here)`,
    );
  try {
    await run('npm', words.slice(1), {
      cwd,
      env: { ...process.env, PATH: `${dirname(imageNodeBinary)}:${process.env.PATH ?? defaultPath}` },
      maxBuffer: 64 * 1024 * 1024,
    });
  } catch (err) {
    const stderr = (err as { stderr?: string }).stderr ?? '';
    throw new Error(`RUN ${command} failed: ${stderr.trim() || (err as Error).message}`);
  }
}

async function populateDistrolessNode(root: string): Promise<void> {
  const put = async (path: string, content: string, mode = 0o644): Promise<void> => {
    await mkdir(dirname(join(root, path)), { recursive: true });
    await writeFile(join(root, path), content, { mode });
  };
  await mkdir(join(root, 'nodejs/bin'), { recursive: true });
  await linkOrCopy(imageNodeBinary, join(root, 'nodejs/bin/node'));
  for (const lib of await sharedLibraries(imageNodeBinary)) {
    await mkdir(dirname(join(root, lib)), { recursive: true });
    await copyFile(realpathSync(lib), join(root, lib));
  }
  await put(
    'etc/passwd',
    'root:x:0:0:root:/root:/sbin/nologin\nnobody:x:65534:65534:nobody:/nonexistent:/sbin/nologin\n' +
      'nonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin\n',
  );
  await put('etc/group', 'root:x:0:\nnobody:x:65534:\nnonroot:x:65532:\n');
  await put('etc/nsswitch.conf', 'passwd: files\ngroup: files\nhosts: files dns\n');
  const caBundle = '/etc/ssl/certs/ca-certificates.crt';
  await put(caBundle, existsSync(caBundle) ? await readFile(caBundle, 'utf8') : '');
  for (const [dir, mode, owner] of [
    ['tmp', 0o1777, 0],
    ['root', 0o700, 0],
    ['home/nonroot', 0o700, 65532],
  ] as const) {
    await mkdir(join(root, dir), { recursive: true });
    await chmod(join(root, dir), mode);
    await chown(join(root, dir), owner, owner);
  }
}

/** The absolute paths of the shared libraries (and the loader) a dynamically linked binary needs. */
async function sharedLibraries(binary: string): Promise<string[]> {
  const { stdout } = await run('ldd', [binary]);
  return [...stdout.matchAll(/(?:=>\s*)?(\/\S+)\s+\(0x/g)].map((m) => m[1] ?? '').filter((p) => p !== '');
}

/** A hard link when both paths are on one file system (the binary is 120 MB), else a copy. */
async function linkOrCopy(source: string, target: string): Promise<void> {
  try {
    await link(source, target);
  } catch {
    await copyFile(source, target);
  }
}
