// Reconciles HTTPScaledObjects into KEDA ScaledObjects, following upstream step by step
// (operator/controllers/http/httpscaledobject_controller.go), with one deliberate difference:
// an object we cannot act on (both scaling metrics set) gets Ready=False and a Warning Event
// instead of an error that is retried forever.
import {
  httpScaledObjectAnnotations as annotations,
  httpScaledObjectConditions as conditions,
  httpScaledObjectFinalizer,
  httpScaledObjectKind,
  type HTTPScaledObject,
  type HTTPScaledObjectStatus,
} from '../api/http-scaled-object.ts';
import type { Condition } from '../api/meta.ts';
import { scaledObjectKind, type ScaledObject } from '../api/scaled-object.ts';
import { isAlreadyExists, isNotFound } from '../runtime/client.ts';
import { setCondition } from '../runtime/conditions.ts';
import type { Controller, ReconcileResult, Request } from '../runtime/controller.ts';
import type { EventRecorder } from '../runtime/events.ts';
import type { InformerEvent } from '../runtime/informer.ts';
import type { Manager } from '../runtime/manager.ts';
import { controllerOf, isDeleting, setFinalizer } from '../runtime/objects.ts';
import { errorFields } from '../shared/log.ts';
import {
  desiredScaledObject,
  isSubset,
  ownedByHTTPScaledObject,
  targetService,
  targetWorkload,
} from './scaled-object.ts';

export const bothMetricsMessage =
  '.spec.scalingMetric.concurrency and .spec.scalingMetric.rate are mutually exclusive';

export interface HTTPScaledObjectControllerOptions {
  manager: Manager;
  events: EventRecorder;
  scalerAddress: string;
}

export function registerHTTPScaledObjectController(o: HTTPScaledObjectControllerOptions): Controller {
  const { manager, events, scalerAddress } = o;
  const client = manager.client;
  const log = manager.log.child({ controller: 'httpscaledobject' });
  const httpsos = manager.informer<HTTPScaledObject>(httpScaledObjectKind);
  const scaledObjects = manager.informer<ScaledObject>(scaledObjectKind);
  const warnedDeprecated = new Set<string>();

  async function reconcile(req: Request): Promise<ReconcileResult | void> {
    const cached = httpsos.get(req.namespace, req.name);
    if (!cached) return;
    let httpso = cached;

    if (isDeleting(httpso)) {
      // The ScaledObject goes with it through garbage collection (unless it was orphaned).
      await setFinalizer(client, httpScaledObjectKind, httpso, httpScaledObjectFinalizer, false);
      return;
    }
    if (httpso.metadata.uid && !warnedDeprecated.has(httpso.metadata.uid)) {
      warnedDeprecated.add(httpso.metadata.uid);
      log.warn(
        'HTTPScaledObject is deprecated; migrate to an InterceptorRoute plus your own ScaledObject (see the add-on migration guide)',
        { key: req.key },
      );
    }
    httpso = await setFinalizer(client, httpScaledObjectKind, httpso, httpScaledObjectFinalizer, true);

    const status: HTTPScaledObjectStatus = {
      ...httpso.status,
      targetWorkload: targetWorkload(httpso),
      targetService: targetService(httpso),
      // Upstream drops conditions without a transition time (left over from an older format).
      conditions: (httpso.status?.conditions ?? []).filter((c) => c.lastTransitionTime),
    };
    const gen = httpso.metadata.generation;

    const metric = httpso.spec.scalingMetric;
    if (metric?.concurrency && metric.requestRate) {
      // Retrying cannot fix this; only the user can. Say so once and wait for a spec change.
      const message = `Failed to create scaled objects: ${bothMetricsMessage}; set only one of them`;
      await writeStatus(
        httpso,
        status,
        { status: 'False', reason: conditions.reasonCreateError, message },
        gen,
      );
      return;
    }

    try {
      await syncScaledObject(httpso);
    } catch (err) {
      const message = `Failed to create scaled objects: ${(err as Error).message}`;
      await writeStatus(
        httpso,
        status,
        { status: 'False', reason: conditions.reasonCreateError, message },
        gen,
      );
      throw err;
    }
    await writeStatus(
      httpso,
      status,
      { status: 'True', reason: conditions.reasonReconciled, message: conditions.messageReconciled },
      gen,
    );
  }

  async function syncScaledObject(httpso: HTTPScaledObject): Promise<void> {
    const ns = httpso.metadata.namespace ?? '';
    const name = httpso.metadata.name;
    const anns = httpso.metadata.annotations ?? {};
    if (anns[annotations.orphanScaledObject] === 'true') {
      // Keep the ScaledObject when the HTTPScaledObject goes (migration to InterceptorRoute).
      const so = await client.get<ScaledObject>(scaledObjectKind, ns, name);
      const refs = so?.metadata.ownerReferences ?? [];
      if (!so || !refs.some((r) => ownedByHTTPScaledObject(r, name))) return;
      so.metadata.ownerReferences = refs.filter((r) => !ownedByHTTPScaledObject(r, name));
      await client.update(scaledObjectKind, so);
      log.info('orphaned ScaledObject', { key: `${ns}/${name}` });
      return;
    }
    if (anns[annotations.skipScaledObjectCreation] === 'true') {
      // The user brings their own ScaledObject; remove the one we made earlier, if any.
      const so = scaledObjects.get(ns, name) ?? (await client.get<ScaledObject>(scaledObjectKind, ns, name));
      if (so && (so.metadata.ownerReferences ?? []).some((r) => ownedByHTTPScaledObject(r, name))) {
        await client.delete(scaledObjectKind, ns, name).catch((err: unknown) => {
          log.error('could not delete the ScaledObject of a skip-scaledobject-creation HTTPScaledObject', {
            key: `${ns}/${name}`,
            ...errorFields(err),
          });
        });
      }
      return;
    }
    const desired = desiredScaledObject(httpso, scalerAddress);
    const existing = scaledObjects.get(ns, name);
    if (existing) {
      const owner = controllerOf(existing);
      if (owner && owner.uid !== httpso.metadata.uid)
        throw new Error(
          `ScaledObject ${ns}/${name} already exists and is controlled by ${owner.kind} ${owner.name}; delete it or rename the HTTPScaledObject`,
        );
      if (isSubset(desired.metadata, existing.metadata) && isSubset(desired.spec, existing.spec)) return;
    }
    try {
      if (!existing) {
        await client.create(scaledObjectKind, desired);
        await events.record(httpso, 'Normal', 'ScaledObjectCreated', `Created ScaledObject ${name}`);
        return;
      }
    } catch (err) {
      if (!isAlreadyExists(err)) throw err;
    }
    // As upstream: send the whole desired object as a JSON merge patch.
    await client.patch(scaledObjectKind, ns, name, desired, 'merge');
  }

  async function writeStatus(
    httpso: HTTPScaledObject,
    status: HTTPScaledObjectStatus,
    ready: Pick<Condition, 'status' | 'reason' | 'message'>,
    generation: number | undefined,
  ): Promise<void> {
    const before = httpso.status?.conditions?.find((c) => c.type === conditions.ready);
    const next: HTTPScaledObjectStatus = {
      ...status,
      conditions: setCondition(status.conditions, {
        type: conditions.ready,
        ...ready,
        ...(generation !== undefined ? { observedGeneration: generation } : {}),
      }),
    };
    if (JSON.stringify(next) === JSON.stringify(httpso.status ?? {})) return;
    try {
      await client.patch(
        httpScaledObjectKind,
        httpso.metadata.namespace,
        httpso.metadata.name,
        { status: next },
        'merge',
        { subresource: 'status' },
      );
    } catch (err) {
      if (isNotFound(err)) return;
      throw err;
    }
    if (
      before?.status !== ready.status ||
      before.reason !== ready.reason ||
      before.message !== ready.message
    ) {
      await events.record(
        httpso,
        ready.status === 'True' ? 'Normal' : 'Warning',
        ready.reason,
        ready.message,
      );
    }
  }

  const controller = manager.controller({ name: 'httpscaledobject', reconcile });
  controller.watch(httpsos, { filter: httpsoChanged });
  // An owned ScaledObject changed or vanished: put it back (status-only updates are ignored).
  controller.watch(scaledObjects, {
    filter: scaledObjectChanged,
    map: (so) => {
      const owner = controllerOf(so);
      return owner && owner.kind === 'HTTPScaledObject'
        ? [`${so.metadata.namespace ?? ''}/${owner.name}`]
        : [];
    },
  });
  return controller;
}

/** Upstream's predicates: spec (generation), the two annotations, labels/annotations we copy, deletion. */
function httpsoChanged(e: InformerEvent<HTTPScaledObject>): boolean {
  if (e.type !== 'modified' || !e.old) return true;
  const a = e.old.metadata;
  const b = e.object.metadata;
  return (
    a.generation !== b.generation ||
    a.deletionTimestamp !== b.deletionTimestamp ||
    JSON.stringify(a.labels ?? {}) !== JSON.stringify(b.labels ?? {}) ||
    JSON.stringify(a.annotations ?? {}) !== JSON.stringify(b.annotations ?? {}) ||
    JSON.stringify(a.finalizers ?? []) !== JSON.stringify(b.finalizers ?? [])
  );
}

function scaledObjectChanged(e: InformerEvent<ScaledObject>): boolean {
  if (e.type !== 'modified' || !e.old) return true;
  const a = e.old;
  const b = e.object;
  return (
    JSON.stringify(a.spec) !== JSON.stringify(b.spec) ||
    JSON.stringify(a.metadata.labels ?? {}) !== JSON.stringify(b.metadata.labels ?? {}) ||
    JSON.stringify(a.metadata.annotations ?? {}) !== JSON.stringify(b.metadata.annotations ?? {}) ||
    JSON.stringify(a.metadata.ownerReferences ?? []) !== JSON.stringify(b.metadata.ownerReferences ?? [])
  );
}
