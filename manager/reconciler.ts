// The manager's reconcile: one Keda object's annotations in, the add-on installed, moved, kept
// right or removed. Level-based: every pass reads the current state and converges, so a restart in
// the middle of anything simply continues from the inventory.
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
import { parseAddonConfig, type AddonConfig } from './addon-config.ts';
import { applyAll, deleteAll } from './applier.ts';
import { Inventory, missingFrom, refOf, union } from './inventory.ts';
import { kinds } from './kinds.ts';
import { renderAddon, renderEnvoyFilter } from './render/render.ts';
import { names, projectVersion, type ImageValues } from './render/values.ts';
import {
  reasons,
  setAddonCondition,
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
  /** Hosts of every HTTPScaledObject and InterceptorRoute, when the route informers run. */
  routeHosts?: () => string[] | undefined;
}

/** Retry interval for conditions that only the world can fix (KEDA missing, routes in use). */
export const waitRetryMs = 30_000;
const addonDeployments = [names.interceptor, names.scaler, names.operator];

/** The Keda object that manages the add-on: the oldest one (ties broken by namespace/name). */
export function servedKeda(all: readonly Keda[]): Keda | undefined {
  return [...all].sort((a, b) => {
    const ta = a.metadata.creationTimestamp ?? '';
    const tb = b.metadata.creationTimestamp ?? '';
    if (ta !== tb) return ta < tb ? -1 : 1;
    return `${a.metadata.namespace}/${a.metadata.name}` < `${b.metadata.namespace}/${b.metadata.name}`
      ? -1
      : 1;
  })[0];
}

export class AddonReconciler {
  readonly #o: AddonReconcilerOptions;
  /** Hash and time of the last full apply per Keda key, so unchanged renderings are not re-sent. */
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
    if (isDeleting(keda)) return this.#uninstall(req.key, keda, 'deleting');

    const served = servedKeda(this.#o.kedas.list());
    if (served && served.metadata.uid !== keda.metadata.uid) {
      const inventory = this.#inventory(keda);
      if ((await inventory.read()).length === 0) {
        await setOwnedMetadata(this.#o.client, keda, { finalizer: false });
        return this.#condition(keda, {
          status: 'False',
          reason: reasons.notServed,
          message: `Keda ${served.metadata.namespace}/${served.metadata.name} manages the HTTP add-on; only one Keda object per cluster is served`,
        });
      }
      // Installed by this object before another one became the served one: hand over by removing it.
      return this.#uninstall(req.key, keda, 'disabled');
    }

    const parsed = parseAddonConfig(keda.metadata.annotations);
    if (!parsed.ok) {
      // Nothing is installed or removed on input we cannot read: the user fixes the annotation.
      return this.#condition(keda, {
        status: 'False',
        reason: reasons.invalidConfig,
        message: `invalid add-on annotations, nothing was changed: ${parsed.errors.join('; ')}`,
      });
    }
    if (!parsed.config.enabled) return this.#uninstall(req.key, keda, 'disabled');
    return this.#install(req.key, keda, parsed.config);
  };

  async #install(key: string, keda: Keda, config: AddonConfig): Promise<ReconcileResult | void> {
    const { client } = this.#o;
    const have = ownedMetadataOf(keda);
    keda = await setOwnedMetadata(client, keda, { ...have, finalizer: true });

    const kedaCrd = await client.get(kinds.crd, '', 'scaledobjects.keda.sh');
    if (!kedaCrd) {
      await this.#condition(keda, {
        status: 'False',
        reason: reasons.installErr,
        message:
          'KEDA core is not installed: CustomResourceDefinition scaledobjects.keda.sh was not found. ' +
          'Install KEDA first; the manager checks again every 30s',
      });
      return { requeueAfterMs: waitRetryMs };
    }

    const nsProblem = await this.#ensureNamespace(config.namespace);
    if (nsProblem) {
      await this.#condition(keda, { status: 'False', reason: reasons.installErr, message: nsProblem });
      return { requeueAfterMs: waitRetryMs };
    }

    const owner = { namespace: keda.metadata.namespace ?? '', name: keda.metadata.name };
    const objects = renderAddon(config, { owner, ...this.#o.image });
    if (config.envoyFilter.enabled) objects.push(...renderEnvoyFilter(config, this.#o.routeHosts?.() ?? []));
    const hash = createHash('sha256').update(JSON.stringify(objects)).digest('hex');
    const last = this.#lastApplied.get(key);
    if (!last || last.hash !== hash || Date.now() - last.at > this.#o.reapplyIntervalMs) {
      const problem = await this.#applyAndPrune(keda, objects);
      if (problem) {
        await this.#condition(keda, { status: 'False', reason: reasons.installErr, message: problem });
        throw new Error(problem); // retried with backoff
      }
      this.#lastApplied.set(key, { hash, at: Date.now() });
      this.#o.onCrdsInstalled?.();
    }
    keda = await setOwnedMetadata(client, keda, {
      finalizer: true,
      installedVersion: projectVersion,
      installedNamespace: config.namespace,
    });

    const waiting = addonDeployments.filter((name) => !this.#available(config.namespace, name));
    if (waiting.length > 0) {
      await this.#condition(keda, {
        status: 'False',
        reason: reasons.installing,
        message: `installing HTTP add-on v${projectVersion} in namespace ${config.namespace}: waiting for Deployment(s) ${waiting.join(', ')} to become Available`,
      });
      return { requeueAfterMs: 10_000 };
    }
    await this.#condition(keda, {
      status: 'True',
      reason: reasons.installed,
      message: `HTTP add-on v${projectVersion} installed in namespace ${config.namespace}`,
    });
  }

  /**
   * Records the union of old and new objects first (a crash mid-apply leaves nothing untracked),
   * applies the new set, deletes what is no longer rendered, then records the new set.
   */
  async #applyAndPrune(keda: Keda, objects: KubeObject[]): Promise<string | undefined> {
    const inventory = this.#inventory(keda);
    const before = await inventory.read();
    const after = objects.map(refOf);
    await inventory.write(union(before, after));
    const applyErrors = await applyAll(this.#o.client, objects);
    if (applyErrors.length > 0) {
      return `${applyErrors.length} object(s) could not be applied: ${applyErrors.join('; ')}`;
    }
    const stale = missingFrom(before, after);
    const pruneErrors = await deleteAll(this.#o.client, stale);
    if (pruneErrors.length > 0) {
      return `${pruneErrors.length} object(s) no longer needed could not be removed: ${pruneErrors.join('; ')}`;
    }
    if (stale.length > 0)
      this.#o.log.info('pruned objects', { keda: keda.metadata.name, count: stale.length });
    await inventory.write(after);
    return undefined;
  }

  async #uninstall(key: string, keda: Keda, why: 'disabled' | 'deleting'): Promise<ReconcileResult | void> {
    const { client } = this.#o;
    const inventory = this.#inventory(keda);
    const installed = await inventory.read();
    const meta = ownedMetadataOf(keda);
    if (installed.length === 0 && !meta.installedVersion) {
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

    const usage = await this.#routesInUse();
    if (typeof usage === 'string') {
      await this.#condition(keda, {
        status: 'False',
        reason: reasons.inUse,
        message: `Cannot verify HTTPScaledObject usage: ${usage}`,
      });
      return { requeueAfterMs: waitRetryMs };
    }
    if (usage.count > 0) {
      const action = why === 'deleting' ? 'deleting this Keda object' : 'disabling the HTTP add-on';
      await this.#condition(keda, {
        status: 'False',
        reason: reasons.inUse,
        message: `${usage.count} HTTPScaledObject(s) and InterceptorRoute(s) still exist on the cluster (${usage.examples.join(', ')}${
          usage.count > usage.examples.length ? ', ...' : ''
        }); delete them before ${action}`,
      });
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
      await this.#condition(keda, {
        status: 'False',
        reason: reasons.deleted,
        message: `HTTP add-on removed from ${ns}`,
      });
    }
    // Dropping the finalizer last: on deletion the Keda object goes away only once all is removed.
    await setOwnedMetadata(client, keda, { finalizer: false });
    this.#o.log.info('removed the HTTP add-on', { keda: key, objects: installed.length, namespace: ns });
  }

  /** Counts HTTPScaledObjects and InterceptorRoutes; a missing CRD counts as none. */
  async #routesInUse(): Promise<{ count: number; examples: string[] } | string> {
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
        return err instanceof Error ? err.message : String(err);
      }
    }
    return { count, examples };
  }

  /** Creates the namespace (labelled for Istio injection) if missing; says why it cannot be used. */
  async #ensureNamespace(name: string): Promise<string | undefined> {
    const { client } = this.#o;
    const ns = await client.get(kinds.namespace, '', name);
    if (ns && isDeleting(ns)) {
      return `namespace ${name} is being deleted; wait until it is gone or choose another addon-namespace`;
    }
    if (ns) return undefined;
    try {
      await client.create(kinds.namespace, {
        apiVersion: 'v1',
        kind: 'Namespace',
        metadata: { name, labels: { 'istio-injection': 'enabled' } },
      });
    } catch (err) {
      if (!isAlreadyExists(err))
        return `could not create namespace ${name}: ${err instanceof Error ? err.message : String(err)}`;
    }
    return undefined;
  }

  #available(namespace: string, name: string): boolean {
    const d = this.#o.deployments.get(namespace, name);
    if (!d) return false;
    const current = (d.status?.observedGeneration ?? 0) >= (d.metadata.generation ?? 0);
    return current && (d.status?.conditions ?? []).some((c) => c.type === 'Available' && c.status === 'True');
  }

  #inventory(keda: Keda): Inventory {
    return new Inventory(
      this.#o.client,
      { namespace: keda.metadata.namespace ?? 'default', name: keda.metadata.name, uid: keda.metadata.uid },
      'keda-http-manager',
    );
  }

  async #condition(keda: Keda, c: AddonCondition): Promise<void> {
    await setAddonCondition(this.#o.client, this.#o.events, keda, c);
  }
}
