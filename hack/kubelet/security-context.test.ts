import { test } from 'node:test';
import assert from 'node:assert/strict';
import { processIdentity, tokenFileOwner } from './security-context.ts';
import type { Container, Pod } from './types.ts';

const pod = (securityContext: object, containers: Container[]): Pod =>
  ({
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name: 'p', namespace: 'ns' },
    spec: { securityContext, containers },
  }) as Pod;
const container = (securityContext?: object): Container =>
  ({ name: 'c', image: 'i', ...(securityContext ? { securityContext } : {}) }) as Container;
const nonroot = { uid: 65532, gid: 65532 };
const groupOf = (uid: number): Promise<number> => Promise.resolve(uid === 1000 ? 1001 : 0);

test("the container's securityContext wins over the pod's, which wins over the image's USER", async () => {
  const c = container({ runAsUser: 1000, readOnlyRootFilesystem: true, allowPrivilegeEscalation: false });
  assert.deepEqual(
    await processIdentity(pod({ runAsUser: 2000, runAsGroup: 3000 }, [c]), c, nonroot, groupOf),
    {
      uid: 1000,
      gid: 3000,
      readOnlyRootFilesystem: true,
      noNewPrivileges: true,
    },
  );
  // No runAsGroup: the user's primary group in the image's /etc/passwd.
  assert.deepEqual(
    await processIdentity(pod({ runAsUser: 1000 }, [container()]), container(), nonroot, groupOf),
    {
      uid: 1000,
      gid: 1001,
      readOnlyRootFilesystem: false,
      noNewPrivileges: false,
    },
  );
  // Nothing set: the image's USER.
  assert.deepEqual(await processIdentity(pod({}, [container()]), container(), nonroot, groupOf), {
    ...nonroot,
    readOnlyRootFilesystem: false,
    noNewPrivileges: false,
  });
});

test('runAsNonRoot refuses a process that would run as root, from the pod or the image', async () => {
  const root = { uid: 0, gid: 0 };
  const refused = await processIdentity(
    pod({ runAsNonRoot: true }, [container()]),
    container(),
    root,
    groupOf,
  );
  assert.ok(
    'error' in refused && refused.error.startsWith('container has runAsNonRoot and image will run as root'),
  );
  const c = container({ runAsNonRoot: true, runAsUser: 0 });
  assert.ok('error' in (await processIdentity(pod({}, [c]), c, nonroot, groupOf)));
  // The manager's rendering: runAsNonRoot with runAsUser 65532 runs.
  const rendered = await processIdentity(
    pod({ runAsNonRoot: true, runAsUser: 65532 }, [container()]),
    container(),
    root,
    groupOf,
  );
  assert.ok(!('error' in rendered) && rendered.uid === 65532);
});

test('the token files belong to the pod user only when every container runs as the same user', () => {
  assert.equal(tokenFileOwner(pod({ runAsUser: 65532 }, [container(), container()])), 65532);
  assert.equal(
    tokenFileOwner(pod({ runAsUser: 65532 }, [container(), container({ runAsUser: 1 })])),
    undefined,
  );
  assert.equal(tokenFileOwner(pod({}, [container()])), undefined);
});
