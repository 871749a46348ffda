// The optional access log (KEDA_HTTP_LOG_REQUESTS): one line per request in upstream's combined
// format, written through the structured logger after the response, off the response's critical path.
import type { Logger } from '../../shared/log.ts';
import type { ProxyRequest, ProxyResponse } from './forward.ts';

const months = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];

function pad(n: number): string {
  return n < 10 ? `0${n}` : String(n);
}

/** Go's "02/Jan/2006:15:04:05 -0700" in UTC. */
export function formatLogTime(ms: number): string {
  const t = new Date(ms);
  return `${pad(t.getUTCDate())}/${months[t.getUTCMonth()]}/${t.getUTCFullYear()}:${pad(t.getUTCHours())}:${pad(t.getUTCMinutes())}:${pad(t.getUTCSeconds())} +0000`;
}

const bodyBytes = new WeakMap<object, number>();

function byteLength(chunk: unknown): number {
  if (typeof chunk === 'string') return Buffer.byteLength(chunk);
  if (chunk instanceof Uint8Array) return chunk.byteLength;
  return 0;
}

export class AccessLog {
  readonly #log: Logger;

  constructor(log: Logger) {
    this.#log = log;
  }

  /** Counts the body bytes written to `res` (only when the access log is on: it wraps write/end). */
  attach(res: ProxyResponse): void {
    const r = res as unknown as { write: (...a: unknown[]) => boolean; end: (...a: unknown[]) => unknown };
    const write = r.write.bind(res);
    const end = r.end.bind(res);
    bodyBytes.set(res, 0);
    r.write = (...a: unknown[]) => {
      bodyBytes.set(res, (bodyBytes.get(res) ?? 0) + byteLength(a[0]));
      return write(...a);
    };
    r.end = (...a: unknown[]) => {
      if (typeof a[0] !== 'function') bodyBytes.set(res, (bodyBytes.get(res) ?? 0) + byteLength(a[0]));
      return end(...a);
    };
  }

  record(req: ProxyRequest, res: ProxyResponse, startPerf: number): void {
    const wallStart = Date.now() - (performance.now() - startPerf);
    const path = (req.url ?? '/').split('?', 1)[0] ?? '/';
    const bytes = bodyBytes.get(res) ?? 0;
    const ref = req.headers.referer ?? '';
    const ua = req.headers['user-agent'] ?? '';
    const remote = `${req.socket?.remoteAddress ?? ''}:${req.socket?.remotePort ?? ''}`;
    const line = `${remote} - - [${formatLogTime(wallStart)}] "${req.method ?? ''} ${path} HTTP/${req.httpVersion}" ${res.statusCode} ${bytes} "${ref}" "${ua}"`;
    setImmediate(() => this.#log.info(line, { access: true }));
  }
}
