// Two node:http server internals the proxy's listeners use (server/proxy-server.ts).
//
// 1. Node's request-head deadline checker (headersTimeout) starts when an HTTP server emits
//    'listening'. The proxy's HTTP/1.1 server never listens itself (the sniffing listener hands it
//    connections), so its 'listening' is emitted by hand to start the checker.
//    Switch: KEDA_HTTP_INTERNALS_NODE_HEADER_DEADLINES. Fallback: a timer per connection from its
//    arrival, and again from the end of each response, to the next request head; when it fires the
//    server's clientError handler answers 408 as Node's checker would. It is stricter on idle
//    keep-alive connections (closed after the header deadline rather than the keep-alive timeout).
// 2. Whether a socket has a response under way, from node:http's private `socket._httpMessage`: a
//    malformed request after a pipelined one must not get a 400 written into the middle of that
//    response. Switch: KEDA_HTTP_INTERNALS_SOCKET_RESPONSE_PROBE. Fallback: answered as "maybe",
//    so the connection is closed without a 400.
import http from 'node:http';
import net, { type Socket } from 'node:net';
import { internalsEnabled, onInternalsReconfigured, reportFallback } from './switches.ts';

const checkerSymbolName = 'http.server.connectionsCheckingInterval';

/** Why Node's checker did not start on `server` (after 'listening' was emitted), or undefined if it did. */
export function checkHeaderDeadlineChecker(server: object): string | undefined {
  const sym = Object.getOwnPropertySymbols(server).find((s) => s.description === checkerSymbolName);
  if (sym === undefined) return `the server has no ${checkerSymbolName} after 'listening'`;
  const timer = (server as Record<symbol, unknown>)[sym] as { refresh?: unknown } | undefined;
  if (typeof timer?.refresh !== 'function') return `${checkerSymbolName} is not a timer`;
  return undefined;
}

/**
 * Makes `server` (fed connections by emitting 'connection', never listening) enforce its
 * headersTimeout on every request head.
 */
export function startHeaderDeadlines(server: http.Server, check = checkHeaderDeadlineChecker): void {
  if (!internalsEnabled('nodeHeaderDeadlines')) {
    reportFallback('nodeHeaderDeadlines', 'switched off; request-head deadlines use a timer per connection');
    headerDeadlinesByTimers(server);
    return;
  }
  server.emit('listening');
  const problem = check(server);
  if (problem === undefined) return;
  reportFallback('nodeHeaderDeadlines', `${problem}; request-head deadlines use a timer per connection`);
  headerDeadlinesByTimers(server);
}

/** The public-API form: one timer per connection while it waits for a request head. */
function headerDeadlinesByTimers(server: http.Server): void {
  const timers = new WeakMap<Socket, NodeJS.Timeout>();
  const arm = (socket: Socket): void => {
    const ms = server.headersTimeout;
    if (!(ms > 0) || socket.destroyed) return;
    const existing = timers.get(socket);
    if (existing !== undefined) {
      existing.refresh();
      return;
    }
    const timer = setTimeout(() => {
      timers.delete(socket);
      if (socket.destroyed) return;
      const err = Object.assign(new Error('Request Timeout'), { code: 'ERR_HTTP_REQUEST_TIMEOUT' });
      if (server.listenerCount('clientError') > 0) server.emit('clientError', err, socket);
      else socket.destroy(err);
    }, ms).unref();
    timers.set(socket, timer);
  };
  const disarm = (socket: Socket): void => {
    clearTimeout(timers.get(socket));
    timers.delete(socket);
  };
  server.on('connection', (socket: Socket) => {
    arm(socket);
    socket.once('close', () => disarm(socket));
  });
  server.on('request', (req: http.IncomingMessage, res: http.ServerResponse) => {
    const socket = req.socket;
    disarm(socket);
    res.once('finish', () => arm(socket));
  });
}

/**
 * Whether node:http still records a socket's current response in `socket._httpMessage`: a response
 * assigned to a throwaway socket must show there. Undefined if it does, else why not.
 */
export function checkSocketResponseProbe(): string | undefined {
  const socket = new net.Socket();
  try {
    const res = new http.ServerResponse(new http.IncomingMessage(socket));
    res.assignSocket(socket);
    const seen = (socket as { _httpMessage?: unknown })._httpMessage;
    res.detachSocket(socket);
    return seen === res ? undefined : 'socket._httpMessage does not hold the response assigned to the socket';
  } catch (err) {
    return `assigning a response to a socket failed: ${(err as Error).message}`;
  } finally {
    socket.destroy();
  }
}

/** Whether the probe may be used: switched on and the self-check passed (reported once if not). */
export function resolveSocketResponseProbe(
  check: () => string | undefined = checkSocketResponseProbe,
): boolean {
  const consequence = 'a malformed request closes its connection without a 400';
  if (!internalsEnabled('socketResponseProbe')) {
    reportFallback('socketResponseProbe', `switched off; ${consequence}`);
    return false;
  }
  const problem = check();
  if (problem === undefined) return true;
  reportFallback('socketResponseProbe', `${problem}; ${consequence}`);
  return false;
}

let probeUsable: boolean | undefined;
onInternalsReconfigured(() => (probeUsable = undefined));

/**
 * Whether a response may be under way on an HTTP/1.1 server socket (the clientError handler then
 * closes the connection instead of writing an error response). Without the probe: always maybe.
 */
export function responseMayBeInFlight(socket: Socket): boolean {
  if (!(probeUsable ??= resolveSocketResponseProbe())) return true;
  return Boolean((socket as { _httpMessage?: unknown })._httpMessage);
}
