// Where KEDA runs, so the scaler's NetworkPolicy admits KEDA's operator from that namespace only.
// KEDA registers its metrics server as the APIService v1beta1.external.metrics.k8s.io, whose
// Service lives beside the operator in every install method (Helm, manifests, Kyma); the
// keda-operator Deployment is the fallback when another metrics server owns that APIService.
import type { KubeObject } from '../addon/api/index.ts';

export const externalMetricsApiService = 'v1beta1.external.metrics.k8s.io';

type ApiService = KubeObject & { spec?: { service?: { namespace?: string; name?: string } } };

/** KEDA's namespace, or undefined when neither source names one. */
export function kedaNamespaceFrom(
  apiService: ApiService | undefined,
  operatorDeployments: readonly KubeObject[],
): string | undefined {
  const service = apiService?.spec?.service;
  if (service?.namespace && service.name?.startsWith('keda-')) return service.namespace;
  const namespaces = [...new Set(operatorDeployments.map((d) => d.metadata.namespace).filter(Boolean))];
  // Two KEDA operators on one cluster is a misconfiguration; admitting either one is not a guess to make.
  return namespaces.length === 1 ? namespaces[0] : undefined;
}
