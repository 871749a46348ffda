// A process running one informer (ConfigMaps of a namespace) the way the kubelet and the manager
// run theirs, for informer-stall.test.ts. It prints `{"synced":true}` once the first list is in;
// two seconds later `{"blocking":true}`, and blocks its event loop for <block-ms> (a busy wait), as
// a synchronous build did in the process that ran the kubelet; then `{"unblocked":true}`. One JSON
// line per informer event throughout.
//   node informer-stall.child.ts <kubeconfig> <namespace> <block-ms>
import { KubeConfig } from '@kubernetes/client-node';
import type { KubeObject, ResourceKind } from '../../addon/api/meta.ts';
import { KubeClient } from '../../addon/runtime/client.ts';
import { Informer } from '../../addon/runtime/informer.ts';
import { createLogger } from '../../addon/shared/log.ts';

const [kubeconfig, namespace, blockMs] = process.argv.slice(2);
if (!kubeconfig || !namespace || !blockMs)
  throw new Error('usage: informer-stall.child.ts <kubeconfig> <namespace> <block-ms>');
const configMapKind: ResourceKind = {
  group: '',
  version: 'v1',
  kind: 'ConfigMap',
  plural: 'configmaps',
  namespaced: true,
};
const kc = new KubeConfig();
kc.loadFromFile(kubeconfig);
const informer = new Informer<KubeObject>(new KubeClient(kc), configMapKind, {
  namespace,
  log: createLogger({ component: 'informer', stream: process.stderr }),
});
const say = (o: unknown): void => void process.stdout.write(`${JSON.stringify(o)}\n`);
informer.on((e) => say({ event: e.type, name: e.object.metadata.name }));
informer.start();
await informer.synced;
say({ synced: true });

// Two seconds on, its watch is open and quiet: then the event loop is blocked.
setTimeout(() => {
  say({ blocking: true });
  const until = Date.now() + Number(blockMs);
  while (Date.now() < until); // the stall itself: nothing else in this process runs meanwhile
  say({ unblocked: true });
}, 2_000);
