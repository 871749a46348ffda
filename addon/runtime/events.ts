// Kubernetes Events (core/v1) about the objects a controller manages, so `kubectl describe` shows
// what happened and why. Repeats of the same event on the same object bump the count of the
// existing Event instead of creating a new one, as client-go's recorder does.
import { randomBytes } from 'node:crypto';
import { kinds } from '../api/kinds.ts';
import type { KubeObject } from '../api/meta.ts';
import { isNotFound, type KubeClient } from './client.ts';
import type { Logger } from '../shared/log.ts';
import { errorFields } from '../shared/log.ts';

export const eventKind = kinds.event;

export type EventType = 'Normal' | 'Warning';

type CoreEvent = KubeObject & { count?: number; lastTimestamp?: string };

export class EventRecorder {
  readonly #client: KubeClient;
  readonly #component: string;
  readonly #log: Logger;
  /** Recently written events by (object, type, reason, message), for aggregation. */
  readonly #recent = new Map<string, { name: string; namespace: string; count: number }>();

  constructor(client: KubeClient, component: string, log: Logger) {
    this.#client = client;
    this.#component = component;
    this.#log = log;
  }

  /** Records an event; never throws (an event is worth less than the reconcile that emits it). */
  async record(obj: KubeObject, type: EventType, reason: string, message: string): Promise<void> {
    const namespace = obj.metadata.namespace ?? 'default';
    const key = `${obj.metadata.uid ?? ''}|${type}|${reason}|${message}`;
    const now = new Date().toISOString().replace(/\.\d{3}Z$/, 'Z');
    try {
      const seen = this.#recent.get(key);
      if (seen) {
        seen.count++;
        try {
          await this.#client.patch(
            eventKind,
            seen.namespace,
            seen.name,
            { count: seen.count, lastTimestamp: now },
            'merge',
          );
          return;
        } catch (err) {
          if (!isNotFound(err)) throw err;
          this.#recent.delete(key); // expired: write a new one
        }
      }
      const name = `${obj.metadata.name}.${Date.now().toString(16)}${randomBytes(2).toString('hex')}`;
      await this.#client.create<CoreEvent>(eventKind, {
        apiVersion: 'v1',
        kind: 'Event',
        metadata: { name, namespace },
        involvedObject: {
          apiVersion: obj.apiVersion,
          kind: obj.kind,
          name: obj.metadata.name,
          namespace: obj.metadata.namespace,
          uid: obj.metadata.uid,
          resourceVersion: obj.metadata.resourceVersion,
        },
        type,
        reason,
        message,
        source: { component: this.#component },
        reportingComponent: this.#component,
        firstTimestamp: now,
        lastTimestamp: now,
        count: 1,
      });
      if (this.#recent.size > 1000) this.#recent.clear();
      this.#recent.set(key, { name, namespace, count: 1 });
    } catch (err) {
      this.#log.warn('could not record event', { reason, object: obj.metadata.name, ...errorFields(err) });
    }
  }
}
