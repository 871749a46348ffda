// An HTTP/1.1 request body while the pipeline has it. Two hostile-client cases live here:
// - A body that stalls: when the interceptor is reading and no byte has arrived for
//   KEDA_HTTP_REQUEST_BODY_TIMEOUT, the client gets 408 and the connection is closed (a backend
//   would otherwise wait for the rest until its own timeout, holding a connection and a count).
//   Time the interceptor itself is not reading (a slow backend pushing back) never counts.
// - A client that leaves while its request is held: Node stops reading a socket whose request body
//   nobody consumes, and a socket that is not read never reports that its peer left. So while held,
//   the body is read ahead into memory, up to 1 MiB per request and 64 MiB across all held
//   requests; past either bound the socket is left unread (TCP pushes back on the client) and a
//   departure is only seen when the wait ends. The bytes read ahead go first when the request is
//   forwarded.
// HTTP/2 streams have their own (h2-request-body.ts): flow control bounds what a stream buffers,
// and a client that leaves resets its stream on a session that is always read.
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { PassThrough, type Readable } from 'node:stream';
import { writeError } from '../proxy/responses.ts';

export const readAheadPerRequestBytes = 1 << 20;
export const readAheadTotalBytes = 64 << 20;

/** How many bytes of held requests' bodies are in memory right now, against a total bound. */
export class ReadAheadBudget {
  readonly perRequest: number;
  readonly total: number;
  #used = 0;

  constructor(perRequest = readAheadPerRequestBytes, total = readAheadTotalBytes) {
    this.perRequest = perRequest;
    this.total = total;
  }

  get used(): number {
    return this.#used;
  }

  /** Counts `n` more bytes; false once the total is reached (the caller stops reading ahead). */
  take(n: number): boolean {
    this.#used += n;
    return this.#used < this.total;
  }

  give(n: number): void {
    this.#used -= n;
  }
}

function hasBody(req: IncomingMessage): boolean {
  const cl = req.headers['content-length'];
  return (cl !== undefined && cl !== '0') || req.headers['transfer-encoding'] !== undefined;
}

/** What the pipeline does with a request body that is still arriving (HTTP/1.x or HTTP/2). */
export interface PipelineBody {
  /** While held: keep reading, so that a client that leaves is seen. */
  readAhead(budget: ReadAheadBudget): void;
  /** The body to forward, when the forwarder should not read the request itself. */
  forwardable(): Readable | undefined;
  /** The exchange is over. */
  end(): void;
}

export class RequestBody implements PipelineBody {
  readonly #req: IncomingMessage;
  readonly #res: ServerResponse;
  readonly #socket: Socket;
  readonly #timer: NodeJS.Timeout | undefined;
  #seenBytes: number;
  #budget: ReadAheadBudget | undefined;
  #chunks: Buffer[] | undefined;
  #bytes = 0;

  /**
   * The body of an HTTP/1.x request that still has one to receive; undefined otherwise (bodyless
   * requests, the common case, pay nothing). `stallMs` 0 = no stall timeout.
   */
  static of(req: IncomingMessage, res: ServerResponse, stallMs: number): RequestBody | undefined {
    if (req.complete || !hasBody(req)) return undefined;
    return new RequestBody(req, res, stallMs);
  }

  private constructor(req: IncomingMessage, res: ServerResponse, stallMs: number) {
    this.#req = req;
    this.#res = res;
    this.#socket = req.socket;
    this.#seenBytes = this.#socket.bytesRead;
    this.#timer = stallMs > 0 ? setTimeout(this.#check, stallMs) : undefined;
  }

  readonly #check = (): void => {
    const req = this.#req;
    const socket = this.#socket;
    if (req.complete || socket.destroyed) return;
    const n = socket.bytesRead;
    // Paused: the interceptor (or a backend behind it) is not asking for more, so no stall.
    if (n !== this.#seenBytes || socket.isPaused()) {
      this.#seenBytes = n;
      this.#timer?.refresh();
      return;
    }
    // Connection: close, since the rest of the body may still come and cannot be framed apart
    // from a next request.
    writeError(this.#res, 408, { connection: 'close' });
  };

  /** While held: reads the body into memory, within the budget, so that a departure is seen. */
  readAhead(budget: ReadAheadBudget): void {
    if (this.#chunks !== undefined || this.#req.readableEnded) return;
    this.#budget = budget;
    this.#chunks = [];
    this.#req.on('data', this.#onData);
  }

  readonly #onData = (chunk: Buffer): void => {
    const budget = this.#budget as ReadAheadBudget;
    (this.#chunks as Buffer[]).push(chunk);
    this.#bytes += chunk.length;
    if (!budget.take(chunk.length) || this.#bytes >= budget.perRequest) this.#req.pause();
  };

  /**
   * The body to forward: what was read ahead, then the rest as it arrives; undefined when nothing
   * was read ahead (the forwarder then reads the request itself).
   */
  forwardable(): Readable | undefined {
    const chunks = this.#chunks;
    if (chunks === undefined) return undefined;
    this.#release();
    const body = new PassThrough();
    for (const c of chunks) body.write(c);
    if (this.#req.readableEnded) body.end();
    else this.#req.pipe(body);
    return body;
  }

  #release(): void {
    this.#req.off('data', this.#onData);
    this.#budget?.give(this.#bytes);
    this.#chunks = undefined;
    this.#bytes = 0;
  }

  /** The exchange is over: no more stall checks, and what was read ahead is let go. */
  end(): void {
    clearTimeout(this.#timer);
    if (this.#chunks !== undefined) this.#release();
  }
}
