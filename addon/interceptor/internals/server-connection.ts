// Taking an HTTP/1.1 connection back from node:http's server after its parser failed on a method it
// does not know (server/method-fallback.ts then serves the rest of the connection). Node does the
// same for an Upgrade, in private code: it removes the listeners its server put on the socket,
// stops its parser reading the socket's handle, and frees the parser. Those listeners are only
// reachable by their function names, and the parser only through `socket.parser` and
// `_http_common`'s freeParser (a non-public module), so this is a runtime internal.
// Switch: KEDA_HTTP_INTERNALS_METHOD_FALLBACK. Fallback: such a request gets 400, as node:http
// answers it (only methods in Node's parser's list are accepted on HTTP/1.1).
import { createRequire } from 'node:module';
import http from 'node:http';
import net, { type Socket } from 'node:net';
import { internalsEnabled, onInternalsReconfigured, reportFallback } from './switches.ts';

/** The listeners node:http's server puts on each connection, by event and function name. */
const serverListeners: readonly (readonly [event: string, name: string, required: boolean])[] = [
  ['data', 'bound socketOnData', true],
  ['end', 'bound socketOnEnd', true],
  ['close', 'bound socketOnClose', true],
  ['drain', 'bound socketOnDrain', true],
  ['timeout', 'socketOnTimeout', true],
  // Removed by Node itself on the way to 'clientError'.
  ['error', 'socketOnError', false],
  // Only on a socket with a handle that the parser reads directly.
  ['resume', 'onSocketResume', false],
  ['pause', 'onSocketPause', false],
];
/** Methods the server overrides on each connection so that a 'data' listener stops its parser. */
const overriddenMethods = ['on', 'addListener', 'prependListener', 'setEncoding'] as const;

type FreeParser = (parser: unknown, req: unknown, socket: Socket) => void;

function loadFreeParser(): FreeParser | string {
  try {
    const mod = createRequire(import.meta.url)('_http_common') as { freeParser?: unknown };
    return typeof mod.freeParser === 'function'
      ? (mod.freeParser as FreeParser)
      : '_http_common has no freeParser';
  } catch (err) {
    return `_http_common cannot be loaded: ${(err as Error).message}`;
  }
}

/** Why `socket` does not look like a connection node:http's server is serving; undefined if it does. */
function shapeProblem(socket: Socket): string | undefined {
  const parser = (socket as { parser?: { unconsume?: unknown } | null }).parser;
  if (typeof parser?.unconsume !== 'function') return 'the connection has no socket.parser with unconsume()';
  for (const [event, name, required] of serverListeners)
    if (required && !socket.listeners(event).some((l) => l.name === name))
      return `node:http's server has no '${event}' listener named "${name}" on its connections`;
  for (const m of overriddenMethods)
    if (!Object.hasOwn(socket, m)) return `node:http's server no longer overrides socket.${m}`;
  return undefined;
}

/**
 * Detaches node:http's server from `socket` (its listeners, method overrides and parser), so that
 * the connection's next bytes reach whoever reads it next. False if the connection does not have
 * the shape this relies on (then nothing was changed).
 */
export function detachFromHttpServer(socket: Socket, freeParser: FreeParser): boolean {
  if (shapeProblem(socket) !== undefined) return false;
  for (const [event, name] of serverListeners)
    for (const l of socket.listeners(event))
      if (l.name === name) socket.removeListener(event, l as (...args: unknown[]) => void);
  for (const m of overriddenMethods) delete (socket as unknown as Record<string, unknown>)[m];
  freeParser((socket as { parser?: unknown }).parser, null, socket);
  return true;
}

/**
 * The start-up check: a throwaway server connection has the listeners, overrides and parser this
 * code removes, and none of them are left afterwards. Undefined if so, else why not.
 */
export function checkConnectionDetach(
  freeParser: FreeParser | string = loadFreeParser(),
): string | undefined {
  if (typeof freeParser === 'string') return freeParser;
  const server = http.createServer();
  const socket = new net.Socket();
  try {
    server.emit('connection', socket);
    const problem = shapeProblem(socket);
    if (problem !== undefined) return problem;
    detachFromHttpServer(socket, freeParser);
    for (const [event, name] of serverListeners)
      if (socket.listeners(event).some((l) => l.name === name))
        return `a '${event}' listener is left after detaching`;
    if ((socket as { parser?: unknown }).parser) return 'socket.parser is left after freeParser';
    if (socket.on !== net.Socket.prototype.on) return 'socket.on is still overridden after detaching';
    return undefined;
  } catch (err) {
    return `detaching a throwaway connection failed: ${(err as Error).message}`;
  } finally {
    socket.destroy();
  }
}

let memo: { free: FreeParser | undefined } | undefined;
onInternalsReconfigured(() => (memo = undefined));

/**
 * Decides once whether the method fallback is used: switched on, and `check` (the start-up check
 * above; tests pass another) finds the expected shape. Reports once why not.
 */
export function resolveMethodFallback(
  check: (free: FreeParser | string) => string | undefined = checkConnectionDetach,
): boolean {
  const consequence = "HTTP/1.1 methods outside Node parser's list get 400";
  memo = { free: undefined };
  if (!internalsEnabled('methodFallback')) {
    reportFallback('methodFallback', `switched off; ${consequence}`);
    return false;
  }
  const free = loadFreeParser();
  const problem = check(free);
  if (problem !== undefined || typeof free === 'string') {
    reportFallback('methodFallback', `${problem ?? free}; ${consequence}`);
    return false;
  }
  memo.free = free;
  return true;
}

/**
 * Takes `socket` back from node:http's server, when switched on and the internals are as expected
 * (checked once). False: the caller answers as if there were no fallback.
 */
export function takeBackConnection(socket: Socket): boolean {
  if (memo === undefined) resolveMethodFallback();
  const free = memo?.free;
  return free !== undefined && detachFromHttpServer(socket, free);
}
