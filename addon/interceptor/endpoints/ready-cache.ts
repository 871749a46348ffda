// Which Services have ready endpoints, and where they are (upstream ReadyEndpointsCache).
// Updated from EndpointSlices on every change, for the Services whose slices changed only: the
// others keep their state as it was (the same candidate lists), and only their waiters are looked
// at. Held requests wait in ready-waiters.ts and are released the moment their Service flips to
// ready, with no polling. Addresses that leave every Service are announced (onOriginsRemoved) so
// the forwarder can drop their connection pools.
import { objectKey, type ObjectStore, type StoredObject } from '../../shared/store/store.ts';
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

/** What the cache remembers of one EndpointSlice, to tell whether it changed. */
interface SliceState {
  obj: StoredObject;
  /** "namespace/service", or undefined for a slice without the service-name label. */
  serviceKey: string | undefined;
  /** Its content as far as this cache reads it. */
  fingerprint: string;
}

const serviceNameLabel = 'kubernetes.io/service-name';

export class ReadyEndpointsCache {
  readonly #services = new Map<string, ServiceEndpoints>();
  /** "namespace/name" of each slice -> what it held when last seen. */
  readonly #slices = new Map<string, SliceState>();
  readonly #slicesByService = new Map<string, Set<StoredObject>>();
  /** httpOrigin -> how many (Service, port name) candidate lists hold it. */
  readonly #originRefs = new Map<string, number>();
  readonly #waiters = new ReadyWaiters();
  readonly #store: ObjectStore;
  readonly #originsRemoved: ((origins: readonly string[]) => void)[] = [];
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

  /** Told of "http://ip:port" origins that no Service's ready endpoints hold any more. */
  onOriginsRemoved(listener: (origins: readonly string[]) => void): void {
    this.#originsRemoved.push(listener);
  }

  /** Re-reads the EndpointSlices and updates the Services whose slices changed. */
  refresh(): void {
    const changed = new Set<string>();
    const seen = new Set<string>();
    for (const slice of this.#store.list('EndpointSlice')) {
      const key = objectKey(slice);
      seen.add(key);
      const prev = this.#slices.get(key);
      if (prev?.obj === slice) continue;
      const rv = slice.metadata.resourceVersion;
      if (prev && rv !== undefined && prev.obj.metadata.resourceVersion === rv) {
        this.#replaceSlice(prev, slice);
        continue;
      }
      const serviceKey = serviceKeyOf(slice);
      const fingerprint = fingerprintOf(slice);
      if (prev && prev.serviceKey === serviceKey && prev.fingerprint === fingerprint) {
        this.#replaceSlice(prev, slice);
        continue;
      }
      if (prev) this.#forgetSlice(prev, changed);
      const state: SliceState = { obj: slice, serviceKey, fingerprint };
      this.#slices.set(key, state);
      if (serviceKey !== undefined) {
        let set = this.#slicesByService.get(serviceKey);
        if (!set) this.#slicesByService.set(serviceKey, (set = new Set()));
        set.add(slice);
        changed.add(serviceKey);
      }
    }
    for (const [key, prev] of this.#slices)
      if (!seen.has(key)) {
        this.#slices.delete(key);
        this.#forgetSlice(prev, changed);
      }
    if (changed.size === 0) return;
    const removed: string[] = [];
    for (const serviceKey of changed) this.#rebuildService(serviceKey, removed);
    for (const serviceKey of changed)
      if (this.#services.get(serviceKey)?.ready) this.#waiters.release(serviceKey);
    if (removed.length > 0) for (const l of this.#originsRemoved) l(removed);
  }

  /** The same content under a new object (a re-read file, a resync): nothing to rebuild. */
  #replaceSlice(prev: SliceState, slice: StoredObject): void {
    if (prev.serviceKey !== undefined) {
      const set = this.#slicesByService.get(prev.serviceKey);
      set?.delete(prev.obj);
      set?.add(slice);
    }
    prev.obj = slice;
  }

  #forgetSlice(prev: SliceState, changed: Set<string>): void {
    if (prev.serviceKey === undefined) return;
    const set = this.#slicesByService.get(prev.serviceKey);
    set?.delete(prev.obj);
    if (set?.size === 0) this.#slicesByService.delete(prev.serviceKey);
    changed.add(prev.serviceKey);
  }

  #rebuildService(serviceKey: string, removed: string[]): void {
    const before = this.#services.get(serviceKey);
    const slices = this.#slicesByService.get(serviceKey);
    const after = slices === undefined ? undefined : buildService(slices);
    if (after === undefined) this.#services.delete(serviceKey);
    else this.#services.set(serviceKey, after);
    for (const list of after?.candidates.values() ?? [])
      for (const c of list) this.#originRefs.set(c.httpOrigin, (this.#originRefs.get(c.httpOrigin) ?? 0) + 1);
    for (const list of before?.candidates.values() ?? [])
      for (const c of list) {
        const n = (this.#originRefs.get(c.httpOrigin) ?? 1) - 1;
        if (n > 0) this.#originRefs.set(c.httpOrigin, n);
        else {
          this.#originRefs.delete(c.httpOrigin);
          removed.push(c.httpOrigin);
        }
      }
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

function serviceKeyOf(slice: StoredObject): string | undefined {
  const svc = slice.metadata.labels?.[serviceNameLabel];
  return svc === undefined ? undefined : `${slice.metadata.namespace ?? 'default'}/${svc}`;
}

/** The parts of a slice this cache reads: equal fingerprints, equal endpoints. */
function fingerprintOf(slice: StoredObject): string {
  return JSON.stringify([slice['endpoints'] ?? null, slice['ports'] ?? null]);
}

/** One Service's endpoints from all of its slices. */
function buildService(slices: Iterable<StoredObject>): ServiceEndpoints {
  const entry: ServiceEndpoints = { ready: false, candidates: new Map() };
  for (const slice of slices) {
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
  return entry;
}
