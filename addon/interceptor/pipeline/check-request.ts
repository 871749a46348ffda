// Step 1: what a request must be before anything else looks at it. These answers come before
// routing, counting, metrics and the access log, as Go's HTTP server gives them before its handler
// runs (the same status codes and bodies).
// - HTTP/1.1 needs exactly one Host, HTTP/1.0 at most one (RFC 9112 §3.2): 400.
// - A transfer coding other than chunked (RFC 9112 §6.1, "gzip, chunked"): 501. Node's parser
//   only ever hands over requests whose final coding is chunked; whatever comes before it is a
//   coding nobody here can undo, and forwarding the de-chunked bytes would change the body.
// - `OPTIONS *` asks about the server, not a resource (RFC 9110 §9.3.7): 200 with no body, as Go's
//   server answers it; no route has a path "*" to send it to.
// The 400 and 501 close the connection: a body that was not read cannot be told apart from the
// next request.
import type { ServerResponse } from 'node:http';
import type { ProxyRequest, ProxyResponse } from '../proxy/forward.ts';
import { writeError } from '../proxy/responses.ts';

function hostCount(raw: readonly string[]): number {
  let n = 0;
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i] as string;
    if (name.length === 4 && name.toLowerCase() === 'host') n++;
  }
  return n;
}

/** True when the request may go on; otherwise it has been answered. */
export function checkRequest(req: ProxyRequest, res: ProxyResponse): boolean {
  if (req.httpVersionMajor === 1) {
    const hosts = hostCount(req.rawHeaders);
    if (hosts > 1 || (hosts === 0 && req.httpVersionMinor >= 1)) {
      const why = hosts > 1 ? 'too many Host headers' : 'missing required Host header';
      writeError(res, 400, { connection: 'close' }, `400 Bad Request: ${why}`);
      return false;
    }
    const te = req.headers['transfer-encoding'];
    if (te !== undefined && te.trim().toLowerCase() !== 'chunked') {
      writeError(res, 501, { connection: 'close' }, 'Unsupported transfer encoding');
      return false;
    }
  }
  if (req.url === '*' && req.method === 'OPTIONS') {
    (res as ServerResponse).writeHead(200, { 'content-length': '0' });
    res.end();
    return false;
  }
  return true;
}
