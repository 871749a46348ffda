// An HTTP/2 request body while the pipeline has it: the stall timeout (KEDA_HTTP_REQUEST_BODY_TIMEOUT)
// for streams. Flow control already bounds what a stream buffers, and a client that leaves resets its
// stream on a session that is always read, so there is no read-ahead here; what flow control does not
// bound is time: a client that opens a body and goes silent keeps a backend request, a connection to
// the backend and a count for as long as the backend waits. So once the body is being forwarded, a
// pause longer than the timeout with the interceptor asking for more ends the stream:
// - no response yet: 408, then the stream is closed (RST_STREAM NO_ERROR, RFC 9113 section 8.1: a
//   complete response may come before the request is complete);
// - a response already under way: the stream is reset with CANCEL.
// Either way the response closes, which aborts the backend request and releases the counts.
// Time the interceptor is not reading (held, or a backend pushing back) never counts.
import http2, { type Http2ServerRequest, type Http2ServerResponse } from 'node:http2';
import { PassThrough, type Readable } from 'node:stream';
import { writeError } from '../proxy/responses.ts';
import type { PipelineBody } from './request-body.ts';

export class H2RequestBody implements PipelineBody {
  readonly #req: Http2ServerRequest;
  readonly #res: Http2ServerResponse;
  readonly #stallMs: number;
  #timer: NodeJS.Timeout | undefined;
  #bytes = 0;
  #seenBytes = 0;

  /** The body of an HTTP/2 request that still has one to receive, when there is a stall timeout. */
  static of(req: Http2ServerRequest, res: Http2ServerResponse, stallMs: number): H2RequestBody | undefined {
    if (!(stallMs > 0) || req.stream.endAfterHeaders || req.complete) return undefined;
    return new H2RequestBody(req, res, stallMs);
  }

  private constructor(req: Http2ServerRequest, res: Http2ServerResponse, stallMs: number) {
    this.#req = req;
    this.#res = res;
    this.#stallMs = stallMs;
  }

  /** Nothing to do: a held stream is not read beyond its flow-control window. */
  readAhead(): void {}

  /**
   * The body to forward, through a PassThrough as the forwarder would use for HTTP/2 (undici
   * destroys a finished body stream, and destroying an Http2ServerRequest resets the whole stream).
   * The stall clock starts here, when the interceptor starts reading.
   */
  forwardable(): Readable {
    const req = this.#req;
    const body = new PassThrough();
    // The request is flowing through the pipe from now on, so this listener changes nothing about
    // how it is read; it only counts.
    req.on('data', this.#onData);
    req.pipe(body);
    this.#timer = setTimeout(this.#check, this.#stallMs);
    return body;
  }

  readonly #onData = (chunk: Buffer): void => {
    this.#bytes += chunk.length;
  };

  readonly #check = (): void => {
    const req = this.#req;
    const stream = req.stream;
    if (req.complete || stream.destroyed || stream.closed) return;
    // Paused: the backend is not taking more, so the client's window is simply full; no stall.
    if (this.#bytes !== this.#seenBytes || req.isPaused()) {
      this.#seenBytes = this.#bytes;
      this.#timer?.refresh();
      return;
    }
    if (this.#res.headersSent) {
      stream.close(http2.constants.NGHTTP2_CANCEL);
      return;
    }
    writeError(this.#res, 408);
    // The rest of the body is not wanted; once the 408 is out, the stream is closed for good.
    stream.once('finish', () => stream.close(http2.constants.NGHTTP2_NO_ERROR));
  };

  end(): void {
    clearTimeout(this.#timer);
    this.#req.off('data', this.#onData);
  }
}
