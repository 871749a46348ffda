// Helpers shared by the interceptor benchmarks: pinned child processes, wrk runs, a fixed-rate
// latency probe, and RSS readings. Everything targets 127.0.0.1 and is bounded in time and count.
import { spawn, execFile, execFileSync, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { Pool } from 'undici';

export const nodeBin = process.execPath;

/** Starts `cmd` pinned to `cpus` (taskset); resolves once `ready` matches a stdout line. */
export async function startPinned(
  name: string,
  cpus: string,
  cmd: string,
  args: string[],
  opts: { env?: NodeJS.ProcessEnv; ready: RegExp; timeoutMs?: number; stderrReady?: boolean },
): Promise<{ child: ChildProcess; match: RegExpMatchArray; stop(): Promise<void> }> {
  const child = spawn('taskset', ['-c', cpus, cmd, ...args], {
    env: { ...process.env, ...opts.env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const lines: string[] = [];
  const match = await new Promise<RegExpMatchArray>((resolve, reject) => {
    const t = setTimeout(
      () => reject(new Error(`${name} did not start in time:\n${lines.slice(-20).join('\n')}`)),
      opts.timeoutMs ?? 30_000,
    );
    const onLine = (line: string): void => {
      lines.push(line);
      const m = opts.ready.exec(line);
      if (m) {
        clearTimeout(t);
        resolve(m);
      }
    };
    createInterface({ input: child.stdout! }).on('line', onLine);
    createInterface({ input: child.stderr! }).on('line', onLine);
    child.once('exit', (code) => {
      clearTimeout(t);
      reject(new Error(`${name} exited with ${code}:\n${lines.slice(-20).join('\n')}`));
    });
  });
  child.removeAllListeners('exit');
  return {
    child,
    match,
    stop: () =>
      new Promise<void>((resolve) => {
        if (child.exitCode !== null) return resolve();
        child.once('exit', () => resolve());
        child.kill('SIGKILL');
      }),
  };
}

/** The pid of the real process behind prlimit/taskset (they exec, so it is the same pid). */
export function rssMiB(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0);
  return kb / 1024;
}

/**
 * User+sys CPU seconds a process has used so far, all its threads included (/proc/<pid>/stat fields
 * 14 and 15, in clock ticks). Read before and after a load run: the difference over the requests served
 * is what one request costs the process, which machine noise moves far less than req/s.
 */
export function cpuSeconds(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  // The command name (field 2) may contain spaces; fields are counted after its closing parenthesis.
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const ticksPerSecond = 100; // USER_HZ, 100 on every Linux architecture this runs on
  return (Number(f[11]) + Number(f[12])) / ticksPerSecond;
}

export function median(xs: number[]): number {
  const s = [...xs].sort((x, y) => x - y);
  return s.length === 0 ? NaN : (s[Math.floor((s.length - 1) / 2)] as number);
}

export interface WrkResult {
  /** Requests completed in the run. */
  requests: number;
  rps: number;
  p50ms: number;
  p99ms: number;
  errors: number;
}

function toMs(v: string): number {
  const m = /([\d.]+)(us|ms|s)/.exec(v);
  if (!m) return NaN;
  const n = Number(m[1]);
  return m[2] === 'us' ? n / 1000 : m[2] === 's' ? n * 1000 : n;
}

export interface WrkOptions {
  host?: string;
  connections: number;
  seconds: number;
  cpus: string;
  script?: string;
}

function wrkArgs(url: string, opts: WrkOptions): string[] {
  const args = [
    '-c',
    String(opts.cpus),
    'wrk',
    '-t1',
    `-c${opts.connections}`,
    `-d${opts.seconds}s`,
    '--latency',
  ];
  if (opts.host) args.push('-H', `Host: ${opts.host}`);
  if (opts.script) args.push('-s', opts.script);
  args.push(url);
  return args;
}

function parseWrk(url: string, out: string): WrkResult {
  const requests = Number(/(\d+) requests in /.exec(out)?.[1] ?? NaN);
  // A run that completed nothing measured nothing: say what wrk said rather than report 0 req/s.
  if (!(requests > 0)) throw new Error(`wrk completed no request against ${url}:\n${out}`);
  const rps = Number(/Requests\/sec:\s+([\d.]+)/.exec(out)?.[1] ?? NaN);
  const p50 = toMs(/\s50%\s+(\S+)/.exec(out)?.[1] ?? '');
  const p99 = toMs(/\s99%\s+(\S+)/.exec(out)?.[1] ?? '');
  const non2xx = Number(/Non-2xx or 3xx responses: (\d+)/.exec(out)?.[1] ?? 0);
  const sock = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(out);
  const errors = non2xx + (sock ? Number(sock[1]) + Number(sock[2]) + Number(sock[3]) + Number(sock[4]) : 0);
  return { requests, rps, p50ms: p50, p99ms: p99, errors };
}

/** wrk on core `cpus`, bounded by `seconds`. `script` is an optional Lua file. */
export function wrk(url: string, opts: WrkOptions): WrkResult {
  const out = execFileSync('taskset', wrkArgs(url, opts), {
    encoding: 'utf8',
    timeout: (opts.seconds + 30) * 1000,
  });
  return parseWrk(url, out);
}

/**
 * wrk without blocking this process: for benchmarks whose own process serves part of the path
 * (bench:e2e runs the process kubelet, and with it the Services' proxy, in-process).
 */
export function wrkAsync(url: string, opts: WrkOptions): Promise<WrkResult> {
  return new Promise((resolve, reject) => {
    execFile(
      'taskset',
      wrkArgs(url, opts),
      { encoding: 'utf8', timeout: (opts.seconds + 30) * 1000 },
      (err, out) => {
        if (err) reject(err);
        else {
          try {
            resolve(parseWrk(url, out));
          } catch (parseErr) {
            reject(parseErr instanceof Error ? parseErr : new Error(String(parseErr)));
          }
        }
      },
    );
  });
}

/**
 * Open-loop load at a fixed rate: latencies are measured from the scheduled send time (no
 * coordinated omission). The first `warmupSeconds` (default 0.5 s) run at the same rate but are
 * left out of p50/p99, as wrk2 leaves out its calibration: each call opens a new connection pool,
 * and the connections' setup after an idle spell is not the steady state a fixed rate measures.
 * `p99WithWarmupMs` counts them too.
 */
export async function fixedRate(
  url: string,
  opts: { host?: string; rps: number; seconds: number; connections?: number; warmupSeconds?: number },
): Promise<{ p50ms: number; p99ms: number; p99WithWarmupMs: number; errors: number; sent: number }> {
  const u = new URL(url);
  const pool = new Pool(u.origin, { connections: opts.connections ?? 64, pipelining: 1 });
  const warmup = Math.round(opts.rps * (opts.warmupSeconds ?? 0.5));
  const total = warmup + opts.rps * opts.seconds;
  const lat: number[] = [];
  const all: number[] = [];
  let errors = 0;
  const t0 = performance.now();
  const inflight: Promise<void>[] = [];
  for (let i = 0; i < total; i++) {
    const scheduled = t0 + (i * 1000) / opts.rps;
    const wait = scheduled - performance.now();
    if (wait > 1) await new Promise((r) => setTimeout(r, wait));
    // Timers fire to the millisecond, so a request may leave up to 1 ms early: its latency then
    // counts from when it left. A late one counts from its slot, so the client's own delays are
    // not hidden (coordinated omission).
    const from = Math.min(scheduled, performance.now());
    const recorded = i >= warmup;
    inflight.push(
      pool
        .request({ path: u.pathname, method: 'GET', headers: opts.host ? { host: opts.host } : {} })
        .then(async (r) => {
          await r.body.dump();
          if (r.statusCode !== 200) errors++;
          const ms = performance.now() - from;
          all.push(ms);
          if (recorded) lat.push(ms);
        })
        .catch(() => {
          errors++;
        }),
    );
    if (inflight.length > 5000) await Promise.all(inflight.splice(0, 1000));
  }
  await Promise.all(inflight);
  await pool.close();
  const q = (xs: number[], p: number): number => {
    xs.sort((a, b) => a - b);
    return xs[Math.min(xs.length - 1, Math.floor(p * xs.length))] ?? NaN;
  };
  return { p50ms: q(lat, 0.5), p99ms: q(lat, 0.99), p99WithWarmupMs: q(all, 0.99), errors, sent: total };
}

export async function waitFor(
  check: () => Promise<boolean> | boolean,
  timeoutMs: number,
  what: string,
): Promise<void> {
  const t0 = performance.now();
  while (performance.now() - t0 < timeoutMs) {
    if (await check()) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`timed out waiting for ${what}`);
}

export function round(n: number, digits = 0): number {
  const f = 10 ** digits;
  return Math.round(n * f) / f;
}

/** The interceptor's file-mode input for one route, app.bench, to a backend on 127.0.0.1:`backendPort`. */
export function oneRouteFile(backendPort: number): string {
  return `apiVersion: http.keda.sh/v1beta1
kind: InterceptorRoute
metadata: {name: app, namespace: bench}
spec:
  target: {service: app, port: 80}
  rules: [{hosts: [app.bench]}]
  scalingMetric: {concurrency: {targetValue: 100}}
---
apiVersion: v1
kind: Service
metadata: {name: app, namespace: bench}
spec: {ports: [{name: http, port: 80}]}
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: {name: app-1, namespace: bench, labels: {kubernetes.io/service-name: app}}
addressType: IPv4
endpoints: [{addresses: [127.0.0.1], conditions: {ready: true}}]
ports: [{name: http, port: ${backendPort}}]
`;
}
