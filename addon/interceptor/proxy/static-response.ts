// Static answers: placeholder pages during a cold start and staticRoutes, rendered as upstream
// renders them, with bodies inline or from a labelled ConfigMap. Beyond upstream: a placeholder may
// answer by content negotiation, a self-refreshing HTML page for browsers and 503 + Retry-After for
// API clients.
import { extname } from 'node:path';
import type { ServerResponse } from 'node:http';
import { responseBodyLabel } from '../../api/index.ts';
import type { ObjectStore } from '../../shared/store/store.ts';
import type { StaticResponse } from '../routing/route.ts';
import type { ProxyRequest, ProxyResponse } from './forward.ts';
import { writeError } from './responses.ts';

/** Go's mime.TypeByExtension for the types a ConfigMap page is likely to hold. */
const mimeTypes: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.htm': 'text/html; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.json': 'application/json',
  '.txt': 'text/plain; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.xml': 'text/xml; charset=utf-8',
  '.png': 'image/png',
  '.jpg': 'image/jpeg',
  '.jpeg': 'image/jpeg',
  '.gif': 'image/gif',
  '.webp': 'image/webp',
  '.ico': 'image/vnd.microsoft.icon',
  '.pdf': 'application/pdf',
  '.wasm': 'application/wasm',
  '.avif': 'image/avif',
};

/** A small version of Go's http.DetectContentType for text bodies (what a static response usually is). */
function sniff(body: string): string {
  const head = body.trimStart().slice(0, 512).toLowerCase();
  if (
    /^<(!doctype html|html|head|body|script|iframe|h1|div|font|table|a |style|title|b |br|p[ >])/.test(head)
  )
    return 'text/html; charset=utf-8';
  if (head.startsWith('<?xml')) return 'text/xml; charset=utf-8';
  if (head.startsWith('%pdf-')) return 'application/pdf';
  return 'text/plain; charset=utf-8';
}

export class StaticResponder {
  readonly #store: ObjectStore;

  constructor(store: ObjectStore) {
    this.#store = store;
  }

  /** Writes a static response; a ConfigMap that cannot be used gives upstream's 500. */
  write(res: ProxyResponse, namespace: string, response: StaticResponse, path: string): void {
    let body = response.body ?? '';
    let detected: string | undefined;
    if (response.bodyFromConfigMap) {
      const { name, key } = response.bodyFromConfigMap;
      const cm = this.#store.get('ConfigMap', namespace, name);
      // The label rule: upstream's informer only ever sees labelled ConfigMaps, so an unlabelled one
      // is "not found" here too, in file mode as in a cluster.
      if (!cm || cm.metadata.labels?.[responseBodyLabel] !== 'true') {
        writeError(res, 500, undefined, 'Internal Server Error\n');
        return;
      }
      const data = (cm['data'] as Record<string, string> | undefined) ?? {};
      const derived = key === undefined;
      const k = key ?? (path === '/' || path === '' ? 'index.html' : path.slice(1));
      const value = data[k];
      if (value === undefined && !derived) {
        writeError(res, 500, undefined, 'Internal Server Error\n');
        return;
      }
      body = value ?? '';
      detected = mimeTypes[extname(k).toLowerCase()];
    }
    const headers: Record<string, string> = {};
    for (const [h, v] of Object.entries(response.headers)) headers[h.toLowerCase()] = v;
    if (headers['content-type'] === undefined && detected !== undefined) headers['content-type'] = detected;
    if (headers['content-type'] === undefined && body !== '') headers['content-type'] = sniff(body);
    headers['content-length'] = String(Buffer.byteLength(body));
    const r = res as ServerResponse;
    r.writeHead(response.statusCode, headers);
    r.end(body);
  }

  /**
   * The negotiated placeholder: browsers (Accept names text/html) get an HTML page that reloads
   * itself; everyone else gets 503 with Retry-After so a client library can back off and retry.
   */
  writeNegotiated(
    req: ProxyRequest,
    res: ProxyResponse,
    namespace: string,
    response: StaticResponse,
    routeKey: string,
    retryAfterSeconds: number,
  ): void {
    const accept = req.headers['accept'] ?? '';
    const r = res as ServerResponse;
    if (/\btext\/html\b/i.test(accept)) {
      if (response.body !== undefined || response.bodyFromConfigMap !== undefined) {
        r.setHeader('refresh', String(Math.max(retryAfterSeconds, 1)));
        this.write(res, namespace, response, req.url?.split('?', 1)[0] ?? '/');
        return;
      }
      const html = startingPage(routeKey, Math.max(retryAfterSeconds, 1));
      r.writeHead(response.statusCode, {
        'content-type': 'text/html; charset=utf-8',
        'cache-control': 'no-store',
        refresh: String(Math.max(retryAfterSeconds, 1)),
        'content-length': Buffer.byteLength(html),
      });
      r.end(html);
      return;
    }
    writeError(
      res,
      503,
      { 'retry-after': String(retryAfterSeconds), 'cache-control': 'no-store' },
      `${routeKey} is starting; retry in ${retryAfterSeconds}s\n`,
    );
  }
}

function escapeHtml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

function startingPage(routeKey: string, seconds: number): string {
  return `<!doctype html>
<html><head><meta charset="utf-8"><meta http-equiv="refresh" content="${seconds}">
<title>Starting…</title></head>
<body><h1>Starting…</h1><p>${escapeHtml(routeKey)} is waking up. This page reloads itself in ${seconds}s.</p></body></html>
`;
}
