// npm run cluster:up | cluster:down [-- --purge] | node hack/cluster.ts status
// Starts or stops the local control plane in .cache/local-cluster (override with --dir).
import { parseFlags } from '../addon/shared/config.ts';
import { LocalCluster } from './cluster/control-plane.ts';

const { flags, positionals } = parseFlags(process.argv.slice(2), { dir: 'string', purge: 'boolean' });
const cluster = new LocalCluster(typeof flags.dir === 'string' ? flags.dir : undefined);
const command = positionals[0] ?? 'up';

try {
  if (command === 'up') {
    const t0 = performance.now();
    const info = await cluster.up();
    console.log(`control plane ready at ${info.server} in ${((performance.now() - t0) / 1000).toFixed(1)}s`);
    console.log(`  export KUBECONFIG=${info.kubeconfigPath}`);
    console.log('  kubectl get ns');
    console.log('  npm run cluster:down   # stop it (add -- --purge to also delete its state)');
  } else if (command === 'down') {
    await cluster.down({ purge: flags.purge === true });
  } else if (command === 'status') {
    console.log(JSON.stringify(cluster.status(), null, 2));
  } else {
    console.error(`unknown command "${command}": use up, down or status`);
    process.exitCode = 2;
  }
} catch (err) {
  console.error(`cluster ${command} failed: ${err instanceof Error ? err.message : String(err)}`);
  process.exitCode = 1;
}
