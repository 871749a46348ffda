// Users' objects that send traffic or KEDA's queries to the add-on's Services in a namespace where
// the add-on does not run (after a namespace move, or a typo). The manager does not rewrite them:
// they belong to their authors and often to a GitOps repository that would put the old value back.
// It names each one instead, so a move never breaks traffic silently.
import type { KubeObject } from '../addon/api/index.ts';
import { names } from './render/values.ts';

export interface StaleReference {
  object: KubeObject;
  /** What in it points where, e.g. "backend Service keda-add-ons-http-interceptor-proxy in old-ns". */
  what: string;
  /** The namespace it points at. */
  namespace: string;
}

type Any = Record<string, unknown>;
const obj = (v: unknown): Any => (typeof v === 'object' && v !== null ? (v as Any) : {});
const arr = (v: unknown): unknown[] => (Array.isArray(v) ? v : []);
const str = (v: unknown): string | undefined => (typeof v === 'string' ? v : undefined);
const nsOf = (o: KubeObject): string => o.metadata.namespace ?? 'default';

/**
 * `service.namespace[.svc[.cluster.local]][:port]` or a short `service` (resolved in `home`):
 * the service and namespace it names, or undefined when it is not a Service address.
 */
export function serviceAddress(
  address: string,
  home: string,
): { service: string; namespace: string } | undefined {
  const host = address.replace(/^[a-z]+:\/\//, '').replace(/:\d+$/, '');
  const parts = host.split('.');
  const [service, namespace, third] = parts;
  if (!service) return undefined;
  if (parts.length === 1) return { service, namespace: home };
  if (!namespace || (third !== undefined && third !== 'svc')) return undefined;
  return { service, namespace };
}

/** A ScaledObject the user made that asks the add-on's scaler (not one the add-on's operator owns). */
function scaledObjectRefs(so: KubeObject, addonNs: string): StaleReference[] {
  const owners = arr(obj(so.metadata).ownerReferences).map(obj);
  if (owners.some((o) => o.kind === 'HTTPScaledObject' && str(o.apiVersion)?.startsWith('http.keda.sh/')))
    return [];
  const out: StaleReference[] = [];
  for (const t of arr(obj(so.spec).triggers).map(obj)) {
    if (t.type !== 'external' && t.type !== 'external-push') continue;
    const address = str(obj(t.metadata).scalerAddress);
    const target = address ? serviceAddress(address, nsOf(so)) : undefined;
    if (target?.service === names.scaler && target.namespace !== addonNs) {
      out.push({ object: so, what: `scalerAddress ${address}`, namespace: target.namespace });
    }
  }
  return out;
}

/** An Ingress in another namespace with the interceptor's Service as a backend (same-namespace only). */
function ingressRefs(ing: KubeObject, addonNs: string): StaleReference[] {
  if (nsOf(ing) === addonNs) return [];
  const spec = obj(ing.spec);
  const backends = [
    obj(spec.defaultBackend),
    ...arr(spec.rules).flatMap((r) => arr(obj(obj(r).http).paths).map((p) => obj(obj(p).backend))),
  ];
  return backends.some((b) => obj(b.service).name === names.interceptorProxy)
    ? [
        {
          object: ing,
          what: `backend Service ${names.interceptorProxy} in ${nsOf(ing)}`,
          namespace: nsOf(ing),
        },
      ]
    : [];
}

/** A Gateway API HTTPRoute whose backendRefs name the interceptor's Service elsewhere. */
function httpRouteRefs(route: KubeObject, addonNs: string): StaleReference[] {
  const out: StaleReference[] = [];
  for (const rule of arr(obj(route.spec).rules).map(obj)) {
    for (const ref of arr(rule.backendRefs).map(obj)) {
      const kind = str(ref.kind) ?? 'Service';
      const group = str(ref.group) ?? '';
      if (kind !== 'Service' || group !== '' || ref.name !== names.interceptorProxy) continue;
      const ns = str(ref.namespace) ?? nsOf(route);
      if (ns !== addonNs && !out.some((o) => o.namespace === ns)) {
        out.push({
          object: route,
          what: `backendRef Service ${names.interceptorProxy} in ${ns}`,
          namespace: ns,
        });
      }
    }
  }
  return out;
}

/** A ReferenceGrant that lets routes reach the interceptor's Service in a namespace it left. */
function referenceGrantRefs(grant: KubeObject, addonNs: string): StaleReference[] {
  if (nsOf(grant) === addonNs) return [];
  const grants = arr(obj(grant.spec).to)
    .map(obj)
    .some((t) => (str(t.group) ?? '') === '' && t.kind === 'Service' && t.name === names.interceptorProxy);
  return grants
    ? [
        {
          object: grant,
          what: `grant to Service ${names.interceptorProxy} in ${nsOf(grant)}`,
          namespace: nsOf(grant),
        },
      ]
    : [];
}

/** An Istio VirtualService with a destination host naming the interceptor's Service elsewhere. */
function virtualServiceRefs(vs: KubeObject, addonNs: string): StaleReference[] {
  const spec = obj(vs.spec);
  const routes = [...arr(spec.http), ...arr(spec.tcp), ...arr(spec.tls)].flatMap((r) => arr(obj(r).route));
  const out: StaleReference[] = [];
  for (const route of routes.map(obj)) {
    const host = str(obj(route.destination).host);
    const target = host ? serviceAddress(host, nsOf(vs)) : undefined;
    if (target?.service !== names.interceptorProxy || target.namespace === addonNs) continue;
    if (!out.some((o) => o.namespace === target.namespace)) {
      out.push({ object: vs, what: `destination host ${host}`, namespace: target.namespace });
    }
  }
  return out;
}

const byKind: Record<string, (o: KubeObject, addonNs: string) => StaleReference[]> = {
  ScaledObject: scaledObjectRefs,
  Ingress: ingressRefs,
  HTTPRoute: httpRouteRefs,
  ReferenceGrant: referenceGrantRefs,
  VirtualService: virtualServiceRefs,
};

/** Every reference among `objects` to the add-on's Services outside `addonNamespace`. */
export function staleReferences(objects: readonly KubeObject[], addonNamespace: string): StaleReference[] {
  return objects.flatMap((o) => byKind[o.kind]?.(o, addonNamespace) ?? []);
}

export const referenceKinds = Object.keys(byKind);
