import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, mkdirSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { versions } from '../cluster/control-plane.ts';
import type { StagedImage } from '../image/stage.ts';
import { imageCommand, socatPath } from './images.ts';
import type { Container } from './types.ts';

// imageCommand reads the binaries' cache from KEDA_HTTP_CACHE on every call.
function withCache(files: string[], fn: (bin: string) => void): void {
  const cache = mkdtempSync(join(tmpdir(), 'images-test-'));
  const saved = process.env.KEDA_HTTP_CACHE;
  process.env.KEDA_HTTP_CACHE = cache;
  try {
    const bin = join(cache, 'bin');
    mkdirSync(bin);
    for (const f of files) writeFileSync(join(bin, f), '', { mode: 0o755 });
    fn(bin);
  } finally {
    if (saved === undefined) delete process.env.KEDA_HTTP_CACHE;
    else process.env.KEDA_HTTP_CACHE = saved;
    rmSync(cache, { recursive: true, force: true });
  }
}

const c = (image: string, extra: Partial<Container> = {}): Container => ({ name: 'c', image, ...extra });
const v = versions();

test('upstream add-on images run the binaries built from its Go module; the operator binds the pod address', () => {
  const up = v.UPSTREAM_ADDON_VERSION;
  withCache([`http-add-on-interceptor-${up}`, `http-add-on-operator-${up}`], (bin) => {
    assert.deepEqual(
      imageCommand(c('ghcr.io/kedacore/http-add-on-interceptor:0.15.0', { args: ['-x'] }), '10.1.0.5'),
      {
        argv: [join(bin, `http-add-on-interceptor-${up}`), '-x'],
      },
    );
    assert.deepEqual(imageCommand(c('ghcr.io/kedacore/http-add-on-operator:0.15.0'), '10.1.0.6'), {
      argv: [
        join(bin, `http-add-on-operator-${up}`),
        '--metrics-bind-address=10.1.0.6:8080',
        '--health-probe-bind-address=10.1.0.6:8081',
      ],
    });
    const missing = imageCommand(c('ghcr.io/kedacore/http-add-on-scaler:0.15.0'), '10.1.0.7');
    assert.ok(
      'error' in missing && missing.error.includes('bash hack/build-binaries.sh upstream-scaler'),
      JSON.stringify(missing),
    );
    const wrongProgram = imageCommand(
      c('ghcr.io/kedacore/http-add-on-interceptor:0.15.0', { command: ['/bin/sh'] }),
      '10.1.0.5',
    );
    assert.ok('error' in wrongProgram && wrongProgram.error.includes('no program /bin/sh'));
  });
});

test('KEDA images keep their bind flags before the container args', () => {
  withCache([`keda-operator-${v.KEDA_VERSION}`], (bin) => {
    const r = imageCommand(
      c('ghcr.io/kedacore/keda:2.21.0', { command: ['/keda'], args: ['--zap-log-level=info'] }),
      '10.2.0.9',
    );
    assert.deepEqual(r, {
      argv: [
        join(bin, `keda-operator-${v.KEDA_VERSION}`),
        '--metrics-bind-address=10.2.0.9:8080',
        '--health-probe-bind-address=10.2.0.9:8081',
        '--metrics-service-bind-address=10.2.0.9:9666',
        '--zap-log-level=info',
      ],
    });
  });
});

test('an unknown image is refused with the list of what can run', () => {
  const r = imageCommand(c('nginx:1.27'), '10.1.0.5');
  assert.ok(
    'error' in r &&
      r.error.includes('cannot run image nginx:1.27') &&
      r.error.includes('http-add-on-interceptor'),
  );
});

test('the add-on image, when staged, runs its ENTRYPOINT and CMD inside the staged tree as a runtime combines them', () => {
  const image: StagedImage = {
    rootfs: '/staged/rootfs',
    workingDir: '/app',
    entrypoint: ['/nodejs/bin/node', 'bin/keda-http.ts'],
    cmd: ['--help'],
    env: {},
    user: { uid: 65532, gid: 65532 },
  };
  const addon = 'ghcr.io/keda-http/keda-http-addon:0.1.0';
  const staged = { addon: image };
  // args replace CMD; command replaces ENTRYPOINT and drops CMD.
  assert.deepEqual(imageCommand(c(addon, { args: ['scaler'] }), '10.1.0.5', 'node', staged), {
    argv: ['/nodejs/bin/node', 'bin/keda-http.ts', 'scaler'],
    image,
  });
  assert.deepEqual(imageCommand(c(addon), '10.1.0.5', 'node', staged), {
    argv: ['/nodejs/bin/node', 'bin/keda-http.ts', '--help'],
    image,
  });
  assert.deepEqual(
    imageCommand(c(addon, { command: ['/nodejs/bin/node', '-e', '1'] }), '10.1.0.5', 'node', staged),
    {
      argv: ['/nodejs/bin/node', '-e', '1'],
      image,
    },
  );
  // Not staged: this checkout's entrypoint on this machine, no image root.
  assert.deepEqual(imageCommand(c(addon, { args: ['scaler'] }), '10.1.0.5', 'node'), {
    argv: ['node', join(import.meta.dirname, '../../bin/keda-http.ts'), 'scaler'],
  });
});

test("the local-program image runs the container's command (a path on this machine) with its args", () => {
  assert.deepEqual(
    imageCommand(
      c('keda-http-test/local-program:1', { command: ['/tmp/x/listener', '-a'], args: ['-b'] }),
      '10.1.0.5',
    ),
    { argv: ['/tmp/x/listener', '-a', '-b'] },
  );
  const none = imageCommand(c('keda-http-test/local-program:1'), '10.1.0.5');
  assert.ok('error' in none && none.error.includes('absolute path'));
});

test("upstream e2e suite's images: whoami runs hack/apps/whoami.ts, socat Debian's socat, <repo>/grpc-echo upstream's binary", () => {
  const up = v.UPSTREAM_ADDON_VERSION;
  const node = '/node';
  const repo = join(import.meta.dirname, '../..');
  assert.deepEqual(
    imageCommand(c('ghcr.io/traefik/whoami:v1.11.0', { args: ['--verbose'] }), '10.1.0.7', node),
    { argv: [node, join(repo, 'hack/apps/whoami.ts'), '--verbose'] },
  );
  assert.deepEqual(
    imageCommand(
      c('alpine/socat:1.8.0.3', {
        command: ['socat'],
        args: ['TCP-LISTEN:8080,fork,reuseaddr', 'TCP:x:8080'],
      }),
      '10.1.0.8',
    ),
    existsSync(socatPath)
      ? { argv: [socatPath, 'TCP-LISTEN:8080,fork,reuseaddr', 'TCP:x:8080'] }
      : { error: `${socatPath} is missing; install Debian's socat package` },
  );
  withCache([`http-add-on-grpc-echo-${up}`], (bin) => {
    assert.deepEqual(imageCommand(c('ko.local/grpc-echo:latest'), '10.1.0.9'), {
      argv: [join(bin, `http-add-on-grpc-echo-${up}`)],
    });
  });
  // This project's own gRPC echo app keeps its own image.
  assert.deepEqual(imageCommand(c('keda-http-test/grpc-echo:1'), '10.1.0.10', node), {
    argv: [node, join(repo, 'hack/apps/grpc-echo.ts')],
  });
});

test("upstream observability suite's jaegertracing/jaeger runs Jaeger built from its Go module, its args after", () => {
  const jaeger = `jaeger-${v.JAEGER_VERSION}`;
  withCache([jaeger], (bin) => {
    assert.deepEqual(
      imageCommand(
        c('jaegertracing/jaeger:2.12.0', { args: ['--config=/etc/jaeger/config.yaml'] }),
        '10.1.0.11',
      ),
      { argv: [join(bin, jaeger), '--config=/etc/jaeger/config.yaml'] },
    );
    const other = imageCommand(c('jaegertracing/jaeger:2.12.0', { command: ['/bin/sh'] }), '10.1.0.11');
    assert.ok('error' in other && other.error.includes('no program /bin/sh'));
  });
  withCache([], () => {
    const missing = imageCommand(c('jaegertracing/jaeger:2.12.0'), '10.1.0.11');
    assert.ok('error' in missing && missing.error.includes('build-binaries.sh jaeger'));
  });
});
