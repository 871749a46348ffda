// A small JSON REST client for any Kubernetes kind, built on @kubernetes/client-node's kubeconfig
// handling (auth, TLS) and undici. Why not client-node's generated APIs: they need one class per
// group, deserialize into classes (dates become Date objects) and make custom and built-in kinds look
// different. Controllers here want one shape for everything: plain JSON in, plain JSON out.
import { RequestContext, type HttpMethod, type KubeConfig } from '@kubernetes/client-node';
import { fetch, type Dispatcher } from 'undici';
import { apiVersionOf, type KubeObject, type ResourceKind } from '../api/meta.ts';

/** An error answer from the API server (a metav1.Status), or a transport failure (code 0). */
export class ApiError extends Error {
  readonly code: number;
  readonly reason: string;
  readonly body: unknown;
  constructor(code: number, reason: string, message: string, body?: unknown) {
    super(message);
    this.name = 'ApiError';
    this.code = code;
    this.reason = reason;
    this.body = body;
  }
}

export const isNotFound = (err: unknown): boolean => err instanceof ApiError && err.code === 404;
export const isConflict = (err: unknown): boolean => err instanceof ApiError && err.code === 409;
export const isAlreadyExists = (err: unknown): boolean =>
  err instanceof ApiError && err.code === 409 && err.reason === 'AlreadyExists';
export const isGone = (err: unknown): boolean => err instanceof ApiError && err.code === 410;

export type PatchType = 'merge' | 'json' | 'strategic' | 'apply';
const patchContentTypes: Record<PatchType, string> = {
  merge: 'application/merge-patch+json',
  json: 'application/json-patch+json',
  strategic: 'application/strategic-merge-patch+json',
  apply: 'application/apply-patch+yaml',
};

export interface ListOptions {
  namespace?: string;
  labelSelector?: string;
  fieldSelector?: string;
}

export interface WatchOptions extends ListOptions {
  resourceVersion?: string;
  /** The server ends the watch after this long, so streams are renewed regularly. */
  timeoutSeconds?: number;
}

export type WatchEventType = 'ADDED' | 'MODIFIED' | 'DELETED' | 'BOOKMARK' | 'ERROR';
export interface WatchEvent<T> {
  type: WatchEventType;
  object: T;
}

export interface KubeList<T> {
  items: T[];
  resourceVersion: string;
}

type Query = Record<string, string | number | boolean | undefined>;

/** The REST path of a collection or an object: /api/v1/namespaces/ns/services/name/status. */
export function resourcePath(
  kind: Pick<ResourceKind, 'group' | 'version' | 'plural' | 'namespaced'>,
  namespace?: string,
  name?: string,
  subresource?: string,
): string {
  let p = kind.group === '' ? `/api/${kind.version}` : `/apis/${kind.group}/${kind.version}`;
  if (kind.namespaced && namespace) p += `/namespaces/${encodeURIComponent(namespace)}`;
  p += `/${kind.plural}`;
  if (name !== undefined) p += `/${encodeURIComponent(name)}`;
  if (subresource !== undefined) p += `/${subresource}`;
  return p;
}

export interface KubeClientOptions {
  /**
   * A request other than a watch that has not been answered in full after this long fails (a
   * transport error), and its connection pool is replaced. Default 60 s.
   */
  requestTimeoutMs?: number;
  /** A watch whose response headers have not come after this long fails. Default 30 s. */
  watchOpenTimeoutMs?: number;
}

/** A connection pool and when it was made (resetConnections compares against it). */
interface Pool {
  dispatcher: Dispatcher | undefined;
  createdAt: number;
}

export class KubeClient {
  readonly kubeConfig: KubeConfig;
  readonly #requestTimeoutMs: number;
  readonly #watchOpenTimeoutMs: number;
  #pool: Pool | undefined;

  constructor(kubeConfig: KubeConfig, opts: KubeClientOptions = {}) {
    this.kubeConfig = kubeConfig;
    this.#requestTimeoutMs = opts.requestTimeoutMs ?? 60_000;
    this.#watchOpenTimeoutMs = opts.watchOpenTimeoutMs ?? 30_000;
  }

  /**
   * Drops the shared connection pool (its requests in flight fail) when it was made at or before
   * `madeBefore` (default: now), so later requests open new connections. After the process's event
   * loop was starved for longer than the API server's and the kernel's timeouts, pooled connections
   * may be dead without anything having noticed; every informer that saw the same stall asks with
   * the time the stall began, and only the first one replaces the pool.
   */
  resetConnections(madeBefore = Date.now()): void {
    const pool = this.#pool;
    if (!pool || pool.createdAt > madeBefore) return;
    this.#pool = undefined;
    void pool.dispatcher?.destroy().catch(() => undefined);
  }

  async get<T extends KubeObject>(
    kind: ResourceKind,
    namespace: string,
    name: string,
  ): Promise<T | undefined> {
    try {
      return await this.request<T>('GET', resourcePath(kind, namespace, name));
    } catch (err) {
      if (isNotFound(err)) return undefined;
      throw err;
    }
  }

  async list<T extends KubeObject>(kind: ResourceKind, opts: ListOptions = {}): Promise<KubeList<T>> {
    const body = await this.request<{ items?: T[]; metadata?: { resourceVersion?: string } }>(
      'GET',
      resourcePath(kind, opts.namespace),
      { query: { labelSelector: opts.labelSelector, fieldSelector: opts.fieldSelector } },
    );
    // List items come without apiVersion/kind; put them back so every object is self-describing.
    const apiVersion = apiVersionOf(kind);
    const items = (body.items ?? []).map((o) => ({ ...o, apiVersion, kind: kind.kind }));
    return { items, resourceVersion: body.metadata?.resourceVersion ?? '' };
  }

  create<T extends KubeObject>(kind: ResourceKind, obj: T, opts: { fieldManager?: string } = {}): Promise<T> {
    return this.request<T>('POST', resourcePath(kind, obj.metadata.namespace), {
      body: obj,
      query: { fieldManager: opts.fieldManager },
    });
  }

  /** PUT: fails with 409 Conflict when obj.metadata.resourceVersion is stale. */
  update<T extends KubeObject>(kind: ResourceKind, obj: T, opts: { subresource?: string } = {}): Promise<T> {
    return this.request<T>(
      'PUT',
      resourcePath(kind, obj.metadata.namespace, obj.metadata.name, opts.subresource),
      { body: obj },
    );
  }

  patch<T extends KubeObject>(
    kind: ResourceKind,
    namespace: string | undefined,
    name: string,
    patch: unknown,
    type: PatchType,
    opts: { subresource?: string; fieldManager?: string; force?: boolean } = {},
  ): Promise<T> {
    return this.request<T>('PATCH', resourcePath(kind, namespace, name, opts.subresource), {
      body: patch,
      contentType: patchContentTypes[type],
      query: { fieldManager: opts.fieldManager, force: opts.force },
    });
  }

  /**
   * Server-side apply: the server merges `obj` into the live object and records `fieldManager` as
   * the owner of every field in it. `force` (default true) takes fields over from other managers,
   * which is what a controller that owns its objects wants.
   */
  apply<T extends KubeObject>(
    kind: ResourceKind,
    obj: KubeObject,
    opts: { fieldManager: string; force?: boolean; subresource?: string },
  ): Promise<T> {
    const body = { ...obj, apiVersion: apiVersionOf(kind), kind: kind.kind };
    return this.patch<T>(kind, obj.metadata.namespace, obj.metadata.name, body, 'apply', {
      fieldManager: opts.fieldManager,
      force: opts.force ?? true,
      subresource: opts.subresource,
    });
  }

  /** Deletes; returns false when the object was already gone. */
  async delete(
    kind: ResourceKind,
    namespace: string | undefined,
    name: string,
    opts: { propagationPolicy?: 'Foreground' | 'Background' | 'Orphan'; uid?: string } = {},
  ): Promise<boolean> {
    const body: Record<string, unknown> = { kind: 'DeleteOptions', apiVersion: 'v1' };
    if (opts.propagationPolicy) body.propagationPolicy = opts.propagationPolicy;
    if (opts.uid) body.preconditions = { uid: opts.uid };
    try {
      await this.request('DELETE', resourcePath(kind, namespace, name), { body });
      return true;
    } catch (err) {
      if (isNotFound(err)) return false;
      throw err;
    }
  }

  /**
   * Streams watch events to `onEvent` until the server ends the stream (resolves), the signal aborts
   * (resolves), or it fails (rejects; an ERROR event is turned into an ApiError, so 410 Gone is
   * `isGone`). `onData` is called for every received chunk, bookmarks included: the informer's
   * watchdog uses it to tell a quiet watch from a dead one.
   */
  async watch<T extends KubeObject>(
    kind: ResourceKind,
    opts: WatchOptions,
    onEvent: (event: WatchEvent<T>) => void,
    signal: AbortSignal,
    onData: () => void = () => undefined,
  ): Promise<void> {
    // Each watch has a connection of its own, closed when the watch ends: a watch that failed
    // leaves nothing behind that a later request could be queued on, and a retry always dials anew.
    let dispatcher: Dispatcher | undefined;
    const opening = new AbortController();
    const openTimer = setTimeout(
      () => opening.abort(new Error(`no response headers in ${this.#watchOpenTimeoutMs} ms`)),
      this.#watchOpenTimeoutMs,
    );
    let res: Awaited<ReturnType<typeof fetch>>;
    try {
      ({ res } = await this.#send('GET', resourcePath(kind, opts.namespace), {
        query: {
          watch: true,
          allowWatchBookmarks: true,
          resourceVersion: opts.resourceVersion,
          labelSelector: opts.labelSelector,
          fieldSelector: opts.fieldSelector,
          timeoutSeconds: opts.timeoutSeconds,
        },
        signal: AbortSignal.any([signal, opening.signal]),
        ownConnection: (d) => (dispatcher = d),
      }));
    } catch (err) {
      void dispatcher?.destroy().catch(() => undefined);
      if (opening.signal.aborted && !signal.aborted) {
        throw new ApiError(
          0,
          'Timeout',
          `watch ${resourcePath(kind, opts.namespace)}: ${String(opening.signal.reason)}`,
        );
      }
      throw err;
    } finally {
      clearTimeout(openTimer);
    }
    try {
      await this.#readWatch(res, onEvent, signal, onData);
    } finally {
      void dispatcher?.destroy().catch(() => undefined);
    }
  }

  async #readWatch<T extends KubeObject>(
    res: Awaited<ReturnType<typeof fetch>>,
    onEvent: (event: WatchEvent<T>) => void,
    signal: AbortSignal,
    onData: () => void,
  ): Promise<void> {
    if (!res.body) return;
    const decoder = new TextDecoder();
    let buffered = '';
    try {
      for await (const chunk of res.body) {
        onData();
        buffered += decoder.decode(chunk as Uint8Array, { stream: true });
        let nl: number;
        while ((nl = buffered.indexOf('\n')) !== -1) {
          const line = buffered.slice(0, nl).trim();
          buffered = buffered.slice(nl + 1);
          if (line === '') continue;
          const event = JSON.parse(line) as WatchEvent<T>;
          if (event.type === 'ERROR') {
            const status = event.object as unknown as { code?: number; reason?: string; message?: string };
            throw new ApiError(
              status.code ?? 500,
              status.reason ?? '',
              status.message ?? 'watch error',
              status,
            );
          }
          onEvent(event);
        }
      }
    } catch (err) {
      if (signal.aborted) return;
      throw err;
    }
  }

  /** One JSON request; throws ApiError on any non-2xx answer. */
  async request<T>(
    method: string,
    path: string,
    opts: { query?: Query; body?: unknown; contentType?: string } = {},
  ): Promise<T> {
    const timeout = AbortSignal.timeout(this.#requestTimeoutMs);
    const { res, pool } = await this.#send(method, path, { ...opts, signal: timeout });
    let text: string;
    try {
      text = await res.text();
    } catch (err) {
      throw this.#transportError(method, path, err, pool, timeout);
    }
    return (text === '' ? undefined : JSON.parse(text)) as T;
  }

  /** A request that got no (complete) answer; its pool is replaced, as its connection may be dead. */
  #transportError(
    method: string,
    path: string,
    err: unknown,
    pool: Pool | undefined,
    timeout?: AbortSignal,
  ): ApiError {
    // Only the pool this request used: another may have replaced it meanwhile.
    if (pool && this.#pool === pool) this.resetConnections(pool.createdAt);
    const timedOut = timeout?.aborted === true;
    return new ApiError(
      0,
      timedOut ? 'Timeout' : 'TransportError',
      `${method} ${path}: ${timedOut ? `no answer in ${this.#requestTimeoutMs} ms` : (err as Error).message}`,
      err,
    );
  }

  async #send(
    method: string,
    path: string,
    opts: {
      query?: Query;
      body?: unknown;
      contentType?: string;
      signal?: AbortSignal;
      /** Use a connection pool of its own (handed to the caller, who destroys it) instead of the shared one. */
      ownConnection?: (dispatcher: Dispatcher | undefined) => void;
    },
  ): Promise<{ res: Awaited<ReturnType<typeof fetch>>; pool?: Pool }> {
    const cluster = this.kubeConfig.getCurrentCluster();
    if (!cluster) throw new ApiError(0, 'NoCluster', 'the kubeconfig has no current cluster');
    const url = new URL(cluster.server.replace(/\/$/, '') + path);
    for (const [k, v] of Object.entries(opts.query ?? {}))
      if (v !== undefined) url.searchParams.set(k, String(v));
    const ctx = new RequestContext(url.toString(), method as HttpMethod);
    await this.kubeConfig.applySecurityAuthentication(ctx);
    // client-node builds a fresh connection pool per call; keep one so connections are reused.
    let dispatcher: Dispatcher | undefined;
    let pool: Pool | undefined;
    if (opts.ownConnection) {
      dispatcher = ctx.getDispatcher();
      opts.ownConnection(dispatcher);
    } else {
      pool = this.#pool ??= { dispatcher: ctx.getDispatcher(), createdAt: Date.now() };
      dispatcher = pool.dispatcher;
    }
    const headers = ctx.getHeaders() as unknown as Record<string, string>;
    headers.accept = 'application/json';
    if (opts.body !== undefined) headers['content-type'] = opts.contentType ?? 'application/json';
    let res: Awaited<ReturnType<typeof fetch>>;
    try {
      res = await fetch(url, {
        method,
        headers,
        body: opts.body === undefined ? undefined : JSON.stringify(opts.body),
        dispatcher,
        signal: opts.signal,
      });
    } catch (err) {
      if (opts.ownConnection) {
        if (opts.signal?.aborted) throw err;
        throw new ApiError(0, 'TransportError', `${method} ${path}: ${(err as Error).message}`, err);
      }
      throw this.#transportError(method, path, err, pool, opts.signal);
    }
    if (res.status >= 200 && res.status < 300) return { res, pool };
    const text = await res.text().catch(() => '');
    let status: { reason?: string; message?: string } = {};
    try {
      status = JSON.parse(text) as typeof status;
    } catch {
      status = { message: text };
    }
    throw new ApiError(
      res.status,
      status.reason ?? '',
      `${method} ${path}: ${res.status} ${status.message ?? res.statusText}`,
      status,
    );
  }

  /** Closes pooled connections; safe to call more than once. */
  async close(): Promise<void> {
    const pool = this.#pool;
    this.#pool = undefined;
    await pool?.dispatcher?.close();
  }
}
