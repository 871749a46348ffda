// A process running one informer (ConfigMaps of a namespace) the way the kubelet and the manager
// run theirs, for informer-stall.test.ts. It prints `{"synced":true}` and then one JSON line per
// informer event; a line `block <ms>` on stdin busy-waits the event loop that long, as a
// synchronous child-process build did in the process that also ran the kubelet.
//   node informer-stall.child.ts <kubeconfig> <namespace>
import { createInterface } from 'node:readline';
import { KubeConfig } from '@kubernetes/client-node';
import type { KubeObject, ResourceKind } from '../../addon/api/meta.ts';
import { KubeClient } from '../../addon/runtime/client.ts';
import { Informer } from '../../addon/runtime/informer.ts';
import { createLogger } from '../../addon/shared/log.ts';

const [kubeconfig, namespace] = process.argv.slice(2);
if (!kubeconfig || !namespace) throw new Error('usage: informer-stall.child.ts <kubeconfig> <namespace>');
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

for await (const line of createInterface({ input: process.stdin })) {
  const m = /^block (\d+)$/.exec(line.trim());
  if (!m) continue;
  const until = Date.now() + Number(m[1]);
  while (Date.now() < until); // the stall itself: nothing else in this process runs meanwhile
  say({ unblocked: true });
}
await informer.stop();
