// ClusterStore against the real API server: the same interface the file store offers, kept current
// by informers, restricted by namespace and label selector as the services configure it.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { ClusterStore } from '../../addon/runtime/cluster-store.ts';
import { createLogger } from '../../addon/shared/log.ts';
import { testCluster } from '../harness/cluster.ts';
import { eventually } from '../harness/eventually.ts';

const quiet = createLogger({ component: 'test', stream: new Writable({ write: (_c, _e, cb) => cb() }) });

test('ClusterStore lists, gets and announces changes of the kinds it watches', async (t) => {
  const c = await testCluster();
  const ns = await c.freshNamespace(t);
  await c.kubectlOk(['create', 'configmap', 'labelled', '-n', ns, '--from-literal=body=hi']);
  await c.kubectlOk(['label', 'configmap', 'labelled', '-n', ns, 'http.keda.sh/response-body=true']);
  await c.kubectlOk(['create', 'configmap', 'unlabelled', '-n', ns, '--from-literal=body=no']);

  const store = new ClusterStore({
    log: quiet,
    kinds: ['Service', 'ConfigMap', 'InterceptorRoute'],
    namespace: ns,
    kubeconfigPath: c.kubeconfigPath,
    labelSelectors: { ConfigMap: 'http.keda.sh/response-body=true' },
  });
  t.after(() => store.stop());
  await store.synced;
  assert.deepEqual(
    store.list('ConfigMap').map((o) => o.metadata.name),
    ['labelled'],
    'only labelled ConfigMaps are cached',
  );

  const changed: string[] = [];
  store.onChange((kind) => changed.push(kind));
  await c.kubectlOk(['create', 'service', 'clusterip', 'app', '-n', ns, '--tcp=8080:8080']);
  await eventually('the new Service in the store', () => store.get('Service', ns, 'app'));
  assert.ok(changed.includes('Service'));
  assert.equal(store.list('Service', ns).length, 1);

  await c.kubectlOk(['delete', 'service', 'app', '-n', ns]);
  await eventually('the Service gone from the store', () =>
    store.get('Service', ns, 'app') ? undefined : true,
  );
});
