// The tunable fields the manager owns (resources, replica counts, the interceptor's replica range,
// LOG_LEVEL) that someone changed on the live object. The periodic forced re-apply puts the
// annotation's value back; this finds what it is about to put back, so each revert is reported
// with an Event naming the field and the annotation to use instead, never done silently.
import type { KubeObject } from '../addon/api/index.ts';
import { sameQuantity } from './quantity.ts';

export interface Drift {
  /** The live object that was changed. */
  object: KubeObject;
  field: string;
  live: string;
  rendered: string;
}

type Container = {
  name: string;
  resources?: { requests?: Record<string, string>; limits?: Record<string, string> };
  env?: { name: string; value?: string }[];
};
type WorkloadSpec = { replicas?: number; template?: { spec?: { containers?: Container[] } } };
type ScaledObjectSpec = { minReplicaCount?: number; maxReplicaCount?: number };

const shown = (v: unknown): string => (v === undefined ? '(unset)' : String(v));

function containerDrift(object: KubeObject, want: Container, have: Container | undefined): Drift[] {
  const out: Drift[] = [];
  const path = `container ${want.name}`;
  for (const section of ['requests', 'limits'] as const) {
    for (const resource of ['cpu', 'memory']) {
      const r = want.resources?.[section]?.[resource];
      const l = have?.resources?.[section]?.[resource];
      if (!sameQuantity(r, l)) {
        out.push({
          object,
          field: `${path} resources.${section}.${resource}`,
          live: shown(l),
          rendered: shown(r),
        });
      }
    }
  }
  for (const e of want.env ?? []) {
    if (e.name !== 'LOG_LEVEL') continue;
    const live = have?.env?.find((x) => x.name === e.name)?.value;
    if (live !== e.value)
      out.push({ object, field: `${path} env ${e.name}`, live: shown(live), rendered: shown(e.value) });
  }
  return out;
}

/** What differs, in the owned tunable fields, between a rendered object and its live version. */
export function tunableDrift(rendered: KubeObject, live: KubeObject | undefined): Drift[] {
  if (!live) return [];
  if (rendered.kind === 'Deployment') {
    const want = rendered.spec as WorkloadSpec;
    const have = live.spec as WorkloadSpec;
    const out: Drift[] = [];
    if (want.replicas !== undefined && want.replicas !== have.replicas) {
      out.push({
        object: live,
        field: 'spec.replicas',
        live: shown(have.replicas),
        rendered: shown(want.replicas),
      });
    }
    for (const c of want.template?.spec?.containers ?? []) {
      out.push(
        ...containerDrift(
          live,
          c,
          have.template?.spec?.containers?.find((x) => x.name === c.name),
        ),
      );
    }
    return out;
  }
  if (rendered.kind === 'ScaledObject') {
    const want = rendered.spec as ScaledObjectSpec;
    const have = live.spec as ScaledObjectSpec;
    return (['minReplicaCount', 'maxReplicaCount'] as const)
      .filter((f) => want[f] !== have[f])
      .map((f) => ({ object: live, field: `spec.${f}`, live: shown(have[f]), rendered: shown(want[f]) }));
  }
  return [];
}

/** The annotation that sets a drifted field, for the Event's advice. */
export function annotationFor(d: Drift): string {
  const name = d.object.metadata.name;
  const component = name.endsWith('-interceptor')
    ? 'interceptor'
    : name.endsWith('-external-scaler')
      ? 'scaler'
      : name.endsWith('-operator')
        ? 'operator'
        : undefined;
  if (d.object.kind === 'ScaledObject')
    return `keda.kyma-project.io/addon-interceptor-${d.field.includes('min') ? 'min' : 'max'}-replicas`;
  if (d.field.includes('resources') && component) return `keda.kyma-project.io/addon-${component}-resources`;
  if (d.field.includes('LOG_LEVEL')) return 'keda.kyma-project.io/addon-log-level';
  return '';
}
