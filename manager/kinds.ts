// The REST coordinates of every kind the manager renders, applies or prunes. A fixed table instead
// of API discovery: the manager only ever handles these kinds, and a lookup must not cost a request.
import type { KubeObject, ResourceKind } from '../addon/api/index.ts';
import {
  httpScaledObjectKind,
  interceptorRouteKind,
  kedaKind,
  scaledObjectKind,
} from '../addon/api/index.ts';

const k = (
  group: string,
  version: string,
  kind: string,
  plural: string,
  namespaced: boolean,
): ResourceKind => ({
  group,
  version,
  kind,
  plural,
  namespaced,
});

export const kinds = {
  namespace: k('', 'v1', 'Namespace', 'namespaces', false),
  configMap: k('', 'v1', 'ConfigMap', 'configmaps', true),
  service: k('', 'v1', 'Service', 'services', true),
  serviceAccount: k('', 'v1', 'ServiceAccount', 'serviceaccounts', true),
  deployment: k('apps', 'v1', 'Deployment', 'deployments', true),
  clusterRole: k('rbac.authorization.k8s.io', 'v1', 'ClusterRole', 'clusterroles', false),
  clusterRoleBinding: k(
    'rbac.authorization.k8s.io',
    'v1',
    'ClusterRoleBinding',
    'clusterrolebindings',
    false,
  ),
  role: k('rbac.authorization.k8s.io', 'v1', 'Role', 'roles', true),
  roleBinding: k('rbac.authorization.k8s.io', 'v1', 'RoleBinding', 'rolebindings', true),
  networkPolicy: k('networking.k8s.io', 'v1', 'NetworkPolicy', 'networkpolicies', true),
  crd: k('apiextensions.k8s.io', 'v1', 'CustomResourceDefinition', 'customresourcedefinitions', false),
  peerAuthentication: k('security.istio.io', 'v1', 'PeerAuthentication', 'peerauthentications', true),
  envoyFilter: k('networking.istio.io', 'v1alpha3', 'EnvoyFilter', 'envoyfilters', true),
  // Read only: where KEDA runs, and users' objects that point at the add-on's Services.
  apiService: k('apiregistration.k8s.io', 'v1', 'APIService', 'apiservices', false),
  ingress: k('networking.k8s.io', 'v1', 'Ingress', 'ingresses', true),
  httpRoute: k('gateway.networking.k8s.io', 'v1', 'HTTPRoute', 'httproutes', true),
  referenceGrant: k('gateway.networking.k8s.io', 'v1beta1', 'ReferenceGrant', 'referencegrants', true),
  virtualService: k('networking.istio.io', 'v1beta1', 'VirtualService', 'virtualservices', true),
  scaledObject: scaledObjectKind,
  keda: kedaKind,
  httpScaledObject: httpScaledObjectKind,
  interceptorRoute: interceptorRouteKind,
} as const;

const byApiVersionKind = new Map<string, ResourceKind>(
  Object.values(kinds).map((r) => [`${r.group === '' ? r.version : `${r.group}/${r.version}`}|${r.kind}`, r]),
);

/** The ResourceKind of an object; an unknown kind is a programming error in the templates. */
export function kindOf(obj: Pick<KubeObject, 'apiVersion' | 'kind'>): ResourceKind {
  const r = byApiVersionKind.get(`${obj.apiVersion}|${obj.kind}`);
  if (!r) throw new Error(`the manager does not know the kind ${obj.apiVersion} ${obj.kind}`);
  return r;
}
