// The projected service-account volume a kubelet gives every pod: a token for the pod's
// ServiceAccount (TokenRequest, bound to the pod), the cluster CA and the namespace, so the
// pod's processes use in-cluster config and act with exactly the RBAC the pod would have.
import { chownSync, mkdirSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { KubeClient } from '../../addon/runtime/index.ts';
import type { Pod } from './types.ts';

interface TokenRequest {
  status: { token: string; expirationTimestamp: string };
}

const tokenLifetimeSeconds = 24 * 3600;

function writeAtomically(path: string, data: string, owner: number | undefined): void {
  writeFileSync(`${path}.tmp`, data, { mode: 0o600 });
  if (owner !== undefined) chownSync(`${path}.tmp`, owner, owner);
  renameSync(`${path}.tmp`, path);
}

/**
 * Writes token, ca.crt and namespace into `dir` (bind-mounted into the pod's sandbox), owned by
 * `owner` (the pod's runAsUser, security-context.ts) so a process that runs as that user reads them.
 */
export async function writeServiceAccountFiles(
  client: KubeClient,
  pod: Pod,
  dir: string,
  caPem: string,
  owner?: number,
): Promise<void> {
  const ns = pod.metadata.namespace ?? 'default';
  const sa = pod.spec.serviceAccountName ?? 'default';
  const res = await client.request<TokenRequest>(
    'POST',
    `/api/v1/namespaces/${encodeURIComponent(ns)}/serviceaccounts/${encodeURIComponent(sa)}/token`,
    {
      body: {
        apiVersion: 'authentication.k8s.io/v1',
        kind: 'TokenRequest',
        spec: {
          expirationSeconds: tokenLifetimeSeconds,
          boundObjectRef: { apiVersion: 'v1', kind: 'Pod', name: pod.metadata.name, uid: pod.metadata.uid },
        },
      },
    },
  );
  mkdirSync(dir, { recursive: true });
  writeAtomically(join(dir, 'token'), res.status.token, owner);
  writeAtomically(join(dir, 'ca.crt'), caPem, owner);
  writeAtomically(join(dir, 'namespace'), ns, owner);
}

/** Refresh well before expiry, as the kubelet does at 80% of the lifetime. */
export const tokenRefreshMs = tokenLifetimeSeconds * 800;
