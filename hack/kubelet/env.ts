// A container's environment as the kubelet builds it: `envFrom`, then `env` in order, with
// downward-API values (fieldRef, resourceFieldRef), ConfigMap and Secret keys, and $(VAR)
// references to earlier variables expanded, as Kubernetes does.
import type { KubeClient } from '../../addon/runtime/index.ts';
import { configMapKind, secretKind, type Container, type Pod } from './types.ts';

type Data = Record<string, string>;

async function configMapData(client: KubeClient, ns: string, name: string): Promise<Data | undefined> {
  const cm = await client.get<{ apiVersion: string; kind: string; metadata: { name: string }; data?: Data }>(
    configMapKind,
    ns,
    name,
  );
  return cm ? (cm.data ?? {}) : undefined;
}

async function secretData(client: KubeClient, ns: string, name: string): Promise<Data | undefined> {
  const s = await client.get<{ apiVersion: string; kind: string; metadata: { name: string }; data?: Data }>(
    secretKind,
    ns,
    name,
  );
  if (!s) return undefined;
  return Object.fromEntries(
    Object.entries(s.data ?? {}).map(([k, v]) => [k, Buffer.from(v, 'base64').toString('utf8')]),
  );
}

/** `metadata.labels['app']` and friends: the downward API's field paths. */
export function fieldValue(pod: Pod, path: string): string {
  const m = /^metadata\.(labels|annotations)\['(.+)'\]$/.exec(path);
  if (m?.[1] && m[2] !== undefined) {
    const map = m[1] === 'labels' ? pod.metadata.labels : pod.metadata.annotations;
    return map?.[m[2]] ?? '';
  }
  switch (path) {
    case 'metadata.name':
      return pod.metadata.name;
    case 'metadata.namespace':
      return pod.metadata.namespace ?? '';
    case 'metadata.uid':
      return pod.metadata.uid ?? '';
    case 'spec.nodeName':
      return pod.spec.nodeName ?? '';
    case 'spec.serviceAccountName':
      return pod.spec.serviceAccountName ?? '';
    case 'status.podIP':
      return pod.status?.podIP ?? '';
    case 'status.podIPs':
      return (pod.status?.podIPs ?? []).map((p) => p.ip).join(',');
    case 'status.hostIP':
      return pod.status?.hostIP ?? '';
    case 'status.hostIPs':
      return (pod.status?.hostIPs ?? []).map((p) => p.ip).join(',');
  }
  throw new Error(`unsupported downward-API fieldPath ${path}`);
}

/** `limits.cpu`, `requests.memory`...: the resource quantity as the kubelet reports it (no divisor). */
function resourceValue(container: Container, resource: string): string {
  const [kind, name] = resource.split('.', 2) as [string, string];
  const pool = kind === 'limits' ? container.resources?.limits : container.resources?.requests;
  const v = pool?.[name];
  if (v === undefined) return name === 'cpu' ? '2' : '0'; // unset limits default to node capacity
  if (name === 'cpu' && v.endsWith('m')) return String(Math.ceil(Number(v.slice(0, -1)) / 1000));
  return v;
}

/** Expands $(NAME) from earlier variables; $$(NAME) stays literal, unknown names stay as written. */
export function expand(value: string, vars: Data): string {
  return value.replace(/\$\$|\$\(([A-Za-z_][A-Za-z0-9_.-]*)\)/g, (whole, name: string | undefined) => {
    if (whole === '$$') return '$';
    return name !== undefined && name in vars ? (vars[name] as string) : whole;
  });
}

/** The environment the container's process gets from its spec (the kubelet adds its own on top). */
export async function containerEnv(client: KubeClient, pod: Pod, container: Container): Promise<Data> {
  const ns = pod.metadata.namespace ?? 'default';
  const env: Data = {};
  for (const from of container.envFrom ?? []) {
    const ref = from.configMapRef ?? from.secretRef;
    if (!ref) continue;
    const data = from.configMapRef
      ? await configMapData(client, ns, ref.name)
      : await secretData(client, ns, ref.name);
    if (!data) {
      if (ref.optional) continue;
      throw new Error(`${from.configMapRef ? 'configmap' : 'secret'} "${ref.name}" not found`);
    }
    for (const [k, v] of Object.entries(data)) env[`${from.prefix ?? ''}${k}`] = v;
  }
  for (const e of container.env ?? []) {
    const from = e.valueFrom;
    if (!from) {
      env[e.name] = expand(e.value ?? '', env);
    } else if (from.fieldRef) {
      env[e.name] = fieldValue(pod, from.fieldRef.fieldPath);
    } else if (from.resourceFieldRef) {
      env[e.name] = resourceValue(container, from.resourceFieldRef.resource);
    } else {
      const ref = from.configMapKeyRef ?? from.secretKeyRef;
      if (!ref) continue;
      const data = from.configMapKeyRef
        ? await configMapData(client, ns, ref.name)
        : await secretData(client, ns, ref.name);
      const value = data?.[ref.key];
      if (value === undefined) {
        if (ref.optional) continue;
        throw new Error(
          `${from.configMapKeyRef ? 'configmap' : 'secret'} "${ref.name}" ${data ? `has no key "${ref.key}"` : 'not found'}`,
        );
      }
      env[e.name] = value;
    }
  }
  return env;
}
