// Every Kubernetes kind this project reads or writes, with what its REST path needs (group,
// version, plural, whether it is namespaced), in one table: the object store of the interceptor
// and the scaler, the operator, the manager, the controller runtime and the process kubelet all
// import their kinds from here.
import type { ResourceKind } from './meta.ts';

export const kinds = {
  // core/v1
  namespace: { group: '', version: 'v1', kind: 'Namespace', plural: 'namespaces', namespaced: false },
  node: { group: '', version: 'v1', kind: 'Node', plural: 'nodes', namespaced: false },
  pod: { group: '', version: 'v1', kind: 'Pod', plural: 'pods', namespaced: true },
  service: { group: '', version: 'v1', kind: 'Service', plural: 'services', namespaced: true },
  configMap: { group: '', version: 'v1', kind: 'ConfigMap', plural: 'configmaps', namespaced: true },
  secret: { group: '', version: 'v1', kind: 'Secret', plural: 'secrets', namespaced: true },
  serviceAccount: {
    group: '',
    version: 'v1',
    kind: 'ServiceAccount',
    plural: 'serviceaccounts',
    namespaced: true,
  },
  event: { group: '', version: 'v1', kind: 'Event', plural: 'events', namespaced: true },
  // built-in groups
  endpointSlice: {
    group: 'discovery.k8s.io',
    version: 'v1',
    kind: 'EndpointSlice',
    plural: 'endpointslices',
    namespaced: true,
  },
  lease: { group: 'coordination.k8s.io', version: 'v1', kind: 'Lease', plural: 'leases', namespaced: true },
  deployment: { group: 'apps', version: 'v1', kind: 'Deployment', plural: 'deployments', namespaced: true },
  clusterRole: {
    group: 'rbac.authorization.k8s.io',
    version: 'v1',
    kind: 'ClusterRole',
    plural: 'clusterroles',
    namespaced: false,
  },
  clusterRoleBinding: {
    group: 'rbac.authorization.k8s.io',
    version: 'v1',
    kind: 'ClusterRoleBinding',
    plural: 'clusterrolebindings',
    namespaced: false,
  },
  role: {
    group: 'rbac.authorization.k8s.io',
    version: 'v1',
    kind: 'Role',
    plural: 'roles',
    namespaced: true,
  },
  roleBinding: {
    group: 'rbac.authorization.k8s.io',
    version: 'v1',
    kind: 'RoleBinding',
    plural: 'rolebindings',
    namespaced: true,
  },
  networkPolicy: {
    group: 'networking.k8s.io',
    version: 'v1',
    kind: 'NetworkPolicy',
    plural: 'networkpolicies',
    namespaced: true,
  },
  crd: {
    group: 'apiextensions.k8s.io',
    version: 'v1',
    kind: 'CustomResourceDefinition',
    plural: 'customresourcedefinitions',
    namespaced: false,
  },
  apiService: {
    group: 'apiregistration.k8s.io',
    version: 'v1',
    kind: 'APIService',
    plural: 'apiservices',
    namespaced: false,
  },
  ingress: {
    group: 'networking.k8s.io',
    version: 'v1',
    kind: 'Ingress',
    plural: 'ingresses',
    namespaced: true,
  },
  // Gateway API
  httpRoute: {
    group: 'gateway.networking.k8s.io',
    version: 'v1',
    kind: 'HTTPRoute',
    plural: 'httproutes',
    namespaced: true,
  },
  referenceGrant: {
    group: 'gateway.networking.k8s.io',
    version: 'v1beta1',
    kind: 'ReferenceGrant',
    plural: 'referencegrants',
    namespaced: true,
  },
  // Istio
  virtualService: {
    group: 'networking.istio.io',
    version: 'v1beta1',
    kind: 'VirtualService',
    plural: 'virtualservices',
    namespaced: true,
  },
  peerAuthentication: {
    group: 'security.istio.io',
    version: 'v1',
    kind: 'PeerAuthentication',
    plural: 'peerauthentications',
    namespaced: true,
  },
  envoyFilter: {
    group: 'networking.istio.io',
    version: 'v1alpha3',
    kind: 'EnvoyFilter',
    plural: 'envoyfilters',
    namespaced: true,
  },
  // the add-on's own, KEDA's and Kyma's
  interceptorRoute: {
    group: 'http.keda.sh',
    version: 'v1beta1',
    kind: 'InterceptorRoute',
    plural: 'interceptorroutes',
    namespaced: true,
  },
  httpScaledObject: {
    group: 'http.keda.sh',
    version: 'v1alpha1',
    kind: 'HTTPScaledObject',
    plural: 'httpscaledobjects',
    namespaced: true,
  },
  scaledObject: {
    group: 'keda.sh',
    version: 'v1alpha1',
    kind: 'ScaledObject',
    plural: 'scaledobjects',
    namespaced: true,
  },
  keda: {
    group: 'operator.kyma-project.io',
    version: 'v1alpha1',
    kind: 'Keda',
    plural: 'kedas',
    namespaced: true,
  },
} as const satisfies Record<string, ResourceKind>;

export type KnownKind = keyof typeof kinds;
