// Step 7: a request for a target with no ready endpoint waits for one (a cold start), bounded by
// the readiness timeout, the request deadline and the hold limits; over a limit it gets 503 +
// Retry-After at once. A target that is ready while the requests held for its cold start are
// still being released is waited on behind them (FIFO): no cold start, so no limit, no readiness
// timeout and no pending gauge. Callbacks rather than a promise race: a release of thousands of
// held requests then costs one call each, paced by the ready cache, and nothing is left attached
// once it is over.
import type { ResolvedTarget } from '../endpoints/targets.ts';
import type { WaitOutcome } from '../metrics.ts';
import { holdRefusalMessage, takeHoldSlot, type HeldSlot } from '../proxy/holding.ts';
import { writeError } from '../proxy/responses.ts';
import { readinessTimeoutMs } from '../proxy/timeouts.ts';
import type { Route } from '../routing/route.ts';
import { deliver } from './deliver.ts';
import { coldStartHeader, prepareHeaders } from './outbound.ts';
import type { PipelineDeps } from './deps.ts';
import type { Exchange } from './exchange.ts';
import type { HoldSpanOutcome } from './trace-request.ts';

/** Forwards (or tunnels) at once when the target is ready, else holds the request until it is. */
export function waitForTarget(d: PipelineDeps, x: Exchange): void {
  const target = x.target as ResolvedTarget;
  if (d.ready.hasReadyEndpoints(target.serviceKey)) {
    if (d.ready.isReleasing(target.serviceKey)) hold(d, x, true);
    else deliver(d, x, target, d.directPodRouting, target.h2c, coldStartHeader(d, false));
    return;
  }
  hold(d, x, false);
}

function hold(d: PipelineDeps, x: Exchange, behindRelease: boolean): void {
  const route = x.route as Route;
  const target = x.target as ResolvedTarget;
  let slot: HeldSlot | undefined;
  if (!behindRelease) {
    const taken = takeHoldSlot(d.holds, d.metrics, route);
    if (typeof taken === 'string') {
      writeError(
        x.res,
        503,
        { 'retry-after': String(d.config.retryAfterSeconds) },
        holdRefusalMessage(route.key, taken),
      );
      return;
    }
    slot = taken;
  }
  const readinessMs = behindRelease ? 0 : readinessTimeoutMs(route, d.config);
  // Prepared while the request waits, so a release of thousands does not do it all at once.
  prepareHeaders(x);
  // Keeps reading the body, so a client that leaves mid-body is seen now, not when the wait ends.
  x.body?.readAhead(d.readAhead);
  const deadline = x.signal;
  x.trace?.startHold(behindRelease);

  let settled = false;
  let timer: NodeJS.Timeout | undefined;
  const settle = (outcome: WaitOutcome): void => {
    if (settled) return;
    settled = true;
    cancelWait();
    clearTimeout(timer);
    deadline?.removeEventListener('abort', onDeadline);
    x.res.off('close', onClose);
    d.holdCutoff.unwatch(settle);
    slot?.end(outcome);
    x.trace?.endHold(holdSpanOutcome(outcome, x.fallback !== undefined));
    if (outcome === 'client') return;
    if (outcome === 'shutdown') {
      // The drain is about to close the connection: an answer now beats a reset.
      writeError(x.res, 503, { 'retry-after': String(d.config.retryAfterSeconds) });
      return;
    }
    if (outcome === 'ready') {
      deliver(d, x, target, d.directPodRouting, target.h2c, coldStartHeader(d, !behindRelease));
      return;
    }
    if (x.fallback && outcome === 'readiness') {
      // The request deadline still has time: serve from the fallback (no cold-start header, no pod
      // rewrite). Upstream's quirk: the primary target's appProtocol decides h2c, even for the fallback.
      deliver(d, x, x.fallback, d.fileMode, target.h2c, undefined);
      return;
    }
    // Both the readiness timeout and the deadline are "wait context expired": 504.
    writeError(x.res, 504);
  };
  const onDeadline = (): void => settle('deadline');
  const onClose = (): void => settle('client');
  const onReady = (): void => settle('ready');
  const cancelWait = behindRelease
    ? d.ready.waitBehindRelease(target.serviceKey, onReady)
    : d.ready.waitReady(target.serviceKey, onReady);
  if (readinessMs > 0) timer = setTimeout(settle, readinessMs, 'readiness');
  if (deadline) {
    if (deadline.aborted) return settle('deadline');
    deadline.addEventListener('abort', onDeadline, { once: true });
  }
  x.res.once('close', onClose);
  d.holdCutoff.watch(settle);
}

function holdSpanOutcome(outcome: WaitOutcome, hasFallback: boolean): HoldSpanOutcome {
  switch (outcome) {
    case 'ready':
      return 'ready';
    case 'readiness':
      return hasFallback ? 'fallback' : 'readiness_timeout';
    case 'deadline':
      return 'deadline';
    case 'client':
      return 'client_left';
    case 'shutdown':
      return 'drain';
  }
}
