// The version stamp hack/build-binaries.sh links into kube-apiserver, kube-controller-manager and
// kubectl: the variables Kubernetes' own release builds set, so `kubectl version` reports the pinned
// version instead of v0.0.0-master+$Format:%H$. (The stamp is checked here as the flags the script
// passes to `go build -ldflags`; building kube-apiserver to look at it takes minutes.)
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { test } from 'node:test';

const script = join(import.meta.dirname, 'build-binaries.sh');

test("Kubernetes' version variables are stamped for both version packages", () => {
  const out = execFileSync('bash', [script, '--print-k8s-ldflags', 'v1.36.3', '2026-12-02T12:00:00Z'], {
    encoding: 'utf8',
  });
  // go build splits -ldflags like a shell: single-quoted words.
  const flags = [...out.matchAll(/-X '([^=']+)=([^']*)'/g)].map((m) => [m[1], m[2]]);
  const expected = {
    gitVersion: 'v1.36.3',
    gitMajor: '1',
    gitMinor: '36',
    gitCommit: '',
    gitTreeState: 'clean',
    buildDate: '2026-12-02T12:00:00Z',
  };
  for (const pkg of ['k8s.io/component-base/version', 'k8s.io/client-go/pkg/version']) {
    for (const [name, value] of Object.entries(expected)) {
      assert.deepEqual(
        flags.filter(([k]) => k === `${pkg}.${name}`),
        [[`${pkg}.${name}`, value]],
        `${pkg}.${name} in ${out}`,
      );
    }
  }
  assert.equal(flags.length, 12, out);
});
