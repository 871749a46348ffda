// FileStore: the objects of a multi-document YAML file, re-read whenever the file changes.
// Used by `keda-http interceptor --from-file` and `keda-http scaler --from-file`.
import { readFile } from 'node:fs/promises';
import { watch, type FSWatcher } from 'node:fs';
import { basename, dirname } from 'node:path';
import { parseAllDocuments } from 'yaml';
import type { Logger } from '../log.ts';
import { errorFields } from '../log.ts';
import {
  ChangeNotifier,
  ObjectIndex,
  storeKinds,
  type ObjectStore,
  type StoreKind,
  type StoredObject,
} from './store.ts';

/**
 * Parses a multi-document YAML text into the objects the store keeps. Documents of other kinds are
 * ignored; a document without a name, or YAML that does not parse, is an error naming the document,
 * so a bad edit never silently drops routes.
 */
export function parseObjects(text: string, source = 'input'): StoredObject[] {
  const out: StoredObject[] = [];
  const docs = parseAllDocuments(text);
  docs.forEach((doc, i) => {
    if (doc.errors.length > 0)
      throw new Error(`${source}: document ${i + 1}: ${doc.errors[0]?.message ?? 'bad YAML'}`);
    const value: unknown = doc.toJS();
    if (value == null) return;
    const items = isList(value) ? value.items : [value];
    for (const item of items) {
      if (typeof item !== 'object' || item === null) {
        throw new Error(`${source}: document ${i + 1} is not a Kubernetes object`);
      }
      const o = item as Partial<StoredObject>;
      if (typeof o.kind !== 'string' || !(storeKinds as readonly string[]).includes(o.kind)) continue;
      if (typeof o.metadata?.name !== 'string' || o.metadata.name === '') {
        throw new Error(`${source}: document ${i + 1} (${o.kind}) has no metadata.name`);
      }
      out.push({ ...o, metadata: { namespace: 'default', ...o.metadata } } as StoredObject);
    }
  });
  return out;
}

function isList(v: unknown): v is { items: unknown[] } {
  return typeof v === 'object' && v !== null && Array.isArray((v as { items?: unknown }).items);
}

export class FileStore implements ObjectStore {
  readonly synced: Promise<void>;
  readonly #path: string;
  readonly #log: Logger;
  readonly #index = new ObjectIndex();
  readonly #changes = new ChangeNotifier();
  #watcher: FSWatcher | undefined;
  #reloadTimer: NodeJS.Timeout | undefined;
  #lastText: string | undefined;
  /** Loads run one after another, so a slow read never applies an older text over a newer one. */
  #loading: Promise<void> = Promise.resolve();

  constructor(path: string, log: Logger) {
    this.#path = path;
    this.#log = log;
    // The first read must succeed: a service started on a missing or broken file says so and exits.
    this.synced = this.#load(true).then(() => this.#watch());
  }

  list<T extends StoredObject = StoredObject>(kind: StoreKind, namespace?: string): readonly T[] {
    return this.#index.list<T>(kind, namespace);
  }

  get<T extends StoredObject = StoredObject>(
    kind: StoreKind,
    namespace: string,
    name: string,
  ): T | undefined {
    return this.#index.get<T>(kind, namespace, name);
  }

  onChange(listener: (kind: StoreKind) => void): () => void {
    return this.#changes.subscribe(listener);
  }

  async stop(): Promise<void> {
    this.#watcher?.close();
    clearTimeout(this.#reloadTimer);
  }

  /** Re-reads the file now (tests and SIGHUP-style reloads); a broken file keeps the last good view. */
  reload(): Promise<void> {
    return this.#queueLoad(true);
  }

  #queueLoad(reportErrors: boolean): Promise<void> {
    this.#loading = this.#loading.then(() => this.#load(false, reportErrors));
    return this.#loading;
  }

  /** `reportErrors` false: a broken file is not logged (a later load reads it again and will). */
  async #load(first: boolean, reportErrors = true): Promise<void> {
    let text: string;
    let objects: StoredObject[];
    try {
      text = await readFile(this.#path, 'utf8');
      if (text === this.#lastText) return;
      objects = parseObjects(text, this.#path);
    } catch (err) {
      if (first) throw err;
      if (!reportErrors) return;
      this.#log.error('could not reload objects file; keeping the last good version', {
        path: this.#path,
        ...errorFields(err),
      });
      return;
    }
    this.#lastText = text;
    for (const kind of storeKinds) {
      this.#index.replaceKind(
        kind,
        objects.filter((o) => o.kind === kind),
      );
    }
    this.#log.info('loaded objects file', { path: this.#path, objects: objects.length });
    for (const kind of storeKinds) this.#changes.notify(kind);
  }

  #watch(): void {
    // Watch the directory, not the file: editors and `kubectl`-style tools replace files by rename,
    // which ends a watch on the old inode.
    const name = basename(this.#path);
    this.#watcher = watch(dirname(this.#path), (_event, file) => {
      if (file !== null && file !== name) return;
      // The first change after a quiet spell is read at once, so a readiness flip reaches the proxy
      // without waiting; an editor's write may be half done then, so errors wait for the second
      // read, 50 ms after the writes stop.
      if (this.#reloadTimer === undefined) void this.#queueLoad(false);
      clearTimeout(this.#reloadTimer);
      this.#reloadTimer = setTimeout(() => {
        this.#reloadTimer = undefined;
        void this.#queueLoad(true);
      }, 50);
    });
    this.#watcher.unref();
  }
}
