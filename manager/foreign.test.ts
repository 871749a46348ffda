import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { KubeObject } from '../addon/api/index.ts';
import { foreignManager, identityObjects, managedElsewhere } from './foreign.ts';
import { parseAddonConfig } from './addon-config.ts';
import { renderAddon } from './render/render.ts';

const deployment = (metadata: Record<string, unknown>): KubeObject =>
  ({
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name: 'keda-add-ons-http-interceptor', namespace: 'kyma-system', ...metadata },
  }) as KubeObject;

test("Kyma keda-manager's objects are recognised by its label or by its field manager", () => {
  assert.equal(
    foreignManager(deployment({ labels: { 'app.kubernetes.io/managed-by': 'keda-manager' } })),
    'label app.kubernetes.io/managed-by=keda-manager',
  );
  // Both managers force-applying: our label wins for a moment, Kyma's field manager still shows.
  assert.equal(
    foreignManager(
      deployment({
        labels: { 'app.kubernetes.io/managed-by': 'keda-http-manager' },
        managedFields: [
          { manager: 'keda-http-manager', operation: 'Apply' },
          { manager: 'keda-manager', operation: 'Apply' },
        ],
      }),
    ),
    'field manager keda-manager',
  );
  assert.equal(
    foreignManager(deployment({ labels: { 'app.kubernetes.io/managed-by': 'Helm' } })),
    'label app.kubernetes.io/managed-by=Helm',
  );
  assert.equal(
    foreignManager(deployment({ ownerReferences: [{ kind: 'Keda', name: 'default', controller: true }] })),
    'controller Keda default',
  );
});

test("the manager's own objects, a user's kubectl edits and unlabelled CRDs are not foreign", () => {
  assert.equal(
    foreignManager(
      deployment({
        labels: { 'app.kubernetes.io/managed-by': 'keda-http-manager' },
        managedFields: [
          { manager: 'keda-http-manager', operation: 'Apply' },
          { manager: 'kubectl-set', operation: 'Update' },
          { manager: 'kube-controller-manager', operation: 'Update' },
        ],
      }),
    ),
    undefined,
  );
  // CRDs applied by hand (kubectl apply --server-side) before the manager ran are taken over.
  assert.equal(
    foreignManager({
      apiVersion: 'apiextensions.k8s.io/v1',
      kind: 'CustomResourceDefinition',
      metadata: {
        name: 'httpscaledobjects.http.keda.sh',
        managedFields: [{ manager: 'kubectl', operation: 'Apply' }],
      },
    } as KubeObject),
    undefined,
  );
});

test('managedElsewhere names every foreign object; the checked set is the CRDs and Deployments', () => {
  const r = parseAddonConfig({ 'keda.kyma-project.io/addon-enabled': 'true' });
  assert.ok(r.ok);
  const checked = identityObjects(renderAddon(r.config, { owner: { namespace: 'n', name: 'k' } }));
  assert.deepEqual(
    checked.map((o) => `${o.kind}/${o.metadata.name}`),
    [
      'CustomResourceDefinition/httpscaledobjects.http.keda.sh',
      'CustomResourceDefinition/interceptorroutes.http.keda.sh',
      'Deployment/keda-add-ons-http-interceptor',
      'Deployment/keda-add-ons-http-external-scaler',
      'Deployment/keda-add-ons-http-operator',
    ],
  );
  assert.deepEqual(
    managedElsewhere([undefined, deployment({ labels: { 'app.kubernetes.io/managed-by': 'keda-manager' } })]),
    [
      {
        object: 'Deployment kyma-system/keda-add-ons-http-interceptor',
        managedBy: 'label app.kubernetes.io/managed-by=keda-manager',
      },
    ],
  );
});
