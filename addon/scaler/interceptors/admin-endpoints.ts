// Where the interceptors' admin ports are: the ready addresses of the admin Service's
// EndpointSlices, as upstream finds them (label kubernetes.io/service-name=<service>).
//
// Port rule: upstream always uses KEDA_HTTP_SCALER_TARGET_ADMIN_PORT. We use a slice's own port
// when it names exactly one (or one called "admin"), else the configured port. In a cluster the
// admin Service has one port, whose slice port is that same container port, so nothing changes;
// in file mode it lets several interceptor processes share 127.0.0.1 with different admin ports.
import type { ObjectStore, StoredObject } from '../../shared/store/store.ts';

export type EndpointSlice = StoredObject & {
  addressType?: string;
  ports?: { name?: string; port?: number; protocol?: string }[] | null;
  endpoints?: { addresses?: string[]; conditions?: { ready?: boolean | null } | null }[] | null;
};

export interface AdminEndpointsConfig {
  namespace: string;
  service: string;
  port: number;
}

/** "ip:port" of every ready interceptor admin endpoint, deduplicated, in a stable order. */
export function readyAdminEndpoints(store: ObjectStore, cfg: AdminEndpointsConfig): string[] {
  const out = new Set<string>();
  for (const slice of store.list<EndpointSlice>('EndpointSlice', cfg.namespace)) {
    if (slice.metadata.labels?.['kubernetes.io/service-name'] !== cfg.service) continue;
    const port = slicePort(slice, cfg.port);
    // The file in --from-file mode is hand-written: skip shapes the API server would refuse.
    for (const ep of Array.isArray(slice.endpoints) ? slice.endpoints : []) {
      // Ready nil means ready (the EndpointSlice API says consumers should treat unknown as ready).
      if (ep?.conditions?.ready === false) continue;
      for (const address of Array.isArray(ep?.addresses) ? ep.addresses : []) {
        if (typeof address === 'string' && address !== '') out.add(hostPort(address, port));
      }
    }
  }
  return [...out].sort();
}

function slicePort(slice: EndpointSlice, fallback: number): number {
  const ports = (Array.isArray(slice.ports) ? slice.ports : []).filter(
    (p) => typeof p?.port === 'number' && p.port > 0,
  );
  if (ports.length === 1) return ports[0]?.port ?? fallback;
  return ports.find((p) => p.name === 'admin')?.port ?? fallback;
}

/** net.JoinHostPort: IPv6 addresses get brackets. */
export function hostPort(address: string, port: number): string {
  return address.includes(':') ? `[${address}]:${port}` : `${address}:${port}`;
}
