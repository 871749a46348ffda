// The kinds table against the CRDs this repository ships: a kind the table spells differently from
// its CRD would send every request of that kind to a path the API server does not serve.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parse } from 'yaml';
import { kinds } from './kinds.ts';

interface Crd {
  spec: {
    group: string;
    names: { kind: string; plural: string };
    scope: 'Namespaced' | 'Cluster';
    versions: { name: string; storage?: boolean }[];
  };
}

test('every CRD in crds/ matches its row of the kinds table (group, storage version, kind, plural, scope)', () => {
  const dir = new URL('../../crds/', import.meta.url);
  const files = readdirSync(fileURLToPath(dir)).filter((f) => f.endsWith('.yaml'));
  assert.ok(files.length >= 3);
  for (const file of files) {
    const crd = parse(readFileSync(new URL(file, dir), 'utf8')) as Crd;
    const row = Object.values(kinds).find(
      (k) => k.group === crd.spec.group && k.kind === crd.spec.names.kind,
    );
    assert.ok(row, `${file}: ${crd.spec.names.kind} is not in the kinds table`);
    assert.equal(row.plural, crd.spec.names.plural, file);
    assert.equal(row.namespaced, crd.spec.scope === 'Namespaced', file);
    assert.equal(row.version, crd.spec.versions.find((v) => v.storage)?.name, file);
  }
});
