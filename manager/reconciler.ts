// The manager's reconcile: one Keda object's annotations in, the add-on installed, moved, kept
// right or removed. Level-based: every pass reads the current state and converges, so a restart in
// the middle of anything simply continues from the inventory. This file only reads and writes; every
// choice is made by the pure functions in decide.ts, foreign.ts, references.ts and drift.ts.
import { createHash } from 'node:crypto';
import type { HTTPScaledObject, InterceptorRoute, Keda, KubeObject } from '../addon/api/index.ts';
import {
  ApiError,
  isAlreadyExists,
  isDeleting,
  type EventRecorder,
  type Informer,
  type KubeClient,
  type ReconcileResult,
  type Request,
} from '../addon/runtime/index.ts';
import type { Logger } from '../addon/shared/log.ts';
import type { AddonConfig } from './addon-config.ts';
import { applyAll, deleteAll } from './applier.ts';
import {
  applyDue,
  changedMeanwhileRetryMs,
  chooseAction,
  desiredObjects,
  hostsUnknownRetryMs,
  installBlocker,
  installedCondition,
  invalidConfigCondition,
  notServedCondition,
  nothingInstalled,
  planApply,
  uninstallBlocker,
  waitRetryMs,
  type ApplyPlan,
  type NamespaceState,
  type RoutesInUse,
} from './decide.ts';
import { howToChange, ownedFieldDrift } from './drift.ts';
import { identityObjects, managedElsewhere } from './foreign.ts';
import { describeRef, Inventory, refKey, refOf, type ObjectRef } from './inventory.ts';
import { externalMetricsApiService, kedaNamespaceFrom } from './keda-location.ts';
import { kindOf, kinds } from './kinds.ts';
import { staleReferences } from './references.ts';
import { names, projectVersion, type ImageValues } from './render/values.ts';
import {
  addonConditionType,
  reasons,
  referencesConditionType,
  setConditions,
  setOwnedMetadata,
  ownedMetadataOf,
  type AddonCondition,
} from './status.ts';

type Deployment = KubeObject & {
  status?: { observedGeneration?: number; conditions?: { type: string; status: string }[] };
};

export interface AddonReconcilerOptions {
  client: KubeClient;
  events: EventRecorder;
  log: Logger;
  kedas: Informer<Keda>;
  deployments: Informer<Deployment>;
  image?: Partial<ImageValues>;
  /** Re-apply an unchanged rendering this often anyway, to repair drift. */
  reapplyIntervalMs: number;
  /** Called once the add-on's CRDs exist, so route informers (for EnvoyFilter hosts) can start. */
  onCrdsInstalled?: () => void;
  /** Hosts of every HTTPScaledObject and InterceptorRoute; undefined until the route informers synced. */
  routeHosts?: () => string[] | undefined;
}

export class AddonReconciler {
  readonly #o: AddonReconcilerOptions;
  /**
   * Hash and time of the last full apply per Keda key. Only a cache that saves re-sending an
   * unchanged rendering: after a restart it is empty and the first pass applies everything, which
   * the server turns into no-ops.
   */
  readonly #lastApplied = new Map<string, { hash: string; at: number }>();

  constructor(opts: AddonReconcilerOptions) {
    this.#o = opts;
  }

  reconcile = async (req: Request): Promise<ReconcileResult | void> => {
    const keda = this.#o.kedas.get(req.namespace, req.name);
    if (!keda) {
      this.#lastApplied.delete(req.key);
      return;
    }
    const inventory = this.#inventory(keda);
    const state = await inventory.readState();
    const action = chooseAction(keda, this.#o.kedas.list(), state.refs);
    switch (action.kind) {
      case 'notServed':
        await setOwnedMetadata(this.#o.client, keda, { finalizer: false });
        return this.#condition(keda, notServedCondition(action.served));
      case 'invalid':
        // Nothing is installed or removed on input we cannot read: the user fixes the annotation.
        return this.#condition(keda, invalidConfigCondition(action.errors));
      case 'uninstall':
        return this.#uninstall(req.key, keda, inventory, state.refs, action.why);
      case 'install':
        return this.#install(req.key, keda, inventory, state, action.config);
    }
  };

  async #install(
    key: string,
    keda: Keda,
    inventory: Inventory,
    state: { refs: ObjectRef[]; renderedHash?: string },
    config: AddonConfig,
  ): Promise<ReconcileResult | void> {
    const { client } = this.#o;
    keda = await setOwnedMetadata(client, keda, { ...ownedMetadataOf(keda), finalizer: true });

    const kedaCrd = await client.get(kinds.crd, '', 'scaledobjects.keda.sh');
    const nsState = await this.#namespaceState(config.namespace);
    const blocker =
      installBlocker(kedaCrd !== undefined, config.namespace, nsState) ??
      (nsState === 'missing' ? await this.#createNamespace(config.namespace) : undefined);
    if (blocker) {
      await this.#condition(keda, blocker);
      return { requeueAfterMs: waitRetryMs };
    }

    const owner = { namespace: keda.metadata.namespace ?? '', name: keda.metadata.name };
    const kedaNamespace = await this.#kedaNamespace();
    const hosts = this.#o.routeHosts?.();
    const desired = desiredObjects(
      config,
      { owner, ...this.#o.image, ...(kedaNamespace ? { kedaNamespace } : {}) },
      hosts,
      state.refs,
    );
    const hash = createHash('sha256')
      .update(JSON.stringify([desired.objects, desired.held]))
      .digest('hex');
    let references: AddonCondition | undefined;
    if (applyDue(hash, this.#lastApplied.get(key), Date.now(), this.#o.reapplyIntervalMs)) {
      // An unchanged rendering: any difference in the live objects is someone else's edit, about to
      // be reverted, so every object is read to report it. Otherwise only the shared ones are read.
      const unchanged = state.renderedHash === hash;
      const live = await this.#live(unchanged ? desired.objects : identityObjects(desired.objects));
      const foreign = managedElsewhere(identityObjects(desired.objects).map((o) => live.get(refKeyOf(o))));
      if (foreign.length > 0) {
        await this.#condition(keda, {
          status: 'False',
          reason: reasons.managedElsewhere,
          message: `another controller manages ${foreign.map((f) => `${f.object} (${f.managedBy})`).join(', ')}; nothing was changed. Remove that installation of the HTTP add-on (or disable it there, e.g. Kyma's keda-manager), or disable it here with keda.kyma-project.io/addon-enabled=false`,
        });
        return { requeueAfterMs: waitRetryMs };
      }
      if (unchanged) await this.#reportDrift(keda, desired.objects, live);

      const readVersion = unchanged
        ? (o: KubeObject) => live.get(refKeyOf(o))?.metadata.resourceVersion
        : undefined;
      const plan = planApply(state.refs, desired);
      const problem = await this.#carryOut(keda, inventory, plan, hash, state, readVersion);
      if (problem === changedMeanwhile) return { requeueAfterMs: changedMeanwhileRetryMs };
      if (problem) {
        await this.#condition(keda, { status: 'False', reason: reasons.installErr, message: problem });
        throw new Error(problem); // retried with backoff
      }
      this.#lastApplied.set(key, { hash, at: Date.now() });
      this.#o.onCrdsInstalled?.();
      references = await this.#checkReferences(config.namespace);
    }
    keda = await setOwnedMetadata(client, keda, {
      finalizer: true,
      installedVersion: projectVersion,
      installedNamespace: config.namespace,
    });

    const status = installedCondition(config.namespace, (name) =>
      this.#o.deployments.get(config.namespace, name),
    );
    await setConditions(this.#o.client, this.#o.events, keda, {
      [addonConditionType]: status.condition,
      ...(references ? { [referencesConditionType]: references } : {}),
    });
    const waits = [
      status.requeueAfterMs,
      hosts === undefined && desired.held.length > 0 ? hostsUnknownRetryMs : undefined,
    ];
    const requeueAfterMs = Math.min(...waits.filter((w): w is number => w !== undefined));
    return Number.isFinite(requeueAfterMs) ? { requeueAfterMs } : undefined;
  }

  /** Records the union first, applies, prunes, then records the new set with its rendering's hash. */
  async #carryOut(
    keda: Keda,
    inventory: Inventory,
    plan: ApplyPlan,
    hash: string,
    state: { renderedHash?: string },
    readVersion?: (o: KubeObject) => string | undefined,
  ): Promise<string | typeof changedMeanwhile | undefined> {
    await inventory.write(plan.recordFirst, state.renderedHash === hash ? hash : undefined);
    const applied = await applyAll(this.#o.client, plan.apply, readVersion);
    if (applied.errors.length > 0) {
      return `${applied.errors.length} object(s) could not be applied: ${applied.errors.join('; ')}`;
    }
    if (applied.changedMeanwhile.length > 0) {
      // Compared before someone changed them: the next pass compares again and reports the change.
      this.#o.log.info('objects changed while being re-applied; looking again', {
        objects: applied.changedMeanwhile,
      });
      return changedMeanwhile;
    }
    const pruneErrors = await deleteAll(this.#o.client, plan.prune);
    if (pruneErrors.length > 0) {
      return `${pruneErrors.length} object(s) no longer needed could not be removed: ${pruneErrors.join('; ')}`;
    }
    if (plan.prune.length > 0)
      this.#o.log.info('pruned objects', { keda: keda.metadata.name, count: plan.prune.length });
    await inventory.write(plan.recordAfter, hash);
    return undefined;
  }

  async #uninstall(
    key: string,
    keda: Keda,
    inventory: Inventory,
    installed: ObjectRef[],
    why: 'disabled' | 'deleting',
  ): Promise<ReconcileResult | void> {
    const { client } = this.#o;
    const meta = ownedMetadataOf(keda);
    if (nothingInstalled(installed, meta.installedVersion)) {
      await setOwnedMetadata(client, keda, { finalizer: false });
      if (why === 'disabled') {
        await this.#condition(keda, {
          status: 'False',
          reason: reasons.disabled,
          message: 'HTTP add-on is disabled',
        });
      }
      return;
    }

    const blocker = uninstallBlocker(why, await this.#routesInUse());
    if (blocker) {
      await this.#condition(keda, blocker);
      return { requeueAfterMs: waitRetryMs };
    }

    const errors = await deleteAll(client, installed);
    if (errors.length > 0) {
      const message = `${errors.length} object(s) could not be removed: ${errors.join('; ')}`;
      await this.#condition(keda, { status: 'False', reason: reasons.installErr, message });
      throw new Error(message);
    }
    await inventory.remove();
    this.#lastApplied.delete(key);
    const ns = meta.installedNamespace ?? 'its namespace';
    if (why === 'disabled') {
      await setConditions(client, this.#o.events, keda, {
        [addonConditionType]: {
          status: 'False',
          reason: reasons.deleted,
          message: `HTTP add-on removed from ${ns}`,
        },
        [referencesConditionType]: null,
      });
    }
    // Dropping the finalizer last: on deletion the Keda object goes away only once all is removed.
    await setOwnedMetadata(client, keda, { finalizer: false });
    this.#o.log.info('removed the HTTP add-on', { keda: key, objects: installed.length, namespace: ns });
  }

  /** Counts HTTPScaledObjects and InterceptorRoutes; a missing CRD counts as none. */
  async #routesInUse(): Promise<RoutesInUse> {
    let count = 0;
    const examples: string[] = [];
    for (const kind of [kinds.httpScaledObject, kinds.interceptorRoute]) {
      try {
        const list = await this.#o.client.list<HTTPScaledObject | InterceptorRoute>(kind);
        count += list.items.length;
        for (const o of list.items.slice(0, 3 - examples.length)) {
          examples.push(`${kind.kind} ${o.metadata.namespace}/${o.metadata.name}`);
        }
      } catch (err) {
        if (err instanceof ApiError && err.code === 404) continue;
        return { error: err instanceof Error ? err.message : String(err) };
      }
    }
    return { count, examples };
  }

  async #namespaceState(name: string): Promise<NamespaceState> {
    const ns = await this.#o.client.get(kinds.namespace, '', name);
    return !ns ? 'missing' : isDeleting(ns) ? 'deleting' : 'present';
  }

  /** Creates the namespace, labelled for Istio injection; a condition saying why it could not. */
  async #createNamespace(name: string): Promise<AddonCondition | undefined> {
    try {
      await this.#o.client.create(kinds.namespace, {
        apiVersion: 'v1',
        kind: 'Namespace',
        metadata: { name, labels: { 'istio-injection': 'enabled' } },
      });
    } catch (err) {
      if (!isAlreadyExists(err)) {
        return {
          status: 'False',
          reason: reasons.installErr,
          message: `could not create namespace ${name}: ${err instanceof Error ? err.message : String(err)}`,
        };
      }
    }
    return undefined;
  }

  /** KEDA's namespace from its APIService, else from its operator Deployment; undefined if unknown. */
  async #kedaNamespace(): Promise<string | undefined> {
    const { client, log } = this.#o;
    try {
      const apiService = await client.get(kinds.apiService, '', externalMetricsApiService);
      const fromApiService = kedaNamespaceFrom(apiService, []);
      if (fromApiService) return fromApiService;
      const operators = await client.list(kinds.deployment, { labelSelector: 'app=keda-operator' });
      return kedaNamespaceFrom(undefined, operators.items);
    } catch (err) {
      log.warn('could not find where KEDA runs; the scaler admits KEDA from any namespace', {
        error: err instanceof Error ? err.message : String(err),
      });
      return undefined;
    }
  }

  /** The live versions of these objects (those that exist), by ref key. */
  async #live(objects: readonly KubeObject[]): Promise<Map<string, KubeObject>> {
    const out = new Map<string, KubeObject>();
    for (const o of objects) {
      const live = await this.#o.client.get(kindOf(o), o.metadata.namespace ?? '', o.metadata.name);
      if (live) out.set(refKeyOf(o), live);
    }
    return out;
  }

  /** An Event on each changed object and on the Keda object for every owned field about to be reverted. */
  async #reportDrift(
    keda: Keda,
    rendered: readonly KubeObject[],
    live: Map<string, KubeObject>,
  ): Promise<void> {
    for (const o of rendered) {
      for (const d of ownedFieldDrift(o, live.get(refKeyOf(o)))) {
        const message = `${d.field} was changed to ${d.live}; the manager owns it and set it back to ${d.rendered}. To change it, ${howToChange(d)}`;
        await this.#o.events.record(d.object, 'Warning', 'HTTPAddonOwnedFieldReverted', message);
        await this.#o.events.record(
          keda,
          'Warning',
          'HTTPAddonOwnedFieldReverted',
          `${describeRef(refOf(d.object))}: ${message}`,
        );
      }
    }
  }

  /**
   * Users' objects pointing at the add-on's Services elsewhere: an Event on each, and the
   * AddonReferencesCurrent condition naming them (whose change is an Event on the Keda object). Kinds the cluster does not serve
   * (no Gateway API, no Istio) have nothing to check.
   */
  async #checkReferences(addonNamespace: string): Promise<AddonCondition> {
    const objects: KubeObject[] = [];
    const unchecked: string[] = [];
    for (const kind of [
      kinds.scaledObject,
      kinds.ingress,
      kinds.httpRoute,
      kinds.referenceGrant,
      kinds.virtualService,
    ]) {
      try {
        objects.push(...(await this.#o.client.list(kind)).items);
      } catch (err) {
        if (err instanceof ApiError && err.code === 404) continue;
        unchecked.push(`${kind.kind} (${err instanceof Error ? err.message : String(err)})`);
      }
    }
    const stale = staleReferences(objects, addonNamespace);
    for (const s of stale) {
      await this.#o.events.record(
        s.object,
        'Warning',
        reasons.staleReferences,
        `${s.what}: the HTTP add-on does not run in ${s.namespace} but in ${addonNamespace}; point it at ${
          s.object.kind === 'ScaledObject' ? names.scaler : names.interceptorProxy
        }.${addonNamespace}`,
      );
    }
    const uncheckedNote = unchecked.length > 0 ? `; could not check ${unchecked.join(', ')}` : '';
    if (stale.length === 0) {
      return {
        status: 'True',
        reason: reasons.referencesCurrent,
        message: `no ScaledObject, Ingress, HTTPRoute, ReferenceGrant or VirtualService points at the add-on's Services outside ${addonNamespace}${uncheckedNote}`,
      };
    }
    return {
      status: 'False',
      reason: reasons.staleReferences,
      message: `${stale.length} object(s) still point at the add-on's Services in a namespace it does not run in (it runs in ${addonNamespace}); update them: ${stale
        .map((s) => `${describeRef(refOf(s.object))} (${s.what})`)
        .join(', ')}${uncheckedNote}`,
    };
  }

  #inventory(keda: Keda): Inventory {
    return new Inventory(
      this.#o.client,
      { namespace: keda.metadata.namespace ?? 'default', name: keda.metadata.name, uid: keda.metadata.uid },
      'keda-http-manager',
    );
  }

  async #condition(keda: Keda, c: AddonCondition): Promise<void> {
    await setConditions(this.#o.client, this.#o.events, keda, { [addonConditionType]: c });
  }
}

const refKeyOf = (o: KubeObject): string => refKey(refOf(o));
const changedMeanwhile = Symbol('changed meanwhile');
