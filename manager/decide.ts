// The manager's decisions, as pure functions of what it observed: which Keda object is served,
// whether to install or remove, what to apply and prune, and what to report. No I/O here; the
// reconciler gathers the inputs, calls these one step at a time and carries out the answers, so
// every rule can be tested without a cluster.
import type { Keda, KubeObject } from '../addon/api/index.ts';
import { isDeleting } from '../addon/runtime/index.ts';
import { parseAddonConfig, type AddonConfig } from './addon-config.ts';
import { missingFrom, refOf, union, type ObjectRef } from './inventory.ts';
import { renderAddon, renderEnvoyFilter } from './render/render.ts';
import { names, projectVersion, type AddonValueOptions } from './render/values.ts';
import { reasons, type AddonCondition } from './status.ts';

/** Retry interval for conditions that only the world can fix (KEDA missing, routes in use). */
export const waitRetryMs = 30_000;
/** How soon to look again while the route informers have not synced and the EnvoyFilter is held. */
export const hostsUnknownRetryMs = 5_000;
/** How soon to compare again when an object changed between the comparison and the re-apply. */
export const changedMeanwhileRetryMs = 1_000;
/** How soon to look again while the add-on's Deployments are not Available yet. */
export const installingRetryMs = 10_000;

export const addonDeployments = [names.interceptor, names.scaler, names.operator] as const;

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

export type Action =
  | { kind: 'notServed'; served: Keda }
  | { kind: 'invalid'; errors: string[] }
  | { kind: 'uninstall'; why: 'disabled' | 'deleting' }
  | { kind: 'install'; config: AddonConfig };

/**
 * What to do with one Keda object. A Keda object that is not the served one but still has an
 * install hands it over by removing it; bad annotations change nothing.
 */
export function chooseAction(keda: Keda, all: readonly Keda[], installed: readonly ObjectRef[]): Action {
  if (isDeleting(keda)) return { kind: 'uninstall', why: 'deleting' };
  const served = servedKeda(all);
  if (served && served.metadata.uid !== keda.metadata.uid) {
    return installed.length === 0 ? { kind: 'notServed', served } : { kind: 'uninstall', why: 'disabled' };
  }
  const parsed = parseAddonConfig(keda.metadata.annotations);
  if (!parsed.ok) return { kind: 'invalid', errors: parsed.errors };
  if (!parsed.config.enabled) return { kind: 'uninstall', why: 'disabled' };
  return { kind: 'install', config: parsed.config };
}

export function notServedCondition(served: Keda): AddonCondition {
  return {
    status: 'False',
    reason: reasons.notServed,
    message: `Keda ${served.metadata.namespace}/${served.metadata.name} manages the HTTP add-on; only one Keda object per cluster is served`,
  };
}

export function invalidConfigCondition(errors: readonly string[]): AddonCondition {
  return {
    status: 'False',
    reason: reasons.invalidConfig,
    message: `invalid add-on annotations, nothing was changed: ${errors.join('; ')}`,
  };
}

export type NamespaceState = 'present' | 'missing' | 'deleting';

/** Why the add-on cannot be installed right now (retried every 30 s), or undefined. */
export function installBlocker(
  kedaCoreInstalled: boolean,
  namespace: string,
  namespaceState: NamespaceState,
): AddonCondition | undefined {
  if (!kedaCoreInstalled) {
    return {
      status: 'False',
      reason: reasons.installErr,
      message:
        'KEDA core is not installed: CustomResourceDefinition scaledobjects.keda.sh was not found. ' +
        'Install KEDA first; the manager checks again every 30s',
    };
  }
  if (namespaceState === 'deleting') {
    return {
      status: 'False',
      reason: reasons.installErr,
      message: `namespace ${namespace} is being deleted; wait until it is gone or choose another addon-namespace`,
    };
  }
  return undefined;
}

export interface Desired {
  /** Objects to apply, CRDs first. */
  objects: KubeObject[];
  /**
   * Applied earlier and neither re-rendered nor to be pruned: the EnvoyFilter while the route
   * hosts are unknown. Rendering it from no hosts would delete it, and with it the retries that
   * make cold starts through the Istio gateway work, after every restart or leader change.
   */
  held: ObjectRef[];
}

/**
 * The add-on's objects for this configuration. `routeHosts` undefined means the route informers
 * have not synced: the EnvoyFilter already applied (if any) is kept as it is.
 */
export function desiredObjects(
  config: AddonConfig,
  opts: AddonValueOptions,
  routeHosts: readonly string[] | undefined,
  installed: readonly ObjectRef[],
): Desired {
  const objects = renderAddon(config, opts);
  if (!config.envoyFilter.enabled) return { objects, held: [] };
  if (routeHosts === undefined) {
    return { objects, held: installed.filter((r) => r.kind === 'EnvoyFilter') };
  }
  objects.push(...renderEnvoyFilter(config, routeHosts));
  return { objects, held: [] };
}

export interface ApplyPlan {
  /** Written to the inventory before anything is applied: a crash mid-apply leaves nothing untracked. */
  recordFirst: ObjectRef[];
  apply: KubeObject[];
  /** In the inventory, not rendered and not held: deleted after a successful apply. */
  prune: ObjectRef[];
  /** Written to the inventory once apply and prune succeeded. */
  recordAfter: ObjectRef[];
}

export function planApply(installed: readonly ObjectRef[], desired: Desired): ApplyPlan {
  const after = union(desired.objects.map(refOf), desired.held);
  return {
    recordFirst: union(installed, after),
    apply: desired.objects,
    prune: missingFrom(installed, after),
    recordAfter: after,
  };
}

/**
 * Whether to send the rendering: it changed since the last apply, or the last full apply is older
 * than the re-apply interval (drift repair). `last` is only a cache: without it, everything is
 * applied, which is a no-op on the server for unchanged objects.
 */
export function applyDue(
  hash: string,
  last: { hash: string; at: number } | undefined,
  now: number,
  reapplyIntervalMs: number,
): boolean {
  return !last || last.hash !== hash || now - last.at > reapplyIntervalMs;
}

type Deployment = KubeObject & {
  status?: { observedGeneration?: number; conditions?: { type: string; status: string }[] };
};

export function isAvailable(d: Deployment | undefined): boolean {
  if (!d) return false;
  const current = (d.status?.observedGeneration ?? 0) >= (d.metadata.generation ?? 0);
  return current && (d.status?.conditions ?? []).some((c) => c.type === 'Available' && c.status === 'True');
}

/** AddonInstalled once the objects are applied: True only when every Deployment is Available. */
export function installedCondition(
  namespace: string,
  deploymentOf: (name: string) => Deployment | undefined,
): { condition: AddonCondition; requeueAfterMs?: number } {
  const waiting = addonDeployments.filter((name) => !isAvailable(deploymentOf(name)));
  if (waiting.length > 0) {
    return {
      condition: {
        status: 'False',
        reason: reasons.installing,
        message: `installing HTTP add-on v${projectVersion} in namespace ${namespace}: waiting for Deployment(s) ${waiting.join(', ')} to become Available`,
      },
      requeueAfterMs: installingRetryMs,
    };
  }
  return {
    condition: {
      status: 'True',
      reason: reasons.installed,
      message: `HTTP add-on v${projectVersion} installed in namespace ${namespace}`,
    },
  };
}

export type RoutesInUse = { count: number; examples: string[] } | { error: string };

/** Whether removing needs the in-use check at all: only when something is installed. */
export function nothingInstalled(
  installed: readonly ObjectRef[],
  installedVersion: string | undefined,
): boolean {
  return installed.length === 0 && !installedVersion;
}

/** Why removal must wait for the user (routes still exist, or they cannot be counted), or undefined. */
export function uninstallBlocker(
  why: 'disabled' | 'deleting',
  usage: RoutesInUse,
): AddonCondition | undefined {
  if ('error' in usage) {
    return {
      status: 'False',
      reason: reasons.inUse,
      message: `Cannot verify HTTPScaledObject usage: ${usage.error}`,
    };
  }
  if (usage.count === 0) return undefined;
  const action = why === 'deleting' ? 'deleting this Keda object' : 'disabling the HTTP add-on';
  return {
    status: 'False',
    reason: reasons.inUse,
    message: `${usage.count} HTTPScaledObject(s) and InterceptorRoute(s) still exist on the cluster (${usage.examples.join(', ')}${
      usage.count > usage.examples.length ? ', ...' : ''
    }); delete them before ${action}`,
  };
}
