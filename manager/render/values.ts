// The one typed values object the templates in manifests/ are rendered with. Everything the
// templates need is computed here, so the templates stay free of logic.
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import type { AddonConfig, AddonLogLevel, ContainerResources, RetryPolicy } from '../addon-config.ts';

const pkg = JSON.parse(readFileSync(resolve(import.meta.dirname, '../../package.json'), 'utf8')) as {
  version: string;
};

/** This project's version; the add-on and the manager are released together. */
export const projectVersion = pkg.version;
export const defaultImage = `ghcr.io/keda-http/keda-http-addon:${projectVersion}`;

/** Upstream's name prefix; Services keep upstream's names so ingress configs carry over. */
export const namePrefix = 'keda-add-ons-http';

export const names = {
  interceptor: `${namePrefix}-interceptor`,
  interceptorProxy: `${namePrefix}-interceptor-proxy`,
  interceptorAdmin: `${namePrefix}-interceptor-admin`,
  interceptorMetrics: `${namePrefix}-interceptor-metrics`,
  scaler: `${namePrefix}-external-scaler`,
  operator: `${namePrefix}-operator`,
  operatorMetrics: `${namePrefix}-operator-metrics`,
  peerAuthentication: `${namePrefix}-envoy-metrics`,
  envoyFilter: `${namePrefix}-cold-start-retry`,
} as const;

/** Labels on every object the manager applies; `managedBy` is also how the inventory is checked. */
export const managedByLabel = 'app.kubernetes.io/managed-by';
export const managedByValue = 'keda-http-manager';

export interface ImageValues {
  image: string;
  pullPolicy: 'Always' | 'IfNotPresent' | 'Never';
}

export interface AddonValues extends ImageValues {
  namespace: string;
  version: string;
  names: typeof names;
  commonLabels: Record<string, string>;
  istio: { injection: boolean; injectAnnotation: 'true' | 'false' };
  /**
   * Where KEDA's operator runs: the scaler only accepts gRPC from there (NetworkPolicy). Unknown:
   * KEDA's operator pods in any namespace are admitted (never an empty namespace selector).
   * Always present (empty when unknown): the templates are compiled strict.
   */
  kedaNamespace: string;
  interceptorReplicas: { min: number; max: number };
  resources: { interceptor: ContainerResources; scaler: ContainerResources; operator: ContainerResources };
  /** Empty: no LOG_LEVEL is rendered. */
  logLevel: AddonLogLevel | '';
  /** The Keda object this install belongs to. */
  owner: { namespace: string; name: string };
  /** The three services, for the policies every one of them gets. */
  components: { short: string; instance: string }[];
}

export interface AddonValueOptions extends Partial<ImageValues> {
  kedaNamespace?: string;
  owner: { namespace: string; name: string };
}

export function addonValues(config: AddonConfig, opts: AddonValueOptions): AddonValues {
  return {
    namespace: config.namespace,
    version: projectVersion,
    image: opts.image ?? defaultImage,
    pullPolicy: opts.pullPolicy ?? 'IfNotPresent',
    names,
    commonLabels: {
      'app.kubernetes.io/part-of': 'keda-http-addon',
      [managedByLabel]: managedByValue,
      'app.kubernetes.io/version': projectVersion,
      'kyma-project.io/module': 'keda',
    },
    istio: { injection: config.istioInjection, injectAnnotation: config.istioInjection ? 'true' : 'false' },
    kedaNamespace: opts.kedaNamespace ?? '',
    interceptorReplicas: config.interceptorReplicas,
    resources: config.resources,
    logLevel: config.logLevel ?? '',
    owner: opts.owner,
    components: [
      { short: 'interceptor', instance: 'interceptor' },
      { short: 'scaler', instance: 'external-scaler' },
      { short: 'operator', instance: 'operator' },
    ],
  };
}

export interface EnvoyFilterValues {
  name: string;
  namespace: string;
  selector: Record<string, string>;
  retry: RetryPolicy;
  /** Envoy virtual host names, `<host>:443` and `<host>:80` for each host. */
  vhosts: string[];
  commonLabels: Record<string, string>;
}

export interface ManagerValues extends ImageValues {
  namespace: string;
  version: string;
  commonLabels: Record<string, string>;
}
