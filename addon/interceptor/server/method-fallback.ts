// HTTP/1.1 requests whose method is a valid token that node:http's parser (llhttp) does not know,
// such as FOO or BREW: RFC 9110 section 9.1 makes any token a method, and upstream's Go interceptor
// forwards them, but llhttp answers them 400 by a fixed list (http.METHODS). Ordinary connections
// never come here and pay nothing: only when the parser fails on such a method does its server
// report a 'clientError', and then this takes the connection over:
//
// 1. Where the failed request starts is recovered from the bytes the parser was given (the error's
//    rawPacket) and where it stopped (bytesParsed). An invalid token is answered 400 as before.
// 2. The connection is taken back from node:http's server (internals/server-connection.ts).
// 3. Once the responses to the requests before it are out, the connection's bytes from that request
//    on are fed, through the MethodRewriter (method-rewriter.ts), to a second node:http server with
//    the same settings, as a new connection: each unknown method becomes POST on the wire into the
//    parser, and the real one travels in a header named with a per-process random suffix, which
//    this server's request listener turns back into req.method and removes. From there the request
//    goes through the pipeline like any other: routing, counting, holding, its body framed by
//    Content-Length or Transfer-Encoding, its response relayed. Later requests on the connection,
//    known methods or not, keep going this way.
import { randomBytes } from 'node:crypto';
import http from 'node:http';
import type { Socket } from 'node:net';
import { Duplex } from 'node:stream';
import type { Logger } from '../../shared/log.ts';
import { takeBackConnection } from '../internals/server-connection.ts';
import { isTchar, MethodRewriter, parserMethods } from './method-rewriter.ts';

/** RTSP's own methods: llhttp matches them on a request line too, and refuses them with HTTP/1.x. */
const rtspOnlyMethods = [
  'DESCRIBE',
  'ANNOUNCE',
  'SETUP',
  'PLAY',
  'PAUSE',
  'TEARDOWN',
  'GET_PARAMETER',
  'SET_PARAMETER',
  'REDIRECT',
  'RECORD',
  'FLUSH',
];
/** Every method llhttp matches on a request line: Node's list, the HTTP/2 preface's PRI, RTSP's. */
const llhttpMethods = new Set([...parserMethods, 'PRI', ...rtspOnlyMethods]);
const llhttpPrefixes = new Set([...llhttpMethods].flatMap((m) => [...m].map((_, i) => m.slice(0, i + 1))));
const rtspByLength = [...rtspOnlyMethods].sort((a, b) => b.length - a.length);

/** Where llhttp stops reading a method that starts at `s`; undefined if it reads a whole one. */
function methodFailsAt(buf: Buffer, s: number): number | undefined {
  let p = s;
  while (p < buf.length && llhttpPrefixes.has(buf.toString('latin1', s, p + 1))) p++;
  if (p < buf.length && buf[p] === 0x20 && llhttpMethods.has(buf.toString('latin1', s, p))) return undefined;
  return p;
}

/**
 * Where the request the parser failed on starts in `raw` (what the parser was given), from where it
 * stopped (`errorAt`), or undefined when that cannot be told for sure.
 *
 * HPE_INVALID_METHOD: llhttp reads a method as a prefix of the ones it knows and stops at the first
 * byte that continues none. The request starts within the run of token bytes that ends there (the
 * bytes before it are the end of the previous request), at a place from which llhttp would have
 * stopped at exactly `errorAt`. When the run starts a line, its start is taken if it fits; else
 * the one start in the run that fits, and none when two do (a body ending in "xyGE" before "TX":
 * GETX or TX?), which leaves the request to its 400.
 * One case cannot be told from these bytes: a method split between two reads of the connection,
 * its first part already taken by the parser with the previous read. The part in the last read is
 * then taken for the method. Clients write a request head in one piece, so this needs a pipelined
 * stream cut by the network inside a method. HPE_INVALID_CONSTANT with an
 * RTSP method (DESCRIBE, PLAY...) on an HTTP/1.x line: llhttp stops at the "/" after "HTTP"; the
 * line is then "<method> <target> HTTP".
 */
export function failedRequestStart(
  raw: Buffer,
  errorAt: number,
  code: string | undefined,
): number | undefined {
  if (!(errorAt >= 0 && errorAt <= raw.length)) return undefined;
  if (code === 'HPE_INVALID_METHOD') {
    let first = errorAt;
    while (first > 0 && isTchar(raw[first - 1] as number)) first--;
    // A run that starts a line (or the bytes) usually starts the request: the previous one ended
    // with its head's or its chunked body's CRLF.
    if ((first === 0 || raw[first - 1] === 0x0a) && methodFailsAt(raw, first) === errorAt) return first;
    // Otherwise the run begins with the end of a Content-Length body; only one start must fit.
    let found: number | undefined;
    for (let s = first; s <= errorAt; s++) {
      if (methodFailsAt(raw, s) !== errorAt) continue;
      if (found !== undefined) return undefined;
      found = s;
    }
    return found;
  }
  if (code !== 'HPE_INVALID_CONSTANT' || raw.toString('latin1', errorAt - 5, errorAt) !== ' HTTP')
    return undefined;
  let sp = errorAt - 6;
  while (sp >= 0 && raw[sp] !== 0x20) {
    if (raw[sp] === 0x0a || raw[sp] === 0x0d) return undefined;
    sp--;
  }
  for (const m of rtspByLength)
    if (sp >= m.length && raw.toString('latin1', sp - m.length, sp) === m) return sp - m.length;
  return undefined;
}

/** Whether the request line at `start` begins with a valid method token and a space. */
function startsWithToken(raw: Buffer, start: number): boolean {
  let p = start;
  while (p < raw.length && isTchar(raw[p] as number)) p++;
  return p > start && raw[p] === 0x20;
}

/**
 * The rest of a taken-over connection as the fallback server sees it: what the client sends,
 * rewritten; what the server writes goes to the client as it is. It answers the socket methods
 * node:http and the pipeline use (addresses, timeouts, bytesRead) from the real connection.
 */
class RewrittenConnection extends Duplex {
  readonly raw: Socket;
  readonly #rewriter: MethodRewriter;

  constructor(raw: Socket, first: Buffer, rewriter: MethodRewriter) {
    super({ allowHalfOpen: true });
    this.raw = raw;
    this.#rewriter = rewriter;
    raw.on('data', this.#onData);
    raw.on('end', () => this.push(null));
    raw.on('error', (err) => this.destroy(err));
    raw.on('close', () => this.destroy());
    raw.on('timeout', () => this.emit('timeout'));
    raw.setTimeout(0);
    raw.pause();
    this.#onData(first);
  }

  readonly #onData = (chunk: Buffer): void => {
    let more = true;
    for (const out of this.#rewriter.push(chunk)) more = this.push(out);
    if (!more) this.raw.pause();
  };

  override _read(): void {
    this.raw.resume();
  }

  override _write(chunk: Buffer, encoding: BufferEncoding, done: (err?: Error | null) => void): void {
    this.raw.write(chunk, encoding, done);
  }

  override _final(done: (err?: Error | null) => void): void {
    this.raw.end(done);
  }

  override _destroy(err: Error | null, done: (err?: Error | null) => void): void {
    this.raw.destroy();
    done(err);
  }

  get remoteAddress(): string | undefined {
    return this.raw.remoteAddress;
  }
  get remotePort(): number | undefined {
    return this.raw.remotePort;
  }
  get remoteFamily(): string | undefined {
    return this.raw.remoteFamily;
  }
  get localAddress(): string | undefined {
    return this.raw.localAddress;
  }
  get localPort(): number | undefined {
    return this.raw.localPort;
  }
  get bytesRead(): number {
    return this.raw.bytesRead;
  }
  get encrypted(): boolean {
    return (this.raw as { encrypted?: boolean }).encrypted === true;
  }
  setTimeout(ms: number, onTimeout?: () => void): this {
    this.raw.setTimeout(ms);
    if (onTimeout) this.once('timeout', onTimeout);
    return this;
  }
  setNoDelay(noDelay?: boolean): this {
    this.raw.setNoDelay(noDelay);
    return this;
  }
  setKeepAlive(enable?: boolean, delay?: number): this {
    this.raw.setKeepAlive(enable, delay);
    return this;
  }
}

export interface FallbackServerOptions {
  log: Logger;
  serverOptions: http.ServerOptions;
  onRequest: http.RequestListener;
  onUpgrade: (req: http.IncomingMessage, socket: Socket, head: Buffer) => void;
  onClientError: (err: NodeJS.ErrnoException, socket: Socket) => void;
  /** Whether the real connection has no request in flight (its earlier responses are out). */
  idle: (raw: Socket) => boolean;
  /** Told of each rewritten connection before it is served, with the real one behind it. */
  adopt: (raw: Socket, conn: Socket) => void;
  /** Called with the server once, so that the listeners' owner can start its deadlines and close it. */
  setUp?: (server: http.Server) => void;
}

/** The fallback for one listener (plain or TLS): its own node:http server and method header. */
export class MethodFallback {
  readonly #log: Logger;
  readonly #idle: (raw: Socket) => boolean;
  readonly #adopt: (raw: Socket, conn: Socket) => void;
  readonly #maxHead: number;
  /** Lowercase, and unguessable: a client cannot send it to change another request's method. */
  readonly header = `x-keda-http-method-${randomBytes(12).toString('hex')}`;
  readonly server: http.Server;

  constructor(o: FallbackServerOptions) {
    this.#log = o.log;
    this.#idle = o.idle;
    this.#adopt = o.adopt;
    this.#maxHead = o.serverOptions.maxHeaderSize ?? 16 << 10;
    // Room for the method header, so that a head at the limit is not refused because of it.
    this.server = http.createServer(
      { ...o.serverOptions, maxHeaderSize: this.#maxHead + 512 },
      this.#restore(o.onRequest),
    );
    this.server.on('clientError', o.onClientError);
    this.server.on('upgrade', o.onUpgrade);
    o.setUp?.(this.server);
  }

  /** The request listener: the real method back from its header, the header gone. */
  #restore(onRequest: http.RequestListener): http.RequestListener {
    const header = this.header;
    return (req, res) => {
      const raw = req.rawHeaders;
      // The rewriter writes the header first, right after the request line.
      if (raw[0] === header) {
        req.method = raw[1];
        // Both header views are built from rawHeaders on first use (by its original length), so
        // they are built now and the header removed from each.
        delete req.headers[header];
        delete (req.headersDistinct as Record<string, unknown>)[header];
        raw.splice(0, 2);
      }
      onRequest(req, res);
    };
  }

  /**
   * For a 'clientError': when `err` is llhttp refusing a valid method token it does not know, takes
   * the connection over and returns true; otherwise false (the caller answers the error).
   */
  takeOver(
    err: NodeJS.ErrnoException & { rawPacket?: Buffer; bytesParsed?: number },
    socket: Socket,
  ): boolean {
    if (err.code !== 'HPE_INVALID_METHOD' && err.code !== 'HPE_INVALID_CONSTANT') return false;
    if (socket instanceof RewrittenConnection) return false; // the rewriter left it to the parser
    const raw = err.rawPacket;
    if (!Buffer.isBuffer(raw) || typeof err.bytesParsed !== 'number') return false;
    const start = failedRequestStart(raw, err.bytesParsed, err.code);
    if (start === undefined || !startsWithToken(raw, start)) return false;
    if (!socket.writable || !takeBackConnection(socket)) return false;
    // The parser may have been given bytes the socket still holds for a 'data' listener.
    const rest: Buffer[] = [raw.subarray(start)];
    let buffered: Buffer | null;
    socket.pause();
    while ((buffered = socket.read() as Buffer | null) !== null) rest.push(buffered);
    socket.on('error', () => socket.destroy());
    this.#log.debug('serving a connection through the method fallback', {
      method: raw.toString('latin1', start, raw.indexOf(0x20, start)),
    });
    this.#whenIdle(socket, () => {
      const conn = new RewrittenConnection(
        socket,
        Buffer.concat(rest),
        new MethodRewriter(this.header, this.#maxHead),
      );
      this.#adopt(socket, conn as unknown as Socket);
      this.server.emit('connection', conn);
    });
    return true;
  }

  /**
   * Runs `then` once the requests before the taken-over one have had their responses. Checked on a
   * timer (5 ms, growing to 100 ms), so that nothing on the path of ordinary requests has to report.
   */
  #whenIdle(socket: Socket, then: () => void): void {
    let wait = 5;
    const check = (): void => {
      if (socket.destroyed) return;
      if (this.#idle(socket)) then();
      else setTimeout(check, (wait = Math.min(100, wait * 2)));
    };
    check();
  }
}
