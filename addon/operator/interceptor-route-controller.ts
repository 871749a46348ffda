// Keeps each InterceptorRoute's Ready condition truthful: True only when its target Service and port,
// its fallback Service and port, and every ConfigMap body it names exist (the ConfigMaps labelled so
// the interceptor can read them). Re-evaluated whenever one of those objects changes; an Event is
// emitted whenever Ready flips or its reason changes.
import {
  interceptorRouteConditions,
  interceptorRouteKind,
  responseBodyLabel,
  type InterceptorRoute,
} from '../api/interceptor-route.ts';
import { kinds } from '../api/kinds.ts';
import type { KubeObject } from '../api/meta.ts';
import { isNotFound } from '../runtime/client.ts';
import { conditionUnchanged, findCondition, setCondition } from '../runtime/conditions.ts';
import type { Controller, ReconcileResult, Request } from '../runtime/controller.ts';
import type { EventRecorder } from '../runtime/events.ts';
import type { Manager } from '../runtime/manager.ts';
import {
  evaluateInterceptorRoute,
  readinessReasons,
  referencedNames,
  type ConfigMap,
  type Service,
} from './interceptor-route-readiness.ts';

export const serviceKind = kinds.service;
export const configMapKind = kinds.configMap;

/**
 * We cache only labelled ConfigMaps (as the interceptor does; ConfigMaps can be large), so an
 * unlabelled one appearing or changing sends no event. Routes waiting on one are re-checked this often.
 */
export const configMapRecheckMs = 30_000;

export function registerInterceptorRouteController(o: {
  manager: Manager;
  events: EventRecorder;
}): Controller {
  const { manager, events } = o;
  const client = manager.client;
  const routes = manager.informer<InterceptorRoute>(interceptorRouteKind);
  const services = manager.informer<Service>(serviceKind);
  const bodies = manager.informer<ConfigMap>(configMapKind, { labelSelector: `${responseBodyLabel}=true` });

  async function reconcile(req: Request): Promise<ReconcileResult | void> {
    const ir = routes.get(req.namespace, req.name);
    if (!ir) return;
    const ns = ir.metadata.namespace ?? '';
    // Labelled ConfigMaps come from the cache; for any other we ask the API whether it exists at all,
    // to tell "missing" from "not labelled".
    const configMaps = new Map<string, ConfigMap | undefined>();
    for (const name of referencedNames(ir).configMaps) {
      if (configMaps.has(name)) continue;
      configMaps.set(name, bodies.get(ns, name) ?? (await client.get<ConfigMap>(configMapKind, ns, name)));
    }
    const readiness = evaluateInterceptorRoute(ir, {
      service: (namespace, name) => services.get(namespace, name),
      configMap: (_namespace, name) => configMaps.get(name),
    });
    const next = {
      type: interceptorRouteConditions.ready,
      status: readiness.status,
      reason: readiness.reason,
      message: readiness.message,
      ...(ir.metadata.generation !== undefined ? { observedGeneration: ir.metadata.generation } : {}),
    };
    const before = findCondition(ir.status?.conditions, interceptorRouteConditions.ready);
    if (!conditionUnchanged(ir.status?.conditions, next)) {
      try {
        await client.patch(
          interceptorRouteKind,
          ns,
          ir.metadata.name,
          { status: { conditions: setCondition(ir.status?.conditions, next) } },
          'merge',
          { subresource: 'status' },
        );
      } catch (err) {
        if (isNotFound(err)) return;
        throw err;
      }
      if (before?.status !== next.status || before.reason !== next.reason) {
        await events.record(
          ir,
          next.status === 'True' ? 'Normal' : 'Warning',
          next.status === 'True' ? 'Ready' : next.reason,
          next.message,
        );
      }
    }
    const waitsOnUnlabelled = readiness.problems.some(
      (p) => p === readinessReasons.configMapNotFound || p === readinessReasons.configMapNotLabelled,
    );
    return waitsOnUnlabelled ? { requeueAfterMs: configMapRecheckMs } : undefined;
  }

  /** Keys of the routes in the object's namespace that name it as a Service or a ConfigMap body. */
  const routesReferencing =
    (which: 'services' | 'configMaps') =>
    (obj: KubeObject): string[] =>
      routes
        .list(obj.metadata.namespace)
        .filter((ir) => referencedNames(ir)[which].includes(obj.metadata.name))
        .map((ir) => `${ir.metadata.namespace ?? ''}/${ir.metadata.name}`);

  const controller = manager.controller({ name: 'interceptorroute', reconcile });
  controller.watch(routes, {
    // Status writes do not change the generation; reacting to them would loop.
    filter: (e) => e.type !== 'modified' || e.old?.metadata.generation !== e.object.metadata.generation,
  });
  controller.watch(services, {
    map: routesReferencing('services'),
    filter: (e) => e.type !== 'modified' || JSON.stringify(e.old?.spec) !== JSON.stringify(e.object.spec),
  });
  controller.watch(bodies, { map: routesReferencing('configMaps') });
  return controller;
}
