// The one renderer of manifests: handlebars templates in manifests/ plus the CRDs in crds/, turned
// into plain objects. Templates are compiled once per process. Every string value goes through the
// `json` helper, which emits a quoted JSON string (valid YAML), so no value can break the YAML.
import { readFileSync, readdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import Handlebars from 'handlebars';
import { parseAllDocuments, stringify } from 'yaml';
import type { KubeObject } from '../../addon/api/index.ts';

const repoRoot = resolve(import.meta.dirname, '../..');
export const manifestsDir = join(repoRoot, 'manifests');
export const crdsDir = join(repoRoot, 'crds');

const hb = Handlebars.create();
hb.registerHelper('json', (v: unknown) => new Handlebars.SafeString(JSON.stringify(v ?? null)));
hb.registerHelper('eq', (a: unknown, b: unknown) => a === b);
for (const f of readdirSync(join(manifestsDir, 'partials'))) {
  if (f.endsWith('.hbs'))
    hb.registerPartial(f.replace(/\.hbs$/, ''), readFileSync(join(manifestsDir, 'partials', f), 'utf8'));
}

const compiled = new Map<string, Handlebars.TemplateDelegate>();

function template(name: string): Handlebars.TemplateDelegate {
  let t = compiled.get(name);
  if (!t) {
    t = hb.compile(readFileSync(join(manifestsDir, name), 'utf8'), { noEscape: true, strict: true });
    compiled.set(name, t);
  }
  return t;
}

/** Parses multi-document YAML into objects, dropping empty documents; a YAML error names its source. */
export function parseManifests(text: string, source: string): KubeObject[] {
  const out: KubeObject[] = [];
  for (const [i, doc] of parseAllDocuments(text).entries()) {
    if (doc.errors.length > 0)
      throw new Error(`${source}: document ${i + 1}: ${doc.errors[0]?.message ?? 'bad YAML'}`);
    const v: unknown = doc.toJS();
    if (v == null) continue;
    const o = v as Partial<KubeObject>;
    if (
      typeof o.apiVersion !== 'string' ||
      typeof o.kind !== 'string' ||
      typeof o.metadata?.name !== 'string'
    ) {
      throw new Error(
        `${source}: document ${i + 1} is not a Kubernetes object (apiVersion, kind and metadata.name)`,
      );
    }
    out.push(o as KubeObject);
  }
  return out;
}

/** Renders one template (a path below manifests/) with a values object. */
export function renderTemplate(name: string, values: object): KubeObject[] {
  return parseManifests(template(name)(values), `manifests/${name}`);
}

let crdCache: Map<string, KubeObject> | undefined;

/** A CRD from crds/, by file name (e.g. "http.keda.sh_interceptorroutes.yaml"). */
export function crd(file: string): KubeObject {
  crdCache ??= new Map();
  let c = crdCache.get(file);
  if (!c) {
    const [obj] = parseManifests(readFileSync(join(crdsDir, file), 'utf8'), `crds/${file}`);
    if (!obj) throw new Error(`crds/${file} holds no object`);
    c = obj;
    crdCache.set(file, c);
  }
  return structuredClone(c);
}

/** Objects as one multi-document YAML stream, for `keda-http render`. */
export function toYaml(objects: readonly KubeObject[]): string {
  return objects.map((o) => `---\n${stringify(o, { lineWidth: 0 })}`).join('');
}
