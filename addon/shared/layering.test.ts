// The layers point one way: addon/shared (logs, config, the object store interface, the queue
// codec) and addon/api (types) are at the bottom; addon/runtime (the controller runtime and the
// cluster store) builds on them; the services build on all three. A module of addon/shared that
// imported from a layer above would make a cycle, so this test reads every import of every module
// in addon/shared, static or dynamic, and fails on one that leaves shared and api.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const thisFile = fileURLToPath(import.meta.url);
const shared = dirname(thisFile);
const addon = dirname(shared);
const allowed = [shared, join(addon, 'api')];

function modules(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const path = join(dir, e.name);
    if (e.isDirectory()) return modules(path);
    return e.name.endsWith('.ts') ? [path] : [];
  });
}

/** Every relative module specifier in a source text: import/export ... from '...', import('...'). */
export function relativeImports(source: string): string[] {
  const found: string[] = [];
  const pattern = /(?:\bfrom\s*|\bimport\s*\(\s*|\bimport\s+)['"](\.{1,2}\/[^'"]+)['"]/g;
  for (const m of source.matchAll(pattern)) found.push(m[1] as string);
  return found;
}

test('the import finder sees static, type-only, side-effect and dynamic imports and re-exports', () => {
  const source = `import a from './a.ts';\nimport type { B } from "../b.ts";\nimport './c.ts';\nexport * from './d.ts';\nconst e = await import('../../runtime/e.ts');`;
  assert.deepEqual(relativeImports(source), ['./a.ts', '../b.ts', './c.ts', './d.ts', '../../runtime/e.ts']);
});

test('no module in addon/shared imports from addon/runtime or any other layer above it', () => {
  const offending: string[] = [];
  for (const file of modules(shared)) {
    if (file === thisFile) continue; // its examples are strings, not imports
    for (const spec of relativeImports(readFileSync(file, 'utf8'))) {
      const target = resolve(dirname(file), spec);
      if (!allowed.some((dir) => target.startsWith(`${dir}/`))) {
        offending.push(`${relative(addon, file)} imports ${relative(addon, target)}`);
      }
    }
  }
  assert.deepEqual(offending, []);
});
