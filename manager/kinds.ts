// The REST coordinates of the kinds the manager renders, applies or prunes, from the project's one
// table of kinds (addon/api/kinds.ts). A fixed table instead of API discovery: the manager only
// ever handles known kinds, and a lookup must not cost a request.
import { apiVersionOf, kinds, type KubeObject, type ResourceKind } from '../addon/api/index.ts';

export { kinds };

const byApiVersionKind = new Map<string, ResourceKind>(
  Object.values(kinds).map((r): [string, ResourceKind] => [`${apiVersionOf(r)}|${r.kind}`, r]),
);

/** The ResourceKind of an object; an unknown kind is a programming error in the templates. */
export function kindOf(obj: Pick<KubeObject, 'apiVersion' | 'kind'>): ResourceKind {
  const r = byApiVersionKind.get(`${obj.apiVersion}|${obj.kind}`);
  if (!r) throw new Error(`the manager does not know the kind ${obj.apiVersion} ${obj.kind}`);
  return r;
}
