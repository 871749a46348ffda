// One probe attempt (httpGet, tcpSocket, grpc health check) against a pod's address, with the
// kubelet's rules: HTTP 200-399 succeeds, a gRPC probe succeeds only on SERVING, every attempt is
// bounded by timeoutSeconds. And the runner that applies period and thresholds.
import * as grpc from '@grpc/grpc-js';
import { service as healthService } from 'grpc-health-check';
import http from 'node:http';
import https from 'node:https';
import net from 'node:net';
import type { Container, PortRef, Probe } from './types.ts';

export type ProbeResult = { ok: true } | { ok: false; message: string };

/** A named port (`admin`) is the container port of that name; numbers are used as they are. */
export function resolvePort(container: Container, port: PortRef): number {
  if (typeof port === 'number') return port;
  if (/^\d+$/.test(port)) return Number(port);
  const named = container.ports?.find((p) => p.name === port);
  if (!named) throw new Error(`container ${container.name} has no port named ${port}`);
  return named.containerPort;
}

function httpProbe(
  p: NonNullable<Probe['httpGet']>,
  host: string,
  port: number,
  timeoutMs: number,
): Promise<ProbeResult> {
  return new Promise((done) => {
    const headers: Record<string, string> = { 'user-agent': 'kube-probe/1.36' };
    for (const h of p.httpHeaders ?? []) headers[h.name] = h.value;
    const secure = p.scheme === 'HTTPS';
    const req = (secure ? https : http).get(
      {
        host,
        port,
        path: p.path ?? '/',
        headers,
        timeout: timeoutMs,
        rejectUnauthorized: false,
        agent: false,
      },
      (res) => {
        res.resume();
        const code = res.statusCode ?? 0;
        done(
          code >= 200 && code < 400
            ? { ok: true }
            : { ok: false, message: `HTTP probe failed with statuscode: ${code}` },
        );
      },
    );
    req.on('timeout', () => req.destroy(new Error(`timeout after ${timeoutMs}ms`)));
    req.on('error', (err) =>
      done({
        ok: false,
        message: `Get "${secure ? 'https' : 'http'}://${host}:${port}${p.path ?? '/'}": ${err.message}`,
      }),
    );
  });
}

function tcpProbe(host: string, port: number, timeoutMs: number): Promise<ProbeResult> {
  return new Promise((done) => {
    const socket = net.connect({ host, port, timeout: timeoutMs });
    socket.once('connect', () => {
      socket.destroy();
      done({ ok: true });
    });
    socket.once('timeout', () => socket.destroy(new Error(`timeout after ${timeoutMs}ms`)));
    socket.once('error', (err) => done({ ok: false, message: `dial tcp ${host}:${port}: ${err.message}` }));
  });
}

const HealthClient = grpc.makeClientConstructor(healthService, 'grpc.health.v1.Health');

function grpcProbe(host: string, port: number, service: string, timeoutMs: number): Promise<ProbeResult> {
  return new Promise((done) => {
    const client = new HealthClient(`${host}:${port}`, grpc.credentials.createInsecure());
    const deadline = new Date(Date.now() + timeoutMs);
    (client as unknown as { check: grpc.requestCallback<unknown> & ((...a: unknown[]) => void) }).check(
      { service },
      { deadline },
      (err: grpc.ServiceError | null, res?: { status?: string | number }) => {
        client.close();
        if (err)
          done({
            ok: false,
            message: `failed to connect service "${host}:${port}" within ${timeoutMs / 1000}s: ${err.message}`,
          });
        else if (res?.status === 'SERVING' || res?.status === 1) done({ ok: true });
        else done({ ok: false, message: `service unhealthy (responded with "${String(res?.status)}")` });
      },
    );
  });
}

/** One attempt of `probe` against the pod at `host`. */
export function probeOnce(probe: Probe, container: Container, host: string): Promise<ProbeResult> {
  const timeoutMs = (probe.timeoutSeconds ?? 1) * 1000;
  try {
    if (probe.httpGet)
      return httpProbe(
        probe.httpGet,
        probe.httpGet.host ?? host,
        resolvePort(container, probe.httpGet.port),
        timeoutMs,
      );
    if (probe.tcpSocket)
      return tcpProbe(probe.tcpSocket.host ?? host, resolvePort(container, probe.tcpSocket.port), timeoutMs);
    if (probe.grpc) return grpcProbe(host, probe.grpc.port, probe.grpc.service ?? '', timeoutMs);
  } catch (err) {
    return Promise.resolve({ ok: false, message: (err as Error).message });
  }
  return Promise.resolve({
    ok: false,
    message: 'the process kubelet runs httpGet, tcpSocket and grpc probes only (exec needs a container)',
  });
}

/**
 * Runs a probe every periodSeconds after initialDelaySeconds, and calls `onChange` when the
 * outcome flips under the thresholds: healthy after successThreshold successes in a row,
 * unhealthy after failureThreshold failures in a row. Returns a stop function.
 */
export function runProbe(
  probe: Probe,
  container: Container,
  host: string,
  onChange: (healthy: boolean, message: string) => void,
): () => void {
  let stopped = false;
  let healthy: boolean | undefined;
  let successes = 0;
  let failures = 0;
  let timer: NodeJS.Timeout | undefined;
  const tick = async (): Promise<void> => {
    if (stopped) return;
    const r = await probeOnce(probe, container, host);
    if (stopped) return;
    if (r.ok) {
      failures = 0;
      successes++;
      if (healthy !== true && successes >= (probe.successThreshold ?? 1)) {
        healthy = true;
        onChange(true, '');
      }
    } else {
      successes = 0;
      failures++;
      if (healthy !== false && failures >= (probe.failureThreshold ?? 3)) {
        healthy = false;
        onChange(false, r.message);
      }
    }
    timer = setTimeout(() => void tick(), (probe.periodSeconds ?? 10) * 1000);
  };
  timer = setTimeout(() => void tick(), (probe.initialDelaySeconds ?? 0) * 1000);
  return () => {
    stopped = true;
    clearTimeout(timer);
  };
}
