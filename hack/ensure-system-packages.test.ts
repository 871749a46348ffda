// hack/ensure-system-packages.sh on a machine missing a package: it runs `apt-get update` and one
// `apt-get install` with what is missing, as root; not as root it says what to install and exits 1;
// with everything there it runs apt-get not at all. apt-get and id are stand-ins that record their
// calls, and the commands it looks for are stand-ins too (the script's own logic is what runs).
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import {
  chmodSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';

const script = join(import.meta.dirname, 'ensure-system-packages.sh');

/** A PATH with the commands the script looks for, minus `missing`, and recording apt-get and id. */
function machine(opts: { missing: string[]; uid: number }): { path: string; calls: string; cleanup(): void } {
  const dir = mkdtempSync(join(tmpdir(), 'ensure-packages-'));
  const bin = join(dir, 'bin');
  const calls = join(dir, 'apt-calls');
  mkdirSync(bin);
  const stub = (name: string, body: string): void => {
    writeFileSync(join(bin, name), `#!/bin/sh\n${body}\n`);
    chmodSync(join(bin, name), 0o755);
  };
  // The script runs bash and sort; the rest it only looks for, so a stand-in marks one as there.
  for (const c of ['bash', 'sort']) {
    const which = spawnSync('bash', ['-c', `command -v ${c}`], { encoding: 'utf8' }).stdout.trim();
    symlinkSync(which, join(bin, c));
  }
  for (const c of ['openssl', 'ip', 'unshare', 'nsenter', 'mount', 'hostname', 'wrk', 'taskset']) {
    if (!opts.missing.includes(c)) stub(c, 'exit 0');
  }
  stub('apt-get', `echo "apt-get $*" >> '${calls}'`);
  stub('id', `echo ${opts.uid}`);
  return { path: bin, calls, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

function run(path: string, group: string, chromium = '/bin/sh'): { status: number | null; stderr: string } {
  const r = spawnSync(join(path, 'bash'), [script, group], {
    env: { PATH: path, CHROMIUM_PATH: chromium },
    encoding: 'utf8',
  });
  return { status: r.status, stderr: r.stderr };
}

test('as root, the missing packages are installed after one apt-get update', () => {
  const m = machine({ missing: ['wrk', 'taskset'], uid: 0 });
  try {
    const r = run(m.path, 'bench', '/nonexistent/chromium');
    assert.equal(r.status, 0, r.stderr);
    assert.deepEqual(readFileSync(m.calls, 'utf8').trim().split('\n'), [
      'apt-get update -qq',
      'apt-get install -y -qq chromium util-linux wrk',
    ]);
  } finally {
    m.cleanup();
  }
});

test('the start group asks for neither Chromium nor wrk', () => {
  const m = machine({ missing: ['wrk'], uid: 0 });
  try {
    const r = run(m.path, 'start', '/nonexistent/chromium');
    assert.equal(r.status, 0, r.stderr);
    assert.equal(existsSync(m.calls), false, 'apt-get ran although nothing start needs was missing');
  } finally {
    m.cleanup();
  }
});

test('nothing missing: apt-get is not run at all', () => {
  const m = machine({ missing: [], uid: 0 });
  try {
    const r = run(m.path, 'bench');
    assert.equal(r.status, 0, r.stderr);
    assert.equal(existsSync(m.calls), false);
  } finally {
    m.cleanup();
  }
});

test('not root: exits 1 and prints the command to run', () => {
  const m = machine({ missing: ['wrk'], uid: 1000 });
  try {
    const r = run(m.path, 'bench');
    assert.equal(r.status, 1);
    assert.match(r.stderr, /sudo apt-get update && sudo apt-get install -y wrk/);
    assert.equal(existsSync(m.calls), false);
  } finally {
    m.cleanup();
  }
});
