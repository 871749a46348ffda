// How the process kubelet builds a container's command and environment from the pod spec.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { expand, fieldValue } from './env.ts';
import { imageCommand } from './images.ts';
import type { Pod } from './types.ts';

const pod: Pod = {
  apiVersion: 'v1',
  kind: 'Pod',
  metadata: { name: 'p', namespace: 'ns', uid: 'u1', labels: { app: 'a' }, annotations: { 'x/y': 'z' } },
  spec: { nodeName: 'n', serviceAccountName: 'sa', containers: [] },
  status: { podIP: '10.200.0.9', podIPs: [{ ip: '10.200.0.9' }], hostIP: '10.200.0.1' },
};

test('downward-API field paths', () => {
  assert.equal(fieldValue(pod, 'metadata.name'), 'p');
  assert.equal(fieldValue(pod, 'metadata.namespace'), 'ns');
  assert.equal(fieldValue(pod, 'metadata.uid'), 'u1');
  assert.equal(fieldValue(pod, "metadata.labels['app']"), 'a');
  assert.equal(fieldValue(pod, "metadata.annotations['x/y']"), 'z');
  assert.equal(fieldValue(pod, 'spec.nodeName'), 'n');
  assert.equal(fieldValue(pod, 'spec.serviceAccountName'), 'sa');
  assert.equal(fieldValue(pod, 'status.podIP'), '10.200.0.9');
  assert.equal(fieldValue(pod, 'status.hostIP'), '10.200.0.1');
  assert.throws(() => fieldValue(pod, 'spec.nope'), /unsupported downward-API fieldPath spec.nope/);
});

test('$(VAR) expands earlier variables; $$ escapes; unknown names stay', () => {
  assert.equal(expand('http://$(HOST):$(PORT)/', { HOST: 'h', PORT: '1' }), 'http://h:1/');
  assert.equal(expand('$$(HOST) $(NOPE)', { HOST: 'h' }), '$(HOST) $(NOPE)');
});

test('the project image runs bin/keda-http.ts with the container args', () => {
  const r = imageCommand(
    { name: 'c', image: 'ghcr.io/keda-http/keda-http-addon:0.1.0', args: ['scaler'] },
    '10.0.0.1',
    'node',
  );
  assert.ok('argv' in r);
  assert.equal(r.argv[0], 'node');
  assert.match(r.argv[1] ?? '', /bin\/keda-http\.ts$/);
  assert.deepEqual(r.argv.slice(2), ['scaler']);
  const cmd = imageCommand(
    {
      name: 'c',
      image: 'ghcr.io/keda-http/keda-http-addon:0.1.0',
      command: ['/keda-http', 'interceptor'],
      args: ['--x'],
    },
    '10.0.0.1',
    'node',
  );
  assert.ok('argv' in cmd);
  assert.deepEqual(cmd.argv.slice(2), ['interceptor', '--x']);
});

test('the echo image runs hack/apps/echo.ts; unknown images are refused with the known ones listed', () => {
  const r = imageCommand({ name: 'c', image: 'keda-http-test/echo:1' }, '10.0.0.1', 'node');
  assert.ok('argv' in r);
  assert.match(r.argv[1] ?? '', /hack\/apps\/echo\.ts$/);
  const bad = imageCommand({ name: 'c', image: 'nginx:1.27' }, '10.0.0.1', 'node');
  assert.ok('error' in bad);
  assert.match(bad.error, /cannot run image nginx:1.27.*keda-http-addon.*echo/);
});
