// Step 5: the route's concurrency and request count go up before the placeholder and the
// cold-start wait, so that held requests are what wakes the scaler; the pipeline's end of
// exchange takes the concurrency back down. The count is also the route's concurrency gauge.
import type { Route } from '../routing/route.ts';
import type { PipelineDeps } from './deps.ts';
import type { Exchange } from './exchange.ts';
import type { RouteState } from './route-state.ts';

export function countRequest(d: PipelineDeps, x: Exchange): void {
  const count = (x.state as RouteState).count;
  if (count === undefined) return;
  d.queue.increaseCounter((x.route as Route).key, count);
  x.counted = count;
}

/** Undoes countRequest; called once, when the exchange ends. */
export function uncountRequest(d: PipelineDeps, x: Exchange): void {
  const count = x.counted;
  if (count === undefined) return;
  x.counted = undefined;
  d.queue.decrease((x.route as Route).key, count);
}
