// The switches of the runtime-internals layer (this folder): everything in the interceptor that
// relies on Node or V8 internals, non-public modules or private fields lives here, each piece behind
// its own switch (KEDA_HTTP_INTERNALS_*), checked for the expected shape before first use, and with a
// fallback on public APIs. A piece that is switched off, or whose internals have another shape on
// this Node, falls back; the reason is logged once per piece.
//
// The state is per process, set once at start-up (configureRuntimeInternals): the pieces are used
// from places that are built long before and far from the configuration (the HTTP server, the
// forwarder), and what a process's Node provides does not change while it runs.
import type { Logger } from '../../shared/log.ts';

export interface InternalsSwitches {
  /** The lean HTTP/1.1 client on node:http's own parser binding (`_http_common`'s HTTPParser). */
  leanHttp1Client: boolean;
  /** The minor GC while idle with requests held (`--expose-gc` set at run time). */
  idleScavenge: boolean;
  /** Node's own request-head deadline checker on the HTTP server the sniffing listener feeds. */
  nodeHeaderDeadlines: boolean;
  /** Whether a socket has a response under way, read from node:http's `socket._httpMessage`. */
  socketResponseProbe: boolean;
  /** Taking a connection back from node:http's server when its parser fails on an unknown method. */
  methodFallback: boolean;
}

export type InternalsPiece = keyof InternalsSwitches;

export const allInternalsOn: Readonly<InternalsSwitches> = Object.freeze({
  leanHttp1Client: true,
  idleScavenge: true,
  nodeHeaderDeadlines: true,
  socketResponseProbe: true,
  methodFallback: true,
});

/** Each piece's switch, for the messages that say how to turn it off. */
export const internalsEnvNames: Readonly<Record<InternalsPiece, string>> = Object.freeze({
  leanHttp1Client: 'KEDA_HTTP_INTERNALS_LEAN_HTTP1_CLIENT',
  idleScavenge: 'KEDA_HTTP_INTERNALS_IDLE_SCAVENGE',
  nodeHeaderDeadlines: 'KEDA_HTTP_INTERNALS_NODE_HEADER_DEADLINES',
  socketResponseProbe: 'KEDA_HTTP_INTERNALS_SOCKET_RESPONSE_PROBE',
  methodFallback: 'KEDA_HTTP_INTERNALS_METHOD_FALLBACK',
});

let switches: InternalsSwitches = { ...allInternalsOn };
let log: Logger | undefined;
const reported = new Set<InternalsPiece>();
const resetHooks: (() => void)[] = [];

/** Sets the switches and the logger for fallback reasons; forgets earlier checks and reports. */
export function configureRuntimeInternals(next: InternalsSwitches, logger?: Logger): void {
  switches = { ...next };
  log = logger;
  reported.clear();
  for (const reset of resetHooks) reset();
}

export function internalsEnabled(piece: InternalsPiece): boolean {
  return switches[piece];
}

/** A piece's memoised check registers here so a new configuration checks again. */
export function onInternalsReconfigured(reset: () => void): void {
  resetHooks.push(reset);
}

/**
 * Logs once per piece (per configuration) that it falls back, and why. Switched off by its env var
 * is an operator's choice (info); a shape mismatch is a Node version this code does not know (warn).
 */
export function reportFallback(piece: InternalsPiece, reason: string): void {
  if (reported.has(piece)) return;
  reported.add(piece);
  const message = `runtime internals: ${piece} falls back to public APIs: ${reason}`;
  if (!switches[piece]) log?.info(message, { piece, env: internalsEnvNames[piece] });
  else log?.warn(message, { piece, env: internalsEnvNames[piece] });
}
