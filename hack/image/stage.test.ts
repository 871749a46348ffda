import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { mkdir, rm, stat, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { parseDockerfile } from './dockerfile.ts';
import { isIgnored, parseDockerignore } from './dockerignore.ts';
import { stageImage } from './stage.ts';

const repoRoot = resolve(import.meta.dirname, '../..');

test("this repository's Dockerfile reads as a build stage and a runtime stage", () => {
  const stages = parseDockerfile(readFileSync(join(repoRoot, 'Dockerfile'), 'utf8'));
  assert.equal(stages.length, 2);
  const [deps, runtime] = stages;
  assert.equal(deps?.name, 'deps');
  assert.ok(deps?.instructions.some((i) => i.kind === 'RUN' && /^npm ci\b.*--omit=dev/.test(i.command)));
  assert.match(runtime?.base ?? '', /^gcr\.io\/distroless\/nodejs24/);
  assert.ok(runtime?.instructions.some((i) => i.kind === 'COPY' && i.from === 'deps'));
  assert.ok(runtime?.instructions.some((i) => i.kind === 'ENTRYPOINT'));
});

test('Dockerfile syntax the stager cannot honour is an error naming the line, never skipped', () => {
  const parse = (text: string): unknown => parseDockerfile(text, 'Dockerfile');
  assert.throws(
    () => parse('FROM node:24\nADD x /x\n'),
    /Dockerfile:2: ADD x \/x: this instruction is not supported/,
  );
  assert.throws(() => parse('FROM node:24\nENTRYPOINT node x.ts\n'), /Dockerfile:2: .*exec form/);
  assert.throws(() => parse('FROM node:24\nCOPY src/*.ts /app/\n'), /Dockerfile:2: .*wildcards/);
  assert.throws(() => parse('FROM node:24\nCOPY --chown=1:1 a /a\n'), /Dockerfile:2: .*--chown=1:1/);
  assert.throws(() => parse('WORKDIR /app\n'), /Dockerfile:1: .*before the first FROM/);
  // Continuation lines, comments inside them and ENV forms.
  const [stage] = parseDockerfile(
    'FROM node:24 AS b\n# c\nRUN npm ci \\\n  # inside\n  --omit=dev\nENV A=1 B="two words"\nENV C three\n',
  );
  assert.deepEqual(
    stage?.instructions.map((i) => (i.kind === 'RUN' ? i.command : i.kind === 'ENV' ? i.vars : i.kind)),
    ['npm ci --omit=dev', { A: '1', B: 'two words' }, { C: 'three' }],
  );
});

test('.dockerignore: directories exclude what is under them, ** spans directories, ! re-includes', () => {
  const rules = parseDockerignore('# c\nhack\n**/*.test.ts\n**/testing\n!keep/x.test.ts\n');
  assert.equal(isIgnored(rules, 'hack'), true);
  assert.equal(isIgnored(rules, 'hack/kubelet/kubelet.ts'), true);
  assert.equal(isIgnored(rules, 'hackers.ts'), false);
  assert.equal(isIgnored(rules, 'x.test.ts'), true);
  assert.equal(isIgnored(rules, 'addon/interceptor/proxy.test.ts'), true);
  assert.equal(isIgnored(rules, 'addon/interceptor/proxy.ts'), false);
  assert.equal(isIgnored(rules, 'addon/testing/fake.ts'), true);
  assert.equal(isIgnored(rules, 'keep/x.test.ts'), false);
});

describe('staging a Dockerfile without a container engine', () => {
  const dir = join(repoRoot, '.cache', `stage-test-${process.pid}`);
  const context = join(dir, 'context');
  const cacheDir = join(dir, 'cache');

  before(async () => {
    await mkdir(join(context, 'src/lib'), { recursive: true });
    await writeFile(join(context, 'src/main.js'), 'console.log("main")\n');
    await writeFile(join(context, 'src/lib/util.js'), 'export {}\n');
    await writeFile(join(context, 'src/lib/util.test.js'), 'a test\n');
    await writeFile(join(context, 'src/run.sh'), '#!/bin/sh\n', { mode: 0o755 });
    await writeFile(join(context, 'config.json'), '{}\n');
    await writeFile(join(context, 'notes.md'), 'not in the image\n');
    await writeFile(join(context, '.dockerignore'), '**/*.test.js\nnotes.md\n');
  });
  after(() => rm(dir, { recursive: true, force: true }));

  const stage = async (
    dockerfile: string,
    progress: string[] = [],
  ): Promise<Awaited<ReturnType<typeof stageImage>>> => {
    await writeFile(join(context, 'Dockerfile'), dockerfile);
    return stageImage({ dir: join(dir, 'image'), context, cacheDir, progress: (m) => progress.push(m) });
  };

  test('the last stage is the image: its files as COPY puts them, its WORKDIR, ENTRYPOINT, ENV and USER', async () => {
    const built: string[] = [];
    const dockerfile = [
      'FROM node:24-bookworm-slim AS files',
      'WORKDIR /out',
      'COPY config.json ./',
      'FROM gcr.io/distroless/nodejs24-debian12:nonroot',
      'WORKDIR /app',
      'COPY --from=files /out/config.json ./etc/config.json',
      'COPY src ./src',
      'USER 65532:65532',
      'ENV MODE=production',
      'ENTRYPOINT ["/nodejs/bin/node", "src/main.js"]',
      'CMD ["serve"]',
    ].join('\n');
    const image = await stage(dockerfile, built);
    const rootfs = image.rootfs;
    assert.deepEqual(
      { ...image, rootfs: undefined },
      {
        rootfs: undefined,
        workingDir: '/app',
        entrypoint: ['/nodejs/bin/node', 'src/main.js'],
        cmd: ['serve'],
        env: {
          PATH: '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin',
          SSL_CERT_FILE: '/etc/ssl/certs/ca-certificates.crt',
          MODE: 'production',
        },
        user: { uid: 65532, gid: 65532 },
      },
    );
    assert.ok(existsSync(join(rootfs, 'app/src/main.js')));
    assert.ok(existsSync(join(rootfs, 'app/src/lib/util.js')));
    assert.equal(existsSync(join(rootfs, 'app/src/lib/util.test.js')), false, '.dockerignore applies');
    assert.equal((await stat(join(rootfs, 'app/src/run.sh'))).mode & 0o777, 0o755, 'modes are kept');
    assert.ok(existsSync(join(rootfs, 'app/etc/config.json')), 'COPY --from an earlier stage');
    assert.equal(existsSync(join(rootfs, 'app/config.json')), false, 'only what is copied');
    assert.ok(existsSync(join(rootfs, 'nodejs/bin/node')), "the base image's Node");
    assert.ok(built.some((m) => /stage files: building/.test(m)));

    // Nothing the build stage depends on changed: it comes from the cache.
    const again: string[] = [];
    await stage(dockerfile, again);
    assert.equal(again.filter((m) => /building/.test(m)).length, 0, again.join('; '));
    await writeFile(join(context, 'config.json'), '{"changed":true}\n');
    const changed: string[] = [];
    const restaged = await stage(dockerfile, changed);
    assert.ok(
      changed.some((m) => /stage files: building/.test(m)),
      'a changed source rebuilds the stage',
    );
    assert.equal(readFileSync(join(restaged.rootfs, 'app/etc/config.json'), 'utf8'), '{"changed":true}\n');
  });

  test('what the image cannot have is an error: an ignored source, RUN without a shell, an unknown base', async () => {
    const base = 'FROM gcr.io/distroless/nodejs24-debian12:nonroot\nWORKDIR /app\n';
    await assert.rejects(
      stage(`${base}COPY notes.md ./\n`),
      /Dockerfile:3: notes.md is excluded by .dockerignore/,
    );
    await assert.rejects(stage(`${base}COPY missing.txt ./\n`), /COPY source .*missing.txt does not exist/);
    await assert.rejects(
      stage(`${base}RUN npm ci\n`),
      /Dockerfile:3: RUN in a stage from .*cannot run commands/,
    );
    await assert.rejects(stage('FROM alpine:3\n'), /cannot stand in base image alpine:3/);
    await assert.rejects(stage('FROM node:24 AS b\nRUN rm -rf /\n'), /runs only plain `npm \.\.\.` commands/);
  });
});
