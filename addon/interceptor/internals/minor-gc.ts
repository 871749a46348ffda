// A minor GC (scavenge) on demand, for the idle scavenge (proxy/idle-scavenge.ts): V8's `gc`
// function, which exists only with --expose-gc. When Node was not started with it, the flag is set
// at run time (v8.setFlagsFromString, documented as unsupported after start-up) and the function
// taken from a new vm context: the flag only adds `gc` to contexts created after it is set.
// Switch: KEDA_HTTP_INTERNALS_IDLE_SCAVENGE. Fallback: no forced scavenge (there is no public API
// for one); held requests' state is then promoted by the release's own scavenges.
import v8 from 'node:v8';
import vm from 'node:vm';
import { internalsEnabled, onInternalsReconfigured, reportFallback } from './switches.ts';

export type MinorGc = () => void;

/** V8's gc function, from the main context if exposed there, else from a new context after the flag. */
function findGc(): unknown {
  const gc = (globalThis as { gc?: unknown }).gc; // started with --expose-gc
  if (typeof gc === 'function') return gc;
  try {
    v8.setFlagsFromString('--expose-gc');
    return vm.runInNewContext('gc') as unknown;
  } catch (err) {
    return `setting --expose-gc at run time failed: ${(err as Error).message}`;
  }
}

/**
 * A minor GC from `candidate` (what findGc gave) if it is one: a function that accepts
 * `{ type: 'minor' }`, tried once here. Otherwise why not.
 */
export function checkMinorGc(candidate: unknown): MinorGc | string {
  if (typeof candidate === 'string') return candidate;
  if (typeof candidate !== 'function') return 'no gc function after --expose-gc';
  const gc = candidate as (options: { type: 'minor' }) => unknown;
  try {
    gc({ type: 'minor' });
  } catch (err) {
    return `gc({ type: 'minor' }) threw: ${(err as Error).message}`;
  }
  return () => {
    gc({ type: 'minor' });
  };
}

/** Resolves the minor GC from `candidate` (tests pass a fake), reporting once why it is not used. */
export function resolveMinorGc(candidate: () => unknown = findGc): MinorGc | undefined {
  if (!internalsEnabled('idleScavenge')) {
    reportFallback('idleScavenge', 'switched off; held requests are not promoted while idle');
    return undefined;
  }
  const checked = checkMinorGc(candidate());
  if (typeof checked === 'string') {
    reportFallback('idleScavenge', `${checked}; held requests are not promoted while idle`);
    return undefined;
  }
  return checked;
}

let memo: { gc: MinorGc | undefined } | undefined;
onInternalsReconfigured(() => (memo = undefined));

/** A minor GC, if this process can and may ask for one; undefined if not. */
export function loadMinorGc(): MinorGc | undefined {
  return (memo ??= { gc: resolveMinorGc() }).gc;
}
