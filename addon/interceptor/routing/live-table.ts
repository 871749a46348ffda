// Keeps the current RouteTable in step with the store: any InterceptorRoute/HTTPScaledObject change
// schedules one rebuild (bursts coalesce, like upstream's 1-slot signal channel), and the new table
// replaces the old one in a single assignment, so a request sees either the old or the new table.
import type { Logger } from '../../shared/log.ts';
import { errorFields } from '../../shared/log.ts';
import type { ObjectStore, StoredObject } from '../../shared/store/store.ts';
import type { RequestQueue } from '../queue/queue.ts';
import { routeFromHTTPScaledObject, routeFromInterceptorRoute, type Route } from './route.ts';
import { RouteTable } from './table.ts';

/** Compiles every route from the store's objects; an InterceptorRoute wins over a same-named HTTPScaledObject. */
export function buildRoutes(
  interceptorRoutes: readonly StoredObject[],
  httpScaledObjects: readonly StoredObject[],
  onInvalid: (obj: StoredObject, err: unknown) => void = () => {},
): Route[] {
  const routes: Route[] = [];
  const seen = new Set<string>();
  for (const ir of interceptorRoutes) {
    try {
      const r = routeFromInterceptorRoute(ir);
      routes.push(r);
      seen.add(r.key);
    } catch (err) {
      onInvalid(ir, err);
    }
  }
  for (const so of httpScaledObjects) {
    if (seen.has(`${so.metadata.namespace ?? 'default'}/${so.metadata.name}`)) continue;
    try {
      routes.push(routeFromHTTPScaledObject(so));
    } catch (err) {
      onInvalid(so, err);
    }
  }
  return routes;
}

export class LiveRouteTable {
  /** The current table; read it once per request. Undefined until the first build. */
  current: RouteTable | undefined;
  readonly #store: ObjectStore;
  readonly #queue: RequestQueue;
  readonly #log: Logger;
  readonly #namespace: string;
  #scheduled = false;
  #unsubscribe: (() => void) | undefined;
  readonly #listeners = new Set<(table: RouteTable) => void>();

  constructor(store: ObjectStore, queue: RequestQueue, log: Logger, namespace = '') {
    this.#store = store;
    this.#queue = queue;
    this.#log = log;
    this.#namespace = namespace;
  }

  /** Builds the first table once the store is synced, then follows changes. */
  async start(): Promise<void> {
    await this.#store.synced;
    this.#unsubscribe = this.#store.onChange((kind) => {
      if (kind === 'InterceptorRoute' || kind === 'HTTPScaledObject') this.#schedule();
    });
    this.rebuild();
  }

  stop(): void {
    this.#unsubscribe?.();
  }

  onSwap(listener: (table: RouteTable) => void): void {
    this.#listeners.add(listener);
  }

  rebuild(): void {
    const ns = this.#namespace === '' ? undefined : this.#namespace;
    const routes = buildRoutes(
      this.#store.list('InterceptorRoute', ns),
      this.#store.list('HTTPScaledObject', ns),
      (o, err) =>
        this.#log.error('ignoring a route that cannot be used', {
          kind: o.kind,
          route: `${o.metadata.namespace ?? ''}/${o.metadata.name}`,
          ...errorFields(err),
        }),
    );
    const table = new RouteTable(routes);
    const keys = new Set(routes.map((r) => r.key));
    for (const k of keys) this.#queue.ensureKey(k);
    for (const k of [...this.#queue.keys()]) if (!keys.has(k)) this.#queue.removeKey(k);
    this.current = table;
    this.#log.info('route table rebuilt', { routes: routes.length });
    for (const l of this.#listeners) l(table);
  }

  #schedule(): void {
    if (this.#scheduled) return;
    this.#scheduled = true;
    setImmediate(() => {
      this.#scheduled = false;
      this.rebuild();
    });
  }
}
