// The gRPC health status of "liveness" and "readiness", as upstream computes it every second:
// NOT_SERVING once no poll has succeeded for two ticks, else the pinger's status
// (UNKNOWN before the first tick, SERVING while polls succeed, NOT_SERVING after a failed one).
import type { HealthStatus } from './grpc/server.ts';
import type { PingerStatus } from './pinger.ts';

export function healthStatus(
  pinger: { status: PingerStatus; lastSuccessMs: number; tickMs: number },
  nowMs: number,
): HealthStatus {
  if (nowMs > pinger.lastSuccessMs + 2 * pinger.tickMs) return 'NOT_SERVING';
  switch (pinger.status) {
    case 'ACTIVE':
      return 'SERVING';
    case 'ERROR':
      return 'NOT_SERVING';
    case 'UNKNOWN':
      return 'UNKNOWN';
  }
}
