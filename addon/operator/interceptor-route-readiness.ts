// Whether an InterceptorRoute can actually serve: upstream stamps Ready=True on every route; we check
// what the interceptor will need at request time and say precisely what is missing.
// Pure: the caller supplies lookups, so this is tested without a cluster.
import type { ConditionStatus, KubeObject } from '../api/meta.ts';
import { responseBodyLabel, type InterceptorRoute, type StaticResponse } from '../api/interceptor-route.ts';

export type Service = KubeObject & {
  spec?: { ports?: { name?: string; port: number; protocol?: string }[] };
};
export type ConfigMap = KubeObject & { data?: Record<string, string>; binaryData?: Record<string, string> };

export interface ReadinessLookups {
  service(namespace: string, name: string): Service | undefined;
  configMap(namespace: string, name: string): ConfigMap | undefined;
}

export interface Readiness {
  status: ConditionStatus;
  reason: string;
  message: string;
  /** The reason of every problem found (the condition carries the first). */
  problems: string[];
}

export const readinessReasons = {
  ready: 'Reconciled',
  serviceNotFound: 'ServiceNotFound',
  portNotFound: 'ServicePortNotFound',
  fallbackNotFound: 'FallbackServiceNotFound',
  fallbackPortNotFound: 'FallbackServicePortNotFound',
  configMapNotFound: 'ConfigMapNotFound',
  configMapNotLabelled: 'ConfigMapNotLabelled',
  configMapKeyNotFound: 'ConfigMapKeyNotFound',
} as const;

const describePorts = (svc: Service): string =>
  (svc.spec?.ports ?? []).map((p) => (p.name ? `${p.name}/${p.port}` : String(p.port))).join(', ') || 'none';

export function evaluateInterceptorRoute(ir: InterceptorRoute, lookups: ReadinessLookups): Readiness {
  const ns = ir.metadata.namespace ?? '';
  const found: { reason: string; message: string }[] = [];
  const problem = (reason: string, message: string): void => void found.push({ reason, message });

  const checkService = (
    name: string,
    port: number | undefined,
    portName: string | undefined,
    field: string,
    reasons: { missing: string; port: string },
  ): void => {
    const svc = lookups.service(ns, name);
    if (!svc) {
      problem(
        reasons.missing,
        `Service "${name}" (${field}) does not exist in namespace "${ns}": create it or correct ${field}`,
      );
      return;
    }
    const ports = svc.spec?.ports ?? [];
    if (port !== undefined && !ports.some((p) => p.port === port))
      problem(
        reasons.port,
        `Service "${name}" has no port ${port} (its ports: ${describePorts(svc)}): correct the port in ${field}`,
      );
    if (portName !== undefined && !ports.some((p) => p.name === portName))
      problem(
        reasons.port,
        `Service "${name}" has no port named "${portName}" (its ports: ${describePorts(svc)}): correct the portName in ${field}`,
      );
  };

  const t = ir.spec.target;
  checkService(t.service, t.port, t.portName, 'spec.target', {
    missing: readinessReasons.serviceNotFound,
    port: readinessReasons.portNotFound,
  });
  const fb = ir.spec.coldStart?.fallback?.service;
  if (fb)
    checkService(fb.name, fb.port, fb.portName, 'spec.coldStart.fallback.service', {
      missing: readinessReasons.fallbackNotFound,
      port: readinessReasons.fallbackPortNotFound,
    });

  const checkBody = (response: StaticResponse | undefined, field: string): void => {
    const ref = response?.bodyFromConfigMap;
    if (!ref) return;
    const cm = lookups.configMap(ns, ref.name);
    if (!cm) {
      problem(
        readinessReasons.configMapNotFound,
        `ConfigMap "${ref.name}" (${field}.bodyFromConfigMap) does not exist in namespace "${ns}": create it with the label ${responseBodyLabel}=true`,
      );
      return;
    }
    if (cm.metadata.labels?.[responseBodyLabel] !== 'true') {
      problem(
        readinessReasons.configMapNotLabelled,
        `ConfigMap "${ref.name}" (${field}.bodyFromConfigMap) lacks the label ${responseBodyLabel}=true, so the interceptor cannot read it: kubectl label configmap ${ref.name} -n ${ns} ${responseBodyLabel}=true`,
      );
      return;
    }
    if (ref.key !== undefined && !(ref.key in (cm.data ?? {})) && !(ref.key in (cm.binaryData ?? {})))
      problem(
        readinessReasons.configMapKeyNotFound,
        `ConfigMap "${ref.name}" has no key "${ref.key}" (${field}.bodyFromConfigMap.key): add it or correct the key`,
      );
  };
  checkBody(ir.spec.coldStart?.placeholder?.response, 'spec.coldStart.placeholder.response');
  (ir.spec.staticRoutes ?? []).forEach((r, i) => checkBody(r.response, `spec.staticRoutes[${i}].response`));

  const first = found[0];
  if (!first)
    return {
      status: 'True',
      reason: readinessReasons.ready,
      message: 'InterceptorRoute reconciled',
      problems: [],
    };
  return {
    status: 'False',
    reason: first.reason,
    message: found.map((f) => f.message).join('; '),
    problems: found.map((f) => f.reason),
  };
}

/** The Services and ConfigMaps a route refers to, to find the routes affected by a change. */
export function referencedNames(ir: InterceptorRoute): { services: string[]; configMaps: string[] } {
  const services = [ir.spec.target.service];
  const fb = ir.spec.coldStart?.fallback?.service.name;
  if (fb) services.push(fb);
  const configMaps: string[] = [];
  const ph = ir.spec.coldStart?.placeholder?.response.bodyFromConfigMap?.name;
  if (ph) configMaps.push(ph);
  for (const r of ir.spec.staticRoutes ?? [])
    if (r.response.bodyFromConfigMap) configMaps.push(r.response.bodyFromConfigMap.name);
  return { services, configMaps };
}
