// The images the process kubelet can "run", each mapped to a program in this checkout. There is no
// container runtime: an image name only selects which entrypoint to start as a local process.
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { binaryPath, versions } from '../cluster/control-plane.ts';
import type { StagedImage } from '../image/stage.ts';
import { upstreamBinaryPath } from '../upstream-addon.ts';
import type { Container } from './types.ts';

const repoRoot = resolve(import.meta.dirname, '../..');

/** This project's image (the Dockerfile's ENTRYPOINT is `keda-http`), at any tag. */
export const addonImagePattern = /(^|\/)keda-http-addon(:[\w.-]+)?(@sha256:[0-9a-f]+)?$/;
/** The echo test app of hack/apps/echo.ts. */
export const echoImage = 'keda-http-test/echo:1';
const echoImagePattern = /(^|\/)keda-http-test\/echo(:[\w.-]+)?$/;
/** The gRPC echo test app of hack/apps/grpc-echo.ts. */
export const grpcEchoImage = 'keda-http-test/grpc-echo:1';
const grpcEchoImagePattern = /(^|\/)keda-http-test\/grpc-echo(:[\w.-]+)?$/;
/**
 * For tests that need a program of their own (a static Go binary built in the test's setup): the
 * container's `command` is an absolute path on this machine, run as it is with its `args`.
 */
export const localProgramImage = 'keda-http-test/local-program:1';
const localProgramImagePattern = /(^|\/)keda-http-test\/local-program(:[\w.-]+)?$/;
/**
 * traefik/whoami, the app of upstream's e2e suite: hack/apps/whoami.ts answers as it does (the Go
 * module proxy refuses whoami's module, so it cannot be built from source here).
 */
const whoamiImagePattern = /(^|\/)traefik\/whoami(:[\w.-]+)?$/;
/** alpine/socat, the suite's proxy pod: Debian's socat. */
const socatImagePattern = /(^|\/)alpine\/socat(:[\w.-]+)?$/;
export const socatPath = '/usr/bin/socat';

/**
 * Images of Go programs, run as the binaries hack/build-binaries.sh builds from their Go modules at
 * the pinned versions (whatever the tag says). Their "entrypoint" here adds flags that bind the
 * pod's address (the container's own args come after and win), and the KEDA adapter's Prometheus
 * port is derived from the pod's address. Each pod has its own network namespace (pod-network.ts),
 * so neither is needed to keep pods apart; both are harmless.
 */
const goImages: {
  pattern: RegExp;
  command: string;
  binary: () => string;
  build: string;
  bindFlags: (podIP: string) => string[];
}[] = [
  {
    pattern: /(^|\/)kedacore\/keda(:[\w.-]+)?$/,
    command: '/keda',
    binary: () => binaryPath('keda-operator', versions().KEDA_VERSION),
    build: 'keda-operator',
    bindFlags: (ip) => [
      `--metrics-bind-address=${ip}:8080`,
      `--health-probe-bind-address=${ip}:8081`,
      `--metrics-service-bind-address=${ip}:9666`,
    ],
  },
  {
    pattern: /(^|\/)kedacore\/keda-metrics-apiserver(:[\w.-]+)?$/,
    command: '/keda-adapter',
    binary: () => binaryPath('keda-adapter', versions().KEDA_VERSION),
    build: 'keda-adapter',
    bindFlags: (ip) => [`--bind-address=${ip}`, `--port=${hostWidePort(ip)}`],
  },
  // Upstream's test/images/grpc-echo, as its suite names it (`<KO_DOCKER_REPO>/grpc-echo:latest`, built
  // with ko, whose entrypoint is /ko-app/<name>). It binds ":$PORT" and has no address flag.
  {
    pattern: /^(?!keda-http-test\/)(.+\/)?grpc-echo(:[\w.-]+)?$/,
    command: '/ko-app/grpc-echo',
    binary: () => upstreamBinaryPath('grpc-echo'),
    build: 'upstream-grpc-echo',
    bindFlags: () => [],
  },
  // Jaeger v2 (jaegertracing/jaeger:2.x; its image's entrypoint is /cmd/jaeger/jaeger-linux), the
  // collector and trace store of upstream's observability suite. The image also sets
  // JAEGER_LISTEN_HOST=0.0.0.0, which a pod running it here must set itself (hack/conformance/).
  {
    pattern: /(^|\/)jaegertracing\/jaeger(:[\w.-]+)?$/,
    command: '/cmd/jaeger/jaeger-linux',
    binary: () => binaryPath('jaeger', versions().JAEGER_VERSION),
    build: 'jaeger',
    bindFlags: () => [],
  },
  ...(['interceptor', 'scaler', 'operator'] as const).map((component) => ({
    pattern: new RegExp(`(^|/)kedacore/http-add-on-${component}(:[\\w.-]+)?$`),
    command: `/${component}`,
    binary: () => upstreamBinaryPath(component),
    build: `upstream-${component}`,
    bindFlags: (ip: string): string[] =>
      component === 'operator'
        ? [`--metrics-bind-address=${ip}:8080`, `--health-probe-bind-address=${ip}:8081`]
        : [],
  })),
];

/**
 * As a container runtime combines them: `command` replaces the image's ENTRYPOINT (and drops its
 * CMD), `args` replaces its CMD.
 */
function stagedCommand(container: Container, image: StagedImage): ImageCommand {
  const entrypoint = container.command ?? image.entrypoint;
  const args = container.args ?? (container.command ? [] : image.cmd);
  const argv = [...entrypoint, ...args];
  if (argv.length === 0)
    return { error: `image ${container.image} has no ENTRYPOINT or CMD and the container no command` };
  return { argv, image };
}

/** 15000-64999 from 10.N.x.y: N picks a block of 1000 (one per kubelet), x.y a port in it. */
function hostWidePort(podIP: string): number {
  const [, n = 0, x = 0, y = 0] = podIP.split('.').map(Number);
  return 15000 + (n % 50) * 1000 + ((x * 256 + y) % 1000);
}

/** Images staged from the Dockerfile (hack/image/stage.ts), run from their own root file system. */
export interface StagedImages {
  /** Replaces this checkout's bin/keda-http.ts for the add-on image. */
  addon?: StagedImage;
}

/** With `image`: run inside that image's root file system (argv[0] is a path in it). */
export type ImageCommand = { argv: string[]; image?: StagedImage } | { error: string };

/**
 * The command line a container runs, as a container runtime would build it from the image's
 * entrypoint, the container's `command` (replaces the entrypoint) and `args`. `node` is the Node
 * that runs the kubelet (24, which runs .ts directly).
 */
export function imageCommand(
  container: Container,
  podIP: string,
  node = process.execPath,
  staged: StagedImages = {},
): ImageCommand {
  const args = container.args ?? [];
  const go = goImages.find((k) => k.pattern.test(container.image));
  if (go) {
    const binary = go.binary();
    if (!existsSync(binary)) {
      return { error: `${binary} is missing; build it with: bash hack/build-binaries.sh ${go.build}` };
    }
    const [first, ...rest] = container.command ?? [go.command];
    if (first !== go.command) return { error: `image ${container.image} has no program ${first ?? ''}` };
    return { argv: [binary, ...rest, ...go.bindFlags(podIP), ...args] };
  }
  if (addonImagePattern.test(container.image) && staged.addon) return stagedCommand(container, staged.addon);
  if (addonImagePattern.test(container.image)) {
    const entrypoint = [node, resolve(repoRoot, 'bin/keda-http.ts')];
    const command = container.command;
    if (command === undefined || command.length === 0) return { argv: [...entrypoint, ...args] };
    // `command: [/keda-http, interceptor]` names the same entrypoint; anything else is not in the image.
    const [first, ...rest] = command;
    if (first !== undefined && /(^|\/)keda-http$/.test(first))
      return { argv: [...entrypoint, ...rest, ...args] };
    return { error: `image ${container.image} has no program ${first ?? ''}; its entrypoint is keda-http` };
  }
  if (grpcEchoImagePattern.test(container.image)) {
    return { argv: [node, resolve(repoRoot, 'hack/apps/grpc-echo.ts'), ...args] };
  }
  if (echoImagePattern.test(container.image))
    return { argv: [node, resolve(repoRoot, 'hack/apps/echo.ts'), ...args] };
  if (localProgramImagePattern.test(container.image)) {
    const [program, ...rest] = container.command ?? [];
    if (!program?.startsWith('/'))
      return {
        error: `image ${container.image} runs the container's command, an absolute path on this machine`,
      };
    return { argv: [program, ...rest, ...args] };
  }
  if (whoamiImagePattern.test(container.image)) {
    // whoami's image has /whoami as its entrypoint.
    const [first, ...rest] = container.command ?? ['/whoami'];
    if (first !== '/whoami' && first !== 'whoami')
      return { error: `image ${container.image} has no program ${first ?? ''}; its entrypoint is /whoami` };
    return { argv: [node, resolve(repoRoot, 'hack/apps/whoami.ts'), ...rest, ...args] };
  }
  if (socatImagePattern.test(container.image)) {
    const [first, ...rest] = container.command ?? ['socat'];
    if (first !== 'socat' && first !== socatPath)
      return { error: `image ${container.image} has no program ${first ?? ''}; it runs socat` };
    if (!existsSync(socatPath)) return { error: `${socatPath} is missing; install Debian's socat package` };
    return { argv: [socatPath, ...rest, ...args] };
  }
  return {
    error:
      `the process kubelet cannot run image ${container.image}: it runs ghcr.io/keda-http/keda-http-addon:<tag> ` +
      `(this checkout's bin/keda-http.ts), ${echoImage} (hack/apps/echo.ts), ${grpcEchoImage} ` +
      `(hack/apps/grpc-echo.ts), ${localProgramImage} (the container's command), ghcr.io/traefik/whoami (hack/apps/whoami.ts), alpine/socat (Debian's socat), ` +
      "upstream's <repo>/grpc-echo (built from its Go module) and KEDA's " +
      "ghcr.io/kedacore/keda and keda-metrics-apiserver, jaegertracing/jaeger, and the upstream add-on's " +
      'ghcr.io/kedacore/http-add-on-interceptor, -scaler and -operator (built from their Go modules)',
  };
}
