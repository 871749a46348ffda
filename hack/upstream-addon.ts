// The upstream KEDA HTTP Add-on (kedacore/http-add-on, the pinned UPSTREAM_ADDON_VERSION), for the
// benchmarks that compare against it. Its interceptor, scaler and operator are built from their Go
// module by hack/build-binaries.sh (never committed) and found here by component.
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { binaryPath, versions } from './cluster/control-plane.ts';

export type UpstreamComponent = 'interceptor' | 'scaler' | 'operator';
/** Upstream's binaries: its components and its e2e suite's gRPC app (test/images/grpc-echo). */
export type UpstreamBinary = UpstreamComponent | 'grpc-echo';

export function upstreamVersion(): string {
  const v = versions().UPSTREAM_ADDON_VERSION;
  if (!v) throw new Error('UPSTREAM_ADDON_VERSION is not set in hack/versions.env');
  return v;
}

/** Where hack/build-binaries.sh puts an upstream component (it may not be built yet). */
export function upstreamBinaryPath(component: UpstreamBinary): string {
  return binaryPath(`http-add-on-${component}`, upstreamVersion());
}

/** The component's binary, built first if missing (a few minutes on 2 cores, then cached). */
export function upstreamBinary(component: UpstreamComponent): { path: string; version: string } {
  const path = upstreamBinaryPath(component);
  if (!existsSync(path)) {
    process.stderr.write(
      `[upstream] building the upstream ${component} ${upstreamVersion()} from its Go module\n`,
    );
    execFileSync('bash', [resolve(import.meta.dirname, 'build-binaries.sh'), `upstream-${component}`], {
      stdio: ['ignore', 'inherit', 'inherit'],
    });
  }
  return { path, version: upstreamVersion() };
}
