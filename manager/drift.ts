// Fields the manager renders (and so owns) that someone changed on the live object, e.g. with
// `kubectl edit`, `kubectl set resources` or `kubectl scale`. The periodic forced re-apply puts the
// rendered value back; this finds what it is about to put back, so each revert is reported with
// an Event naming the field and, where there is one, the annotation to use instead. Fields the
// manager does not render (an env var added with `kubectl set env`) are not its business and stay.
import type { KubeObject } from '../addon/api/index.ts';
import { annotation } from './addon-config.ts';
import { sameQuantity } from './quantity.ts';

export interface Drift {
  /** The live object that was changed. */
  object: KubeObject;
  /** Where, e.g. "spec.template.spec.containers[interceptor].resources.limits.memory". */
  field: string;
  live: string;
  rendered: string;
}

type Json = unknown;
const isObject = (v: Json): v is Record<string, Json> =>
  typeof v === 'object' && v !== null && !Array.isArray(v);
const shown = (v: Json): string =>
  v === undefined ? '(unset)' : typeof v === 'string' ? v : JSON.stringify(v);
const nameOf = (v: Json): string | undefined =>
  isObject(v) && typeof v.name === 'string' ? v.name : undefined;

/** Walks the rendered value; lists of named entries (containers, env, ports) are matched by name. */
function walk(
  path: string,
  want: Json,
  have: Json,
  out: { field: string; live: string; rendered: string }[],
): void {
  if (Array.isArray(want)) {
    const haveList = Array.isArray(have) ? have : [];
    const named = want.length > 0 && want.every((w) => nameOf(w) !== undefined);
    if (!named && want.length !== haveList.length && want.every((w) => !isObject(w))) {
      out.push({ field: path, live: shown(have), rendered: shown(want) });
      return;
    }
    want.forEach((w, i) => {
      const name = nameOf(w);
      if (named && name !== undefined)
        walk(
          `${path}[${name}]`,
          w,
          haveList.find((h) => nameOf(h) === name),
          out,
        );
      else walk(`${path}[${i}]`, w, haveList[i], out);
    });
    return;
  }
  if (isObject(want)) {
    for (const [k, v] of Object.entries(want))
      walk(path ? `${path}.${k}` : k, v, isObject(have) ? have[k] : undefined, out);
    return;
  }
  const same = /\.resources\.(requests|limits)\./.test(path)
    ? sameQuantity(want as string | number, have as string | number | undefined)
    : want === have;
  if (!same) out.push({ field: path, live: shown(have), rendered: shown(want) });
}

/** What differs, in the fields the manager renders, between a rendered object and its live version. */
export function ownedFieldDrift(rendered: KubeObject, live: KubeObject | undefined): Drift[] {
  if (!live) return [];
  const out: { field: string; live: string; rendered: string }[] = [];
  const { metadata, apiVersion: _a, kind: _k, ...body } = rendered;
  walk('metadata.labels', metadata.labels ?? {}, live.metadata.labels, out);
  walk('metadata.annotations', metadata.annotations ?? {}, live.metadata.annotations, out);
  const liveBody = live as unknown as Record<string, Json>;
  for (const [k, v] of Object.entries(body)) walk(k, v, liveBody[k], out);
  return out.map((d) => ({ object: live, ...d }));
}

/** How to change a drifted field so that it stays: an annotation, the manager's image, or not at all. */
export function howToChange(d: Drift): string {
  const a = annotationFor(d);
  if (a) return `set the annotation ${a} on the Keda object`;
  if (d.object.kind === 'Deployment' && /\.containers\[[^\]]+\]\.image$/.test(d.field))
    return "set KEDA_HTTP_ADDON_IMAGE on the manager's Deployment";
  return 'the manager renders this field; it is not configurable';
}

/** The annotation on the Keda object that sets a drifted field, or undefined when none does. */
function annotationFor(d: Drift): string | undefined {
  const name = d.object.metadata.name;
  if (d.object.kind === 'ScaledObject' && d.field === 'spec.minReplicaCount')
    return annotation.interceptorMinReplicas;
  if (d.object.kind === 'ScaledObject' && d.field === 'spec.maxReplicaCount')
    return annotation.interceptorMaxReplicas;
  if (d.object.kind !== 'Deployment') return undefined;
  if (/\.env\[LOG_LEVEL\]/.test(d.field)) return annotation.logLevel;
  if (!/\.resources\./.test(d.field)) return undefined;
  if (name.endsWith('-interceptor')) return annotation.interceptorResources;
  if (name.endsWith('-external-scaler')) return annotation.scalerResources;
  if (name.endsWith('-operator')) return annotation.operatorResources;
  return undefined;
}
