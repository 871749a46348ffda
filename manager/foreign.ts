// Objects of the add-on that another controller manages. Kyma's keda-manager (and upstream's Helm
// chart) install the same add-on under the same names: the same CRDs, and Deployments such as
// keda-add-ons-http-interceptor. Two controllers force-applying one object undo each other's
// writes forever, so the manager looks before it applies and stops with a condition instead.
import type { KubeObject } from '../addon/api/index.ts';
import { fieldManager } from './applier.ts';
import { describeRef, refOf } from './inventory.ts';
import { managedByLabel, managedByValue } from './render/values.ts';

/** Field managers of controllers known to install the HTTP add-on themselves. */
export const knownForeignFieldManagers = ['keda-manager'];

type Meta = KubeObject['metadata'] & {
  managedFields?: { manager?: string; operation?: string }[];
  ownerReferences?: { kind: string; name: string; controller?: boolean }[];
};

/**
 * Who else manages this live object, or undefined when it is the manager's own (or nobody's):
 * a managed-by label naming someone else, a controlling owner, or a field manager of a controller
 * known to install the add-on. Fields a person set with kubectl do not count.
 */
export function foreignManager(live: KubeObject): string | undefined {
  const meta = live.metadata as Meta;
  const label = meta.labels?.[managedByLabel];
  if (label !== undefined && label !== managedByValue) return `label ${managedByLabel}=${label}`;
  const owner = meta.ownerReferences?.find((o) => o.controller === true);
  if (owner) return `controller ${owner.kind} ${owner.name}`;
  const other = meta.managedFields?.find(
    (f) =>
      f.manager !== undefined && f.manager !== fieldManager && knownForeignFieldManagers.includes(f.manager),
  );
  if (other) return `field manager ${other.manager}`;
  return undefined;
}

export interface ForeignObject {
  object: string;
  managedBy: string;
}

/** Every live object another controller manages, described for a condition. */
export function managedElsewhere(live: readonly (KubeObject | undefined)[]): ForeignObject[] {
  const out: ForeignObject[] = [];
  for (const o of live) {
    if (!o) continue;
    const by = foreignManager(o);
    if (by) out.push({ object: describeRef(refOf(o)), managedBy: by });
  }
  return out;
}

/** The objects whose owner is checked before every apply: those another installer would share. */
export function identityObjects(rendered: readonly KubeObject[]): KubeObject[] {
  return rendered.filter((o) => o.kind === 'CustomResourceDefinition' || o.kind === 'Deployment');
}
