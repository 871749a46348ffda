import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, writeFile, rename } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { FileStore, parseObjects } from './file-store.ts';
import { createLogger } from '../log.ts';

const quiet = createLogger({ component: 'test', stream: new Writable({ write: (_c, _e, cb) => cb() }) });

test('parseObjects keeps the store kinds, defaults the namespace and skips other kinds', () => {
  const objs = parseObjects(`
apiVersion: v1
kind: Service
metadata: {name: app}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: ignored}
---
apiVersion: http.keda.sh/v1beta1
kind: InterceptorRoute
metadata: {name: r, namespace: team}
`);
  assert.deepEqual(
    objs.map((o) => `${o.kind} ${o.metadata.namespace}/${o.metadata.name}`),
    ['Service default/app', 'InterceptorRoute team/r'],
  );
});

test('parseObjects names the document that is broken', () => {
  assert.throws(
    () => parseObjects('kind: Service\nmetadata: {}\n', 'f.yaml'),
    /f\.yaml: document 1 \(Service\) has no metadata\.name/,
  );
  assert.throws(() => parseObjects('a: [\n', 'f.yaml'), /f\.yaml: document 1/);
});

test('FileStore loads, follows a replaced file and keeps the last good view on a bad edit', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'filestore-'));
  const path = join(dir, 'objects.yaml');
  await writeFile(path, 'apiVersion: v1\nkind: Service\nmetadata: {name: a}\n');
  const store = new FileStore(path, quiet);
  await store.synced;
  assert.equal(store.list('Service').length, 1);

  const seen = new Promise<void>((resolve) => {
    const off = store.onChange((kind) => {
      if (kind === 'Service' && store.list('Service').length === 2) {
        off();
        resolve();
      }
    });
  });
  await writeFile(
    `${path}.tmp`,
    'apiVersion: v1\nkind: Service\nmetadata: {name: a}\n---\napiVersion: v1\nkind: Service\nmetadata: {name: b}\n',
  );
  await rename(`${path}.tmp`, path);
  await seen;
  assert.ok(store.get('Service', 'default', 'b'));

  await writeFile(path, 'kind: Service\nmetadata: {}\n');
  await store.reload();
  assert.equal(store.list('Service').length, 2, 'a broken file keeps the last good objects');
  await store.stop();
});

test('FileStore fails to start on a missing file', async () => {
  const store = new FileStore('/nonexistent/objects.yaml', quiet);
  await assert.rejects(store.synced, /ENOENT/);
});

test('FileStore reads a change as it is written, even while writes go on, and reports only a file that stays broken', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'filestore-'));
  const path = join(dir, 'objects.yaml');
  const svc = (...names: string[]): string =>
    names.map((n) => `apiVersion: v1\nkind: Service\nmetadata: {name: ${n}}\n`).join('---\n');
  const errors: string[] = [];
  const log = createLogger({
    component: 'test',
    stream: new Writable({
      write: (c: Buffer, _e, cb) => {
        const line = JSON.parse(c.toString()) as { level: string; message: string };
        if (line.level === 'error') errors.push(line.message);
        cb();
      },
    }),
  });
  const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
  await writeFile(path, svc('a'));
  const store = new FileStore(path, log);
  await store.synced;
  try {
    // Rewrites every 20 ms keep a trailing-only debounce from ever firing; the first one is read at once.
    let seenDuringWrites = false;
    for (let i = 0; i < 15; i++) {
      await writeFile(`${path}.tmp`, svc('a', 'b'));
      await rename(`${path}.tmp`, path);
      await sleep(20);
      if (store.get('Service', 'default', 'b')) seenDuringWrites = true;
    }
    assert.ok(seenDuringWrites, 'the change was read while the writes went on');

    // A half-written file that is completed within the debounce is never reported.
    await writeFile(path, 'kind: Service\nmetadata: {}\n');
    await sleep(10);
    await writeFile(path, svc('a', 'b', 'c'));
    await sleep(200);
    assert.ok(store.get('Service', 'default', 'c'));
    assert.deepEqual(errors, []);

    // One that stays broken is reported, and the last good view stays.
    await writeFile(path, 'kind: Service\nmetadata: {}\n');
    await sleep(200);
    assert.deepEqual(errors, ['could not reload objects file; keeping the last good version']);
    assert.equal(store.list('Service').length, 3);
  } finally {
    await store.stop();
  }
});
