// Which Services have ready endpoints, and where they are (upstream ReadyEndpointsCache, §2.8).
// Rebuilt from EndpointSlices on every change; held requests wait in ready-waiters.ts and are
// released the moment their Service flips to ready, with no polling.
import type { ObjectStore, StoredObject } from '../../shared/store/store.ts';
import { ReadyWaiters, type CancelWait } from './ready-waiters.ts';

export interface Candidate {
  host: string;
  port: number;
  /** "http://ip:port", built once per EndpointSlice change instead of once per request. */
  httpOrigin: string;
}

interface ServiceEndpoints {
  ready: boolean;
  /** Slice port name ("" for unnamed) -> ready ip:port pairs. */
  candidates: Map<string, Candidate[]>;
}

const serviceNameLabel = 'kubernetes.io/service-name';

export class ReadyEndpointsCache {
  #services = new Map<string, ServiceEndpoints>();
  readonly #waiters = new ReadyWaiters();
  readonly #store: ObjectStore;
  #unsubscribe: (() => void) | undefined;

  constructor(store: ObjectStore) {
    this.#store = store;
  }

  start(): void {
    this.#unsubscribe = this.#store.onChange((kind) => {
      if (kind === 'EndpointSlice') this.refresh();
    });
    this.refresh();
  }

  stop(): void {
    this.#unsubscribe?.();
  }

  refresh(): void {
    const next = buildServices(this.#store.list('EndpointSlice'));
    this.#services = next;
    for (const key of [...this.#waiters.services()]) if (next.get(key)?.ready) this.#waiters.release(key);
  }

  /** `serviceKey` is "namespace/service". */
  hasReadyEndpoints(serviceKey: string): boolean {
    return this.#services.get(serviceKey)?.ready ?? false;
  }

  candidates(serviceKey: string, portName: string): readonly Candidate[] {
    return this.#services.get(serviceKey)?.candidates.get(portName) ?? [];
  }

  /** Requests (and WebSocket upgrades) waiting for a Service to turn ready. */
  get waiting(): number {
    return this.#waiters.size;
  }

  /**
   * Whether requests released for the Service's cold start are still being released (paced over
   * event-loop turns): a request arriving meanwhile should wait behind them (waitBehindRelease).
   */
  isReleasing(serviceKey: string): boolean {
    return this.#waiters.isReleasing(serviceKey);
  }

  /** Calls `onReady` after the requests being released for the Service, unless cancelled first. */
  waitBehindRelease(serviceKey: string, onReady: () => void): CancelWait {
    return this.#waiters.addBehind(serviceKey, onReady);
  }

  /**
   * Calls `onReady` once the Service has a ready endpoint (on a later turn if it has one now), unless
   * cancelled first. Waiters of one Service are called in arrival order, a batch per event-loop turn.
   */
  waitReady(serviceKey: string, onReady: () => void): CancelWait {
    const cancel = this.#waiters.add(serviceKey, onReady);
    if (this.hasReadyEndpoints(serviceKey)) this.#waiters.release(serviceKey);
    return cancel;
  }
}

type Json = Record<string, unknown>;

function buildServices(slices: readonly StoredObject[]): Map<string, ServiceEndpoints> {
  const out = new Map<string, ServiceEndpoints>();
  for (const slice of slices) {
    const svc = slice.metadata.labels?.[serviceNameLabel];
    if (svc === undefined) continue;
    const key = `${slice.metadata.namespace ?? 'default'}/${svc}`;
    let entry = out.get(key);
    if (!entry) out.set(key, (entry = { ready: false, candidates: new Map() }));
    const ips: string[] = [];
    for (const ep of (slice['endpoints'] as Json[] | undefined) ?? []) {
      const ready = (ep['conditions'] as Json | undefined)?.['ready'];
      const addresses = ep['addresses'] as unknown[] | undefined;
      const first = addresses?.[0];
      if ((ready === undefined || ready === null || ready === true) && typeof first === 'string') {
        entry.ready = true;
        ips.push(first);
      }
    }
    for (const p of (slice['ports'] as Json[] | undefined) ?? []) {
      const port = p['port'];
      if (typeof port !== 'number') continue;
      const name = typeof p['name'] === 'string' ? p['name'] : '';
      let list = entry.candidates.get(name);
      if (!list) entry.candidates.set(name, (list = []));
      for (const host of ips) {
        if (!list.some((c) => c.host === host && c.port === port))
          list.push({
            host,
            port,
            httpOrigin: host.includes(':') ? `http://[${host}]:${port}` : `http://${host}:${port}`,
          });
      }
    }
  }
  return out;
}
