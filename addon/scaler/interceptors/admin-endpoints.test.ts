import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createLogger } from '../../shared/log.ts';
import { FileStore } from '../../shared/store/file-store.ts';
import { readyAdminEndpoints } from './admin-endpoints.ts';

const quiet = createLogger({ component: 'test', stream: new Writable({ write: (_c, _e, cb) => cb() }) });

test('ready addresses of the admin Service, deduplicated, with the port rule', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'admin-endpoints-'));
  const file = join(dir, 'objects.yaml');
  await writeFile(
    file,
    `
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: {name: a, namespace: keda, labels: {kubernetes.io/service-name: admin}}
ports: [{name: admin, port: 9090}]
endpoints:
  - {addresses: [10.0.0.1], conditions: {ready: true}}
  - {addresses: [10.0.0.2], conditions: {}}
  - {addresses: [10.0.0.3], conditions: {ready: false}}
  - {addresses: [10.0.0.1]}
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: {name: b, namespace: keda, labels: {kubernetes.io/service-name: admin}}
ports: [{name: metrics, port: 2223}, {name: admin, port: 19090}]
endpoints: [{addresses: ['fd00::1']}]
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: {name: c, namespace: keda, labels: {kubernetes.io/service-name: admin}}
ports: [{name: x, port: 1}, {name: y, port: 2}]
endpoints: [{addresses: [10.0.0.9]}]
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: {name: other, namespace: keda, labels: {kubernetes.io/service-name: proxy}}
ports: [{port: 8080}]
endpoints: [{addresses: [10.0.0.7]}]
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: {name: elsewhere, namespace: default, labels: {kubernetes.io/service-name: admin}}
ports: [{port: 9090}]
endpoints: [{addresses: [10.0.0.8]}]
`,
  );
  const store = new FileStore(file, quiet);
  await store.synced;
  try {
    assert.deepEqual(readyAdminEndpoints(store, { namespace: 'keda', service: 'admin', port: 9999 }), [
      '10.0.0.1:9090', // one port: the slice's
      '10.0.0.2:9090', // ready unset counts as ready
      '10.0.0.9:9999', // two unnamed ports: the configured admin port
      '[fd00::1]:19090', // the port named admin; IPv6 in brackets
    ]);
  } finally {
    await store.stop();
  }
});

test('malformed slices in a hand-written file are skipped, not fatal', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'admin-endpoints-'));
  const file = join(dir, 'objects.yaml');
  await writeFile(
    file,
    `
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: {name: bad, namespace: keda, labels: {kubernetes.io/service-name: admin}}
ports: 5
endpoints: "nope"
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: {name: odd, namespace: keda, labels: {kubernetes.io/service-name: admin}}
ports: [null, {port: 9091}]
endpoints: [null, {addresses: [7, '', 10.0.0.5]}]
`,
  );
  const store = new FileStore(file, quiet);
  await store.synced;
  try {
    assert.deepEqual(readyAdminEndpoints(store, { namespace: 'keda', service: 'admin', port: 9090 }), [
      '10.0.0.5:9091',
    ]);
  } finally {
    await store.stop();
  }
});
