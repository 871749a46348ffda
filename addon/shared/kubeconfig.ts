// The kubeconfig from the usual places, for everything that talks to the API server. Its own module:
// @kubernetes/client-node is large (tens of MB of heap once loaded), and services started with
// --from-file never need it.
import { KubeConfig } from '@kubernetes/client-node';
import { ConfigError } from './config.ts';

/** --kubeconfig, else $KUBECONFIG, ~/.kube/config or the in-cluster service account. */
export function loadKubeConfig(path?: string): KubeConfig {
  const kc = new KubeConfig();
  if (path) kc.loadFromFile(path);
  else kc.loadFromDefault();
  if (!kc.getCurrentCluster()) {
    throw new ConfigError([
      'no Kubernetes cluster configured: pass --kubeconfig, set KUBECONFIG, or run in a Pod with a service account',
    ]);
  }
  return kc;
}
