// The test app behind the image `keda-http-test/echo:<tag>` (run by the process kubelet in
// hack/kubelet): an HTTP echo server that answers every request with what it saw, like the
// `traefik/whoami` image upstream's e2e tests use.
//
//   PORT               listen port (default 8080), on every address (of the pod's own network
//                      namespace, under the process kubelet)
//   STARTUP_DELAY_MS   wait this long before listening, so a cold start takes real time and the
//                      readiness probe fails until then (default 0)
//   TERMINATION_DELAY_MS  on SIGTERM, keep serving this long before draining (default 0): a slow
//                      shutdown, to see the kubelet's grace period and SIGKILL at work
//   POD_NAME           reported in every answer (default: $HOSTNAME, which the kubelet sets)
//   TLS_CERT_FILE, TLS_KEY_FILE  serve HTTPS with this certificate (e.g. from a secret volume)
//
// Routes: GET /health -> 200 "ok" (the readiness probe); /echo with a WebSocket upgrade echoes
// every message back; anything else -> 200 with JSON {pod, method, path, host, headers, body,
// tls}, except a GET whose Accept names text/html (a browser), which gets the same facts as a small
// HTML page. `?wait=500ms` (or 2s) delays the answer, as whoami's does.
// SIGTERM stops accepting connections and exits once in-flight requests are answered.
import { readFileSync } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import { WebSocketServer } from 'ws';
import { createLogger } from '../../addon/shared/log.ts';

const log = createLogger({ component: 'echo' });
const port = Number(process.env.PORT ?? '8080');
const startupDelayMs = Number(process.env.STARTUP_DELAY_MS ?? '0');
const terminationDelayMs = Number(process.env.TERMINATION_DELAY_MS ?? '0');
const pod = process.env.POD_NAME ?? process.env.HOSTNAME ?? 'echo';

/** `500ms`, `2s` or a bare number of milliseconds; anything else is no wait. */
export function parseWait(value: string | null): number {
  const m = /^(\d+(?:\.\d+)?)(ms|s)?$/.exec(value ?? '');
  if (!m?.[1]) return 0;
  return Number(m[1]) * (m[2] === 's' ? 1000 : 1);
}

function escapeHtml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

/** What a browser sees: the app's own page, so a screenshot tells it apart from a placeholder. */
export function htmlPage(facts: { pod: string; host: string; path: string; query: string }): string {
  const rows = [
    ['pod', facts.pod],
    ['host', facts.host],
    ['path', facts.path + facts.query],
  ]
    .map(([k, v]) => `<tr><th>${k}</th><td>${escapeHtml(v ?? '')}</td></tr>`)
    .join('');
  return `<!doctype html>
<html><head><meta charset="utf-8"><title>echo: ${escapeHtml(facts.pod)}</title>
<style>body{font-family:sans-serif;margin:3em}th{text-align:left;padding-right:1em}</style></head>
<body><h1>Hello from the echo app</h1><p>This page is served by the app itself.</p>
<table>${rows}</table></body></html>
`;
}

function handle(req: http.IncomingMessage, res: http.ServerResponse): void {
  const url = new URL(req.url ?? '/', 'http://local');
  if (url.pathname === '/health') {
    res.writeHead(200, { 'content-type': 'text/plain' }).end('ok');
    return;
  }
  const chunks: Buffer[] = [];
  req.on('data', (c: Buffer) => chunks.push(c));
  req.on('end', () => {
    const answer = (): void => {
      if (req.method === 'GET' && /\btext\/html\b/i.test(req.headers.accept ?? '')) {
        const page = htmlPage({ pod, host: req.headers.host ?? '', path: url.pathname, query: url.search });
        res.writeHead(200, { 'content-type': 'text/html; charset=utf-8', 'x-echo-pod': pod }).end(page);
        log.info('request', { method: req.method, path: url.pathname, host: req.headers.host, status: 200 });
        return;
      }
      const body = JSON.stringify({
        pod,
        method: req.method,
        path: url.pathname,
        query: url.search,
        host: req.headers.host ?? '',
        headers: req.headers,
        body: Buffer.concat(chunks).toString('utf8'),
        tls: 'encrypted' in req.socket,
      });
      res.writeHead(200, { 'content-type': 'application/json', 'x-echo-pod': pod }).end(`${body}\n`);
      log.info('request', { method: req.method, path: url.pathname, host: req.headers.host, status: 200 });
    };
    const wait = parseWait(url.searchParams.get('wait'));
    if (wait > 0) setTimeout(answer, wait);
    else answer();
  });
}

async function main(): Promise<void> {
  log.info('starting', { pod, port, startupDelayMs });
  const started: { server?: http.Server } = {};
  const stop = (signal: string): void => {
    log.info('signal received', { signal, terminationDelayMs });
    setTimeout(() => {
      const { server } = started;
      if (!server) process.exit(0); // still starting: nothing to drain
      log.info('draining');
      server.close(() => {
        log.info('stopped');
        process.exit(0);
      });
      server.closeIdleConnections();
    }, terminationDelayMs);
  };
  process.once('SIGTERM', stop);
  process.once('SIGINT', stop);
  if (startupDelayMs > 0) await new Promise((r) => setTimeout(r, startupDelayMs));
  const { TLS_CERT_FILE: certFile, TLS_KEY_FILE: keyFile } = process.env;
  const listening =
    certFile && keyFile
      ? https.createServer({ cert: readFileSync(certFile), key: readFileSync(keyFile) }, handle)
      : http.createServer(handle);
  const sockets = new WebSocketServer({ noServer: true });
  listening.on('upgrade', (req, socket, head) => {
    if (new URL(req.url ?? '/', 'http://local').pathname !== '/echo') {
      socket.end('HTTP/1.1 404 Not Found\r\n\r\n');
      return;
    }
    sockets.handleUpgrade(req, socket, head, (ws) => {
      ws.on('message', (data, isBinary) => ws.send(data, { binary: isBinary }));
    });
  });
  listening.listen(port, () => log.info('listening', { address: listening.address() }));
  started.server = listening;
}

if (import.meta.main) await main();
