// Minimal reverse proxies, one per candidate engine, for the engine comparison in
// hack/bench/interceptor-engines.ts. Each forwards every request to 127.0.0.1:<backendPort>.
//   node hack/bench/interceptor-engine-proxy.ts <node-http|undici-stream|undici-dispatch> <backendPort>
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { Agent, Pool, type Dispatcher } from 'undici';

const [engine, backendPort] = process.argv.slice(2);
const origin = `http://127.0.0.1:${backendPort}`;
const hop = new Set([
  'connection',
  'keep-alive',
  'transfer-encoding',
  'upgrade',
  'proxy-connection',
  'te',
  'trailer',
]);

function strip(h: http.IncomingHttpHeaders | Record<string, string | string[]>): http.OutgoingHttpHeaders {
  const out: http.OutgoingHttpHeaders = {};
  for (const k in h) if (!hop.has(k)) out[k] = h[k];
  return out;
}

let handler: http.RequestListener;
if (engine === 'node-http') {
  const agent = new http.Agent({ keepAlive: true, maxSockets: Infinity });
  handler = (req, res) => {
    const up = http.request(
      {
        host: '127.0.0.1',
        port: backendPort,
        method: req.method,
        path: req.url,
        headers: strip(req.headers),
        agent,
      },
      (r) => {
        res.writeHead(r.statusCode ?? 502, strip(r.headers));
        r.pipe(res);
      },
    );
    up.on('error', () => {
      if (!res.headersSent) res.writeHead(502);
      res.end();
    });
    req.pipe(up);
  };
} else if (engine === 'undici-stream') {
  const pool = new Pool(origin, { connections: null as unknown as number });
  handler = (req, res) => {
    pool
      .stream(
        {
          path: req.url ?? '/',
          method: req.method as Dispatcher.HttpMethod,
          headers: strip(req.headers) as Record<string, string>,
          body: req.method === 'GET' ? null : req,
        },
        ({ statusCode, headers }) => {
          res.writeHead(statusCode, strip(headers as Record<string, string>));
          return res;
        },
      )
      .catch(() => {
        if (!res.headersSent) res.writeHead(502);
        res.end();
      });
  };
} else if (engine === 'undici-dispatch') {
  const agent = new Agent({ connections: null });
  handler = (req, res) => {
    agent.dispatch(
      {
        origin,
        path: req.url ?? '/',
        method: req.method ?? 'GET',
        headers: req.rawHeaders,
        body: req.method === 'GET' ? null : req,
      },
      {
        onRequestStart() {},
        onResponseStart(_c, status, headers) {
          res.writeHead(status, strip(headers as Record<string, string>));
        },
        onResponseData(c, chunk) {
          if (!res.write(chunk)) {
            c.pause();
            res.once('drain', () => c.resume());
          }
        },
        onResponseEnd() {
          res.end();
        },
        onResponseError() {
          if (!res.headersSent) res.writeHead(502);
          res.end();
        },
      },
    );
  };
} else {
  throw new Error(`unknown engine ${engine}`);
}

const server = http.createServer({ keepAliveTimeout: 120_000 }, handler);
server.listen(Number(process.env.PORT ?? 0), '127.0.0.1', () =>
  process.stdout.write(`port ${(server.address() as AddressInfo).port}\n`),
);
process.on('SIGTERM', () => process.exit(0));
