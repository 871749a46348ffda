// Error answers in the shape Go's http.Error writes them, so clients see upstream's exact bytes.
import { STATUS_CODES } from 'node:http';
import type { ServerResponse } from 'node:http';
import type { Http2ServerResponse } from 'node:http2';

/** Upstream's bodies: the status text and a newline ("Bad Gateway\n", "Not Found\n"). */
export function writeError(
  res: ServerResponse | Http2ServerResponse,
  status: number,
  extraHeaders?: Record<string, string>,
  body = `${STATUS_CODES[status] ?? 'Error'}\n`,
): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  const r = res as ServerResponse;
  // Headers set earlier (e.g. the cold-start header) stay, as they do on upstream's 502/504.
  r.removeHeader('content-length');
  r.writeHead(status, {
    ...extraHeaders,
    'content-type': 'text/plain; charset=utf-8',
    'x-content-type-options': 'nosniff',
    'content-length': Buffer.byteLength(body),
  });
  r.end(body);
}
