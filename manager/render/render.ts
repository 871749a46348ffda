// What the manager installs, as objects: the add-on for one AddonConfig, the EnvoyFilter for a set
// of hosts, and the manager itself. Everything comes from manifests/ and crds/ through the renderer.
import type { KubeObject } from '../../addon/api/index.ts';
import type { AddonConfig } from '../addon-config.ts';
import { crd, renderTemplate } from './renderer.ts';
import {
  addonValues,
  defaultImage,
  names,
  projectVersion,
  type AddonValueOptions,
  type AddonValues,
  type EnvoyFilterValues,
  type ImageValues,
  type ManagerValues,
} from './values.ts';

export const addonCrdFiles = ['http.keda.sh_httpscaledobjects.yaml', 'http.keda.sh_interceptorroutes.yaml'];
export const kedaCrdFile = 'operator.kyma-project.io_kedas.yaml';

/** Every object of the add-on, CRDs first (so the kinds exist before anything uses them). */
export function renderAddon(config: AddonConfig, opts: AddonValueOptions): KubeObject[] {
  const values: AddonValues = addonValues(config, opts);
  const crds = addonCrdFiles.map((f) => withLabels(crd(f), values.commonLabels));
  return [
    ...crds,
    ...renderTemplate('addon/interceptor.yaml.hbs', values),
    ...renderTemplate('addon/scaler.yaml.hbs', values),
    ...renderTemplate('addon/operator.yaml.hbs', values),
    ...renderTemplate('addon/network-policies.yaml.hbs', values),
    ...(config.istioInjection ? renderTemplate('addon/istio.yaml.hbs', values) : []),
  ];
}

/**
 * Envoy virtual host names for the hosts routed by the add-on. Istio names a gateway's virtual
 * hosts `<host>:<port>`; a wildcard host (`*.example.com`) keeps its `*`, which matches a
 * VirtualService that uses the same wildcard. Duplicates and letter case are folded.
 */
export function envoyVhosts(hosts: Iterable<string>): string[] {
  const set = new Set<string>();
  for (const h of hosts) {
    const host = h.trim().toLowerCase();
    if (host === '') continue;
    set.add(`${host}:443`);
    set.add(`${host}:80`);
  }
  return [...set].sort();
}

/** The EnvoyFilter for these hosts, or nothing when there are none (an empty filter is noise). */
export function renderEnvoyFilter(config: AddonConfig, hosts: Iterable<string>): KubeObject[] {
  const vhosts = envoyVhosts(hosts);
  if (vhosts.length === 0) return [];
  const values: EnvoyFilterValues = {
    name: names.envoyFilter,
    namespace: config.envoyFilter.namespace,
    selector: config.envoyFilter.selector,
    retry: config.envoyFilter.retry,
    vhosts,
    commonLabels: addonValues(config, { owner: { namespace: '', name: '' } }).commonLabels,
  };
  return renderTemplate('envoyfilter.yaml.hbs', values);
}

/** The manager's own install: the Keda CRD, RBAC and its Deployment. */
export function renderManager(namespace: string, image: Partial<ImageValues> = {}): KubeObject[] {
  const values: ManagerValues = {
    namespace,
    version: projectVersion,
    image: image.image ?? defaultImage,
    pullPolicy: image.pullPolicy ?? 'IfNotPresent',
    commonLabels: {
      'app.kubernetes.io/part-of': 'keda-http-addon',
      'app.kubernetes.io/version': projectVersion,
    },
  };
  return [crd(kedaCrdFile), ...renderTemplate('manager.yaml.hbs', values)];
}

function withLabels(obj: KubeObject, labels: Record<string, string>): KubeObject {
  obj.metadata.labels = { ...obj.metadata.labels, ...labels };
  return obj;
}
