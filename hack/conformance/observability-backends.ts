// The backends upstream's test/e2e/observability expects, as its CI installs them with Helm
// (upstream's Makefile e2e-deps-jaeger and e2e-deps-otel-collector, values in
// test/fixtures/otel-values.yaml), here as plain objects for `kubectl apply`:
//
//   open-telemetry-system/opentelemetry-collector   OTLP in (4317, 4318); metrics out on the
//     Prometheus exporter, port `prom-exporter` (8889); traces out over OTLP to Jaeger.
//   jaeger/jaeger   Jaeger all-in-one with memory storage: OTLP in, the query API on `http-query`.
//
// Both run Jaeger v2 (jaegertracing/jaeger, built from its Go module: hack/kubelet/images.ts).
// Jaeger v2 is an OpenTelemetry Collector distribution whose components include the OTLP receiver
// and the contrib Prometheus exporter, so one binary is both the suite's collector (given a
// collector configuration) and Jaeger (its embedded all-in-one configuration, no --config).
import { versions } from '../cluster/control-plane.ts';

export const collectorNamespace = 'open-telemetry-system';
export const jaegerNamespace = 'jaeger';

/** The image tag is informational: the kubelet runs the binary built at JAEGER_VERSION. */
function jaegerImage(): string {
  return `jaegertracing/jaeger:${versions().JAEGER_VERSION}`;
}

/** The collector's configuration: upstream's otel-values.yaml pipelines, without the debug exporter. */
export const collectorConfig = `receivers:
  otlp:
    protocols:
      grpc:
        endpoint: 0.0.0.0:4317
      http:
        endpoint: 0.0.0.0:4318
processors:
  batch: {}
exporters:
  prometheus:
    endpoint: 0.0.0.0:8889
  otlp/jaeger:
    endpoint: jaeger.${jaegerNamespace}:4317
    tls:
      insecure: true
service:
  pipelines:
    metrics:
      receivers: [otlp]
      processors: [batch]
      exporters: [prometheus]
    traces:
      receivers: [otlp]
      processors: [batch]
      exporters: [otlp/jaeger]
  telemetry:
    metrics:
      level: none
`;

type Port = { name: string; port: number };

function deployment(
  namespace: string,
  name: string,
  container: Record<string, unknown>,
  volumes: unknown[] = [],
): object {
  const labels = { 'app.kubernetes.io/name': name };
  return {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name, namespace, labels },
    spec: {
      replicas: 1,
      selector: { matchLabels: labels },
      template: {
        metadata: { labels },
        spec: { containers: [{ name, image: jaegerImage(), ...container }], volumes },
      },
    },
  };
}

function service(namespace: string, name: string, ports: Port[]): object {
  return {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: { name, namespace },
    spec: {
      selector: { 'app.kubernetes.io/name': name },
      ports: ports.map((p) => ({ name: p.name, port: p.port, targetPort: p.port, protocol: 'TCP' })),
    },
  };
}

const namespace = (name: string): object => ({ apiVersion: 'v1', kind: 'Namespace', metadata: { name } });

export function observabilityBackends(): object[] {
  const collector = 'opentelemetry-collector';
  const jaeger = 'jaeger';
  return [
    namespace(collectorNamespace),
    namespace(jaegerNamespace),
    {
      apiVersion: 'v1',
      kind: 'ConfigMap',
      metadata: { name: collector, namespace: collectorNamespace },
      data: { 'config.yaml': collectorConfig },
    },
    deployment(
      collectorNamespace,
      collector,
      {
        command: ['/cmd/jaeger/jaeger-linux'],
        args: ['--config=file:/conf/config.yaml'],
        volumeMounts: [{ name: 'config', mountPath: '/conf', readOnly: true }],
        readinessProbe: { tcpSocket: { port: 4318 }, periodSeconds: 2 },
      },
      [{ name: 'config', configMap: { name: collector } }],
    ),
    service(collectorNamespace, collector, [
      { name: 'otlp', port: 4317 },
      { name: 'otlp-http', port: 4318 },
      { name: 'prom-exporter', port: 8889 },
    ]),
    deployment(jaegerNamespace, jaeger, {
      command: ['/cmd/jaeger/jaeger-linux'],
      // Set by Jaeger's image (its Dockerfile); the all-in-one configuration otherwise listens on
      // localhost only.
      env: [{ name: 'JAEGER_LISTEN_HOST', value: '0.0.0.0' }],
      readinessProbe: { httpGet: { path: '/status', port: 13133 }, periodSeconds: 2 },
    }),
    service(jaegerNamespace, jaeger, [
      { name: 'grpc-otlp', port: 4317 },
      { name: 'http-otlp', port: 4318 },
      { name: 'http-query', port: 16686 },
    ]),
  ];
}
