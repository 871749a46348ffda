// The upstream add-on's install for `npm run bench:e2e`: its interceptor, external scaler and
// operator as upstream's own manifests (config/) lay them out, with the images the process kubelet
// maps to the binaries built from upstream's Go module (hack/kubelet/images.ts), on upstream's own
// ports (each pod has its own network namespace, so binding every address collides with nothing).
// One departure, forced by running pods as processes on one machine and not on the measured path:
// - RBAC. One ServiceAccount bound to cluster-admin instead of upstream's three narrow roles.
import { upstreamVersion } from '../upstream-addon.ts';

/** Upstream's ports (its manifests and defaults). */
export const UPSTREAM_PORTS = {
  proxy: 8080,
  admin: 9090,
  scalerGrpc: 9090,
  interceptorMetrics: 2223,
  scalerMetrics: 2223,
};

const labels = (instance: string): Record<string, string> => ({
  'app.kubernetes.io/component': instance === 'operator' ? 'operator' : 'add-on',
  'app.kubernetes.io/instance': instance,
  'app.kubernetes.io/name': 'http',
  'app.kubernetes.io/part-of': 'keda',
});

const image = (component: string): string =>
  `ghcr.io/kedacore/http-add-on-${component}:${upstreamVersion().replace(/^v/, '')}`;
const podNamespace = { valueFrom: { fieldRef: { fieldPath: 'metadata.namespace' } } };
const zapArgs = ['--zap-log-level=info', '--zap-encoder=console', '--zap-time-encoding=rfc3339'];

function deployment(namespace: string, name: string, instance: string, pod: object): object {
  return {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name, namespace, labels: labels(instance) },
    spec: {
      replicas: 1,
      selector: { matchLabels: labels(instance) },
      template: {
        metadata: { labels: labels(instance) },
        spec: { serviceAccountName: 'keda-add-ons-http', ...pod },
      },
    },
  };
}

function service(namespace: string, name: string, instance: string, ports: object[]): object {
  return {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: { name, namespace, labels: labels(instance) },
    spec: { selector: labels(instance), ports },
  };
}

/**
 * Every object of the upstream install in `namespace`. `watchNamespace` restricts its operator (only
 * the operator: an interceptor or scaler that sees more routes changes nothing), so that it and this
 * project's operator never reconcile the same HTTPScaledObject.
 */
export function upstreamAddon(namespace: string, watchNamespace: string): object[] {
  const p = UPSTREAM_PORTS;
  const scalerAddress = `keda-add-ons-http-external-scaler.${namespace}:9090`;
  return [
    { apiVersion: 'v1', kind: 'Namespace', metadata: { name: namespace } },
    { apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name: 'keda-add-ons-http', namespace } },
    {
      apiVersion: 'rbac.authorization.k8s.io/v1',
      kind: 'ClusterRoleBinding',
      metadata: { name: `keda-add-ons-http-upstream-${namespace}` },
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'cluster-admin' },
      subjects: [{ kind: 'ServiceAccount', name: 'keda-add-ons-http', namespace }],
    },
    deployment(namespace, 'keda-add-ons-http-interceptor', 'interceptor', {
      terminationGracePeriodSeconds: 45,
      containers: [
        {
          name: 'interceptor',
          image: image('interceptor'),
          args: zapArgs,
          env: [
            { name: 'KEDA_HTTP_PROXY_PORT', value: String(p.proxy) },
            { name: 'KEDA_HTTP_ADMIN_PORT', value: String(p.admin) },
            { name: 'OTEL_PROM_EXPORTER_PORT', value: String(p.interceptorMetrics) },
          ],
          ports: [
            { name: 'admin', containerPort: p.admin },
            { name: 'proxy', containerPort: p.proxy },
            { name: 'metrics', containerPort: p.interceptorMetrics },
          ],
          livenessProbe: { httpGet: { path: '/livez', port: 'admin' } },
          readinessProbe: { httpGet: { path: '/readyz', port: 'admin' } },
        },
      ],
    }),
    service(namespace, 'keda-add-ons-http-interceptor-admin', 'interceptor', [
      { name: 'admin', port: 9090, targetPort: 'admin' },
    ]),
    service(namespace, 'keda-add-ons-http-interceptor-proxy', 'interceptor', [
      { name: 'proxy', port: 8080, targetPort: 'proxy' },
    ]),
    service(namespace, 'keda-add-ons-http-interceptor-metrics', 'interceptor', [
      { name: 'metrics', port: p.interceptorMetrics, targetPort: 'metrics' },
    ]),
    deployment(namespace, 'keda-add-ons-http-external-scaler', 'external-scaler', {
      terminationGracePeriodSeconds: 10,
      containers: [
        {
          name: 'scaler',
          image: image('scaler'),
          env: [
            { name: 'KEDA_HTTP_SCALER_PORT', value: String(p.scalerGrpc) },
            { name: 'KEDA_HTTP_SCALER_TARGET_ADMIN_NAMESPACE', ...podNamespace },
            { name: 'KEDA_HTTP_SCALER_TARGET_ADMIN_SERVICE', value: 'keda-add-ons-http-interceptor-admin' },
            { name: 'KEDA_HTTP_SCALER_TARGET_ADMIN_DEPLOYMENT', value: 'keda-add-ons-http-interceptor' },
            { name: 'KEDA_HTTP_SCALER_TARGET_ADMIN_PORT', value: String(p.admin) },
            { name: 'OTEL_PROM_EXPORTER_PORT', value: String(p.scalerMetrics) },
          ],
          ports: [
            { name: 'grpc', containerPort: p.scalerGrpc },
            { name: 'metrics', containerPort: p.scalerMetrics },
          ],
          livenessProbe: {
            grpc: { port: p.scalerGrpc, service: 'liveness' },
            periodSeconds: 5,
            timeoutSeconds: 1,
            failureThreshold: 3,
          },
          readinessProbe: {
            grpc: { port: p.scalerGrpc, service: 'readiness' },
            periodSeconds: 1,
            timeoutSeconds: 1,
            failureThreshold: 3,
          },
        },
      ],
    }),
    service(namespace, 'keda-add-ons-http-external-scaler', 'external-scaler', [
      { name: 'grpc', port: 9090, targetPort: 'grpc' },
    ]),
    deployment(namespace, 'keda-add-ons-http-operator', 'operator', {
      terminationGracePeriodSeconds: 10,
      containers: [
        {
          name: 'operator',
          image: image('operator'),
          args: ['--leader-elect', ...zapArgs],
          env: [
            {
              name: 'KEDA_HTTP_OPERATOR_EXTERNAL_SCALER_SERVICE',
              value: 'keda-add-ons-http-external-scaler',
            },
            { name: 'KEDA_HTTP_OPERATOR_EXTERNAL_SCALER_PORT', value: '9090' },
            { name: 'KEDA_HTTP_OPERATOR_NAMESPACE', ...podNamespace },
            { name: 'KEDA_HTTP_OPERATOR_WATCH_NAMESPACE', value: watchNamespace },
          ],
          ports: [{ name: 'probes', containerPort: 8081 }],
          livenessProbe: { httpGet: { path: '/healthz', port: 'probes' } },
          readinessProbe: { httpGet: { path: '/readyz', port: 'probes' } },
        },
      ],
    }),
    // config/interceptor/scaledobject.yaml: the interceptor scales on its own pending requests.
    {
      apiVersion: 'keda.sh/v1alpha1',
      kind: 'ScaledObject',
      metadata: { name: 'keda-add-ons-http-interceptor', namespace },
      spec: {
        minReplicaCount: 1,
        maxReplicaCount: 50,
        pollingInterval: 1,
        scaleTargetRef: { apiVersion: 'apps/v1', kind: 'Deployment', name: 'keda-add-ons-http-interceptor' },
        triggers: [
          { type: 'external', metadata: { scalerAddress, interceptorTargetPendingRequests: '200' } },
        ],
      },
    },
  ];
}
