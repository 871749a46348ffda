// The ready-endpoints cache over a real object index: a change to one Service's EndpointSlices
// updates that Service only, and addresses that leave every Service are announced.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  ChangeNotifier,
  ObjectIndex,
  type ObjectStore,
  type StoreKind,
  type StoredObject,
} from '../../shared/store/store.ts';
import { endpointSlice } from '../testing/harness.ts';
import { ReadyEndpointsCache } from './ready-cache.ts';

/** The in-memory store both store implementations are built on, with a way to replace a kind. */
class MemoryStore implements ObjectStore {
  readonly synced = Promise.resolve();
  readonly #index = new ObjectIndex();
  readonly #changes = new ChangeNotifier();
  list<T extends StoredObject>(kind: StoreKind, namespace?: string): readonly T[] {
    return this.#index.list<T>(kind, namespace);
  }
  get<T extends StoredObject>(kind: StoreKind, namespace: string, name: string): T | undefined {
    return this.#index.get<T>(kind, namespace, name);
  }
  onChange(listener: (kind: StoreKind) => void): () => void {
    return this.#changes.subscribe(listener);
  }
  /** Replaces every object of the kind (as a re-read file does: all new objects) and notifies. */
  set(kind: StoreKind, objects: object[]): void {
    this.#index.replaceKind(kind, structuredClone(objects) as StoredObject[]);
    this.#changes.notify(kind);
  }
  async stop(): Promise<void> {}
}

const slices = (bIps: string[]): object[] => [
  endpointSlice('a', [{ ip: '10.0.0.1' }, { ip: '10.0.0.2' }], 8080),
  endpointSlice(
    'b',
    bIps.map((ip) => ({ ip })),
    8080,
  ),
];

test('a change to one Service updates that Service only; the others keep their state as it was', () => {
  const store = new MemoryStore();
  store.set('EndpointSlice', slices(['10.0.1.1']));
  const cache = new ReadyEndpointsCache(store);
  cache.start();
  const aBefore = cache.candidates('default/a', 'http');
  const bBefore = cache.candidates('default/b', 'http');
  assert.equal(aBefore.length, 2);
  // Every object is new (a re-read file), but only b's endpoints differ.
  store.set('EndpointSlice', slices(['10.0.1.1', '10.0.1.2']));
  assert.equal(cache.candidates('default/a', 'http'), aBefore, 'a was not rebuilt');
  assert.notEqual(cache.candidates('default/b', 'http'), bBefore);
  assert.deepEqual(
    cache.candidates('default/b', 'http').map((c) => c.httpOrigin),
    ['http://10.0.1.1:8080', 'http://10.0.1.2:8080'],
  );
  // Nothing changed at all: nothing is rebuilt.
  const bNow = cache.candidates('default/b', 'http');
  store.set('EndpointSlice', slices(['10.0.1.1', '10.0.1.2']));
  assert.equal(cache.candidates('default/b', 'http'), bNow);
  cache.stop();
});

test('addresses that leave every Service are announced; a Service whose slices are gone is not ready', () => {
  const store = new MemoryStore();
  store.set('EndpointSlice', [
    ...slices(['10.0.1.1', '10.0.1.2']),
    endpointSlice('c', [{ ip: '10.0.1.2' }], 8080), // the same pod address behind another Service
  ]);
  const cache = new ReadyEndpointsCache(store);
  const removed: string[][] = [];
  cache.onOriginsRemoved((o) => removed.push([...o]));
  cache.start();
  const c = endpointSlice('c', [{ ip: '10.0.1.2' }], 8080);
  store.set('EndpointSlice', [...slices(['10.0.1.3']), c]);
  assert.deepEqual(removed, [['http://10.0.1.1:8080']], '10.0.1.2 left b but is still behind c');
  store.set('EndpointSlice', slices(['10.0.1.3']));
  assert.deepEqual(removed[1], ['http://10.0.1.2:8080'], 'and now it left c too');
  removed.length = 0;
  store.set('EndpointSlice', slices([]).slice(0, 1)); // b's slice is deleted
  assert.deepEqual(removed, [['http://10.0.1.3:8080']]);
  assert.equal(cache.hasReadyEndpoints('default/b'), false);
  assert.equal(cache.hasReadyEndpoints('default/a'), true);
  cache.stop();
});

test('waiters of a Service are released when its slice turns ready, and only then', async () => {
  const store = new MemoryStore();
  store.set('EndpointSlice', [endpointSlice('a', [{ ip: '10.0.0.1', ready: false }], 8080)]);
  const cache = new ReadyEndpointsCache(store);
  cache.start();
  let called = 0;
  cache.waitReady('default/a', () => called++);
  store.set('EndpointSlice', [
    endpointSlice('a', [{ ip: '10.0.0.1', ready: false }], 8080),
    endpointSlice('b', [{ ip: '10.0.0.9' }], 8080),
  ]);
  await new Promise((r) => setImmediate(r));
  assert.equal(called, 0);
  store.set('EndpointSlice', [endpointSlice('a', [{ ip: '10.0.0.1' }], 8080)]);
  await new Promise((r) => setImmediate(r));
  assert.equal(called, 1);
  cache.stop();
});
