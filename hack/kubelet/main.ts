// Runs the process kubelet in the foreground for a local control plane (the demo, debugging):
//   node hack/kubelet/main.ts [--kubeconfig <path>] [--state-dir <dir>] [--node-name <name>]
// Defaults: the cluster `npm run cluster:up` starts (.cache/local-cluster). Ctrl-C stops its pods.
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { createLogger } from '../../addon/shared/log.ts';
import { startKubelet } from './kubelet.ts';

const { values } = parseArgs({
  options: {
    kubeconfig: { type: 'string' },
    'state-dir': { type: 'string' },
    'node-name': { type: 'string' },
  },
});
const stateDir = resolve(values['state-dir'] ?? resolve(import.meta.dirname, '../../.cache/local-cluster'));
const kubelet = await startKubelet({
  kubeconfig: values.kubeconfig ?? resolve(stateDir, 'kubeconfig'),
  stateDir,
  nodeName: values['node-name'],
  log: createLogger({ component: 'kubelet', format: 'console' }),
});
let stopping = false;
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.on(signal, () => {
    if (stopping) process.exit(1);
    stopping = true;
    void kubelet.stop().then(() => process.exit(0));
  });
}
