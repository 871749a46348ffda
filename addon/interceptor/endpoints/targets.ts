// Resolves a route's Service reference to where requests go: the origin (svc.ns:port, as upstream
// dials it), the Service port name (for direct-to-pod candidates) and whether the port speaks h2c.
// Results are memoised until a Service changes, so the hot path does one Map lookup.
import type { ObjectStore } from '../../shared/store/store.ts';
import type { ServiceRef } from '../routing/route.ts';

export interface ResolvedTarget {
  /** "ns/service", the ReadyEndpointsCache key. */
  serviceKey: string;
  /** "http://svc.ns:port" (no trailing slash). */
  origin: string;
  /** Hostname used for TLS SNI: "svc.ns". */
  serverName: string;
  portName: string;
  h2c: boolean;
}

export class TargetResolutionError extends Error {}

type Json = Record<string, unknown>;

export class TargetResolver {
  readonly #store: ObjectStore;
  /** Keyed by the compiled route's ServiceRef object (stable for one table build); reset on Service changes. */
  #cache = new WeakMap<
    ServiceRef,
    { http?: ResolvedTarget | TargetResolutionError; https?: ResolvedTarget | TargetResolutionError }
  >();
  /**
   * One result per distinct (scheme, namespace, service, port): routes that share a backend share
   * one object, which stays in the CPU cache when requests spread over thousands of routes.
   */
  #byTarget = new Map<string, ResolvedTarget | TargetResolutionError>();
  #unsubscribe: (() => void) | undefined;
  /** Bumped on every Service change: a caller that keeps a resolved target re-resolves when it moves. */
  generation = 0;

  constructor(store: ObjectStore) {
    this.#store = store;
  }

  start(): void {
    this.#unsubscribe = this.#store.onChange((kind) => {
      if (kind === 'Service') {
        this.#cache = new WeakMap();
        this.#byTarget = new Map();
        this.generation++;
      }
    });
  }

  stop(): void {
    this.#unsubscribe?.();
  }

  /** Throws TargetResolutionError when a portName cannot be found (upstream answers 500). */
  resolve(namespace: string, ref: ServiceRef, scheme: 'http' | 'https'): ResolvedTarget {
    let entry = this.#cache.get(ref);
    if (!entry) this.#cache.set(ref, (entry = {}));
    let r = entry[scheme];
    if (r === undefined) {
      const key = `${scheme} ${namespace}/${ref.service} ${ref.port ?? ''} ${ref.portName ?? ''}`;
      r = this.#byTarget.get(key);
      if (r === undefined) this.#byTarget.set(key, (r = this.#compute(namespace, ref, scheme)));
      entry[scheme] = r;
    }
    if (r instanceof TargetResolutionError) throw r;
    return r;
  }

  #compute(namespace: string, ref: ServiceRef, scheme: string): ResolvedTarget | TargetResolutionError {
    const svc = this.#store.get('Service', namespace, ref.service);
    const ports = ((svc?.['spec'] as Json | undefined)?.['ports'] as Json[] | undefined) ?? [];
    let port = ref.port;
    let servicePort: Json | undefined;
    if (port !== undefined) {
      servicePort = ports.find((p) => p['port'] === port);
    } else {
      servicePort = ports.find((p) => p['name'] === ref.portName);
      if (!servicePort || typeof servicePort['port'] !== 'number')
        return new TargetResolutionError(
          `port "${ref.portName ?? ''}" not found on Service ${namespace}/${ref.service}`,
        );
      port = servicePort['port'];
    }
    const serverName = `${ref.service}.${namespace}`;
    return {
      serviceKey: `${namespace}/${ref.service}`,
      origin: `${scheme}://${serverName}:${port}`,
      serverName,
      portName: ref.portName ?? (typeof servicePort?.['name'] === 'string' ? servicePort['name'] : ''),
      h2c: servicePort?.['appProtocol'] === 'kubernetes.io/h2c',
    };
  }
}
