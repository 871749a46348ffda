// A stand-in for traefik/whoami v1.11.0 (image ghcr.io/traefik/whoami, the app of upstream's e2e
// suite; the Go module proxy refuses its module, so it cannot be built here). It answers as whoami
// does, byte for byte where a client can tell:
//
//   /          `Name:` (with a name), `Hostname:`, one `IP:` per interface address, `RemoteAddr:`,
//              then the request as Go's Request.Write prints it (request line, Host, User-Agent,
//              Content-Length, the other headers sorted and canonicalised, the body);
//              `?wait=<Go duration>` sleeps first, `?env=true` appends the environment
//   /api       the same as JSON; /bench: `1`; /data?size=n&unit=kb|mb|gb|tb&attachment=true
//   /echo      WebSocket echo; /health: GET answers the status a POST of a JSON number set (200)
//
// Flags as whoami's (Go's flag syntax: -flag, --flag, =value or a separate value): --port (default
// $WHOAMI_PORT_NUMBER, else 80), --name ($WHOAMI_NAME), --cert/--key (HTTPS; HTTP/1.1 only, where
// whoami's Go server also offers h2), --cacert (require client certificates from that CA), --verbose
// (one line per request, Go's log format). It listens on every address, as whoami does.
import { readFileSync } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import type { TLSSocket } from 'node:tls';
import { WebSocketServer } from 'ws';
import { parseGoDuration } from '../../addon/shared/config.ts';

export interface WhoamiOptions {
  port: string;
  name: string;
  cert: string;
  key: string;
  cacert: string;
  verbose: boolean;
}

/** Go's flag package: `-x`, `--x`, `-x=v`, `-x v`; booleans take no separate value. */
export function parseFlags(argv: string[], env: NodeJS.ProcessEnv): WhoamiOptions {
  const opts: WhoamiOptions = {
    port: env.WHOAMI_PORT_NUMBER || '80',
    name: env.WHOAMI_NAME ?? '',
    cert: '',
    key: '',
    cacert: '',
    verbose: false,
  };
  const strings = new Set(['port', 'name', 'cert', 'key', 'cacert']);
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] ?? '';
    if (arg === '--' || !arg.startsWith('-') || arg === '-') break; // Go stops at the first non-flag
    const [rawName = '', inline] = arg.replace(/^--?/, '').split(/=(.*)/s, 2);
    if (rawName === 'verbose') {
      opts.verbose = inline === undefined ? true : /^(1|t|true)$/i.test(inline);
      if (inline !== undefined && !/^(0|1|t|f|true|false)$/i.test(inline))
        throw new Error(`invalid boolean value "${inline}" for -verbose`);
      continue;
    }
    if (!strings.has(rawName)) throw new Error(`flag provided but not defined: -${rawName}`);
    const value = inline ?? argv[++i];
    if (value === undefined) throw new Error(`flag needs an argument: -${rawName}`);
    opts[rawName as 'port' | 'name' | 'cert' | 'key' | 'cacert'] = value;
  }
  return opts;
}

/** Go's time.ParseDuration, in milliseconds; undefined where Go returns an error. */
export function goDurationMs(text: string): number | undefined {
  try {
    return parseGoDuration(text);
  } catch {
    return undefined;
  }
}

/** Go's textproto.CanonicalMIMEHeaderKey for the usual header names. */
export function canonicalHeaderKey(name: string): string {
  if (!/^[A-Za-z0-9!#$%&'*+.^_`|~-]+$/.test(name)) return name;
  return name.toLowerCase().replace(/(^|-)([a-z])/g, (_, dash: string, c: string) => dash + c.toUpperCase());
}

/** Go's net.JoinHostPort, as RemoteAddr prints. */
function hostPort(host: string | undefined, port: number | undefined): string {
  const h = (host ?? '').replace(/^::ffff:(\d+\.\d+\.\d+\.\d+)$/, '$1');
  return h.includes(':') ? `[${h}]:${port}` : `${h}:${port}`;
}

/** Every address of every interface, as Go's net.Interfaces/Addrs list them. */
export function interfaceIPs(): string[] {
  return Object.values(os.networkInterfaces()).flatMap((addrs) => (addrs ?? []).map((a) => a.address));
}

/**
 * The request as Go's Request.Write prints a server-side request: request line (always HTTP/1.1),
 * Host, User-Agent (Go's default when absent), Content-Length or Transfer-Encoding as Go's
 * transfer writer decides, the remaining headers sorted by canonical name, a blank line, the body.
 */
export function goRequestWrite(req: {
  method: string;
  url: string;
  host: string;
  rawHeaders: string[];
  body: Buffer;
  chunked: boolean;
}): Buffer {
  const excluded = new Set(['Host', 'User-Agent', 'Content-Length', 'Transfer-Encoding', 'Trailer']);
  const headers = new Map<string, string[]>();
  for (let i = 0; i + 1 < req.rawHeaders.length; i += 2) {
    const key = canonicalHeaderKey(req.rawHeaders[i] ?? '');
    headers.set(key, [...(headers.get(key) ?? []), req.rawHeaders[i + 1] ?? '']);
  }
  const lines = [`${req.method} ${req.url} HTTP/1.1`, `Host: ${req.host}`];
  const ua = headers.get('User-Agent');
  const userAgent = ua === undefined ? 'Go-http-client/1.1' : (ua[0] ?? '').trim();
  if (userAgent !== '') lines.push(`User-Agent: ${userAgent}`);
  const length = req.chunked ? -1 : req.body.length;
  if (req.chunked) lines.push('Transfer-Encoding: chunked');
  else if (length > 0 || (length === 0 && ['POST', 'PUT', 'PATCH'].includes(req.method)))
    lines.push(`Content-Length: ${length}`);
  for (const key of [...headers.keys()].filter((k) => !excluded.has(k)).sort()) {
    for (const value of headers.get(key) ?? []) lines.push(`${key}: ${value.replace(/[\r\n]/g, ' ').trim()}`);
  }
  const head = Buffer.from(lines.join('\r\n') + '\r\n\r\n');
  if (!req.chunked) return Buffer.concat([head, req.body]);
  const chunks =
    req.body.length > 0
      ? [Buffer.from(`${req.body.length.toString(16)}\r\n`), req.body, Buffer.from('\r\n')]
      : [];
  return Buffer.concat([head, ...chunks, Buffer.from('0\r\n\r\n')]);
}

/** Go's log.Printf prefix: `2006/01/02 15:04:05 `. */
function goLog(message: string): void {
  const d = new Date();
  const p = (n: number): string => String(n).padStart(2, '0');
  process.stderr.write(
    `${d.getFullYear()}/${p(d.getMonth() + 1)}/${p(d.getDate())} ${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())} ${message}\n`,
  );
}

/** Go's `02/Jan/2006:15:04:05 -0700`. */
function accessTime(d: Date): string {
  const months = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];
  const p = (n: number): string => String(n).padStart(2, '0');
  const offset = -d.getTimezoneOffset();
  const sign = offset >= 0 ? '+' : '-';
  const tz = `${sign}${p(Math.floor(Math.abs(offset) / 60))}${p(Math.abs(offset) % 60)}`;
  return `${p(d.getDate())}/${months[d.getMonth()]}/${d.getFullYear()}:${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())} ${tz}`;
}

/** Go's encoding/json string escaping (HTML-safe, as json.Encoder does by default). */
function goJson(value: unknown): string {
  return JSON.stringify(value).replace(
    /[<>&\u2028\u2029]/g,
    (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`,
  );
}

const contentCharset = '-ABCDEFGHIJKLMNOPQRSTUVWXYZ';

/** /data's body: `size` bytes (none below 2), `|`, the charset cycled by position, `|` last. */
export function dataContent(size: number): Buffer {
  if (size < 2) return Buffer.alloc(0);
  const out = Buffer.alloc(size);
  for (let i = 1; i < size; i++) out[i] = contentCharset.charCodeAt(i % contentCharset.length);
  out[0] = 0x7c;
  out[size - 1] = 0x7c;
  return out;
}

const units: Record<string, number> = { kb: 1024, mb: 1024 ** 2, gb: 1024 ** 3, tb: 1024 ** 4 };

export function startWhoami(opts: WhoamiOptions): http.Server {
  let healthStatus = 200;
  const tls = opts.cert !== '' && opts.key !== '';

  const whoami = (req: http.IncomingMessage, res: http.ServerResponse, url: URL, body: Buffer): void => {
    const lines: string[] = [];
    if (opts.name) lines.push(`Name: ${opts.name}`);
    lines.push(`Hostname: ${os.hostname()}`);
    for (const ip of interfaceIPs()) lines.push(`IP: ${ip}`);
    lines.push(`RemoteAddr: ${hostPort(req.socket.remoteAddress, req.socket.remotePort)}`);
    const socket = req.socket as TLSSocket;
    if (tls && typeof socket.getPeerCertificate === 'function') {
      const cert = socket.getPeerCertificate();
      if (cert && Object.keys(cert).length > 0) {
        const s = cert.subject as unknown as Record<string, string | undefined>;
        const subject = ['CN', 'OU', 'O', 'L', 'ST', 'C']
          .filter((k) => s[k])
          .map((k) => `${k}=${s[k]}`)
          .join(',');
        lines.push(`Certificate[0] Subject: ${subject}`);
      }
    }
    const parts: Buffer[] = [Buffer.from(lines.join('\n') + '\n')];
    parts.push(
      goRequestWrite({
        method: req.method ?? 'GET',
        url: req.url ?? '/',
        host: req.headers.host ?? '',
        rawHeaders: req.rawHeaders,
        body,
        chunked: /chunked/i.test(String(req.headers['transfer-encoding'] ?? '')),
      }),
    );
    if (/^(1|t|true)$/i.test(url.searchParams.get('env') ?? '')) {
      parts.push(
        Buffer.from(
          Object.entries(process.env)
            .map(([k, v]) => `${k}=${v}\n`)
            .join(''),
        ),
      );
    }
    const out = Buffer.concat(parts);
    res
      .writeHead(200, { 'Content-Type': 'text/plain; charset=utf-8', 'Content-Length': out.length })
      .end(out);
  };

  const api = (req: http.IncomingMessage, res: http.ServerResponse, url: URL): void => {
    const headers: Record<string, string[]> = {};
    for (let i = 0; i + 1 < req.rawHeaders.length; i += 2) {
      const key = canonicalHeaderKey(req.rawHeaders[i] ?? '');
      if (key === 'Host') continue;
      (headers[key] ??= []).push(req.rawHeaders[i + 1] ?? '');
    }
    const sorted = Object.fromEntries(Object.entries(headers).sort(([a], [b]) => (a < b ? -1 : 1)));
    const environ = /^(1|t|true)$/i.test(url.searchParams.get('env') ?? '')
      ? Object.fromEntries(Object.entries(process.env).sort(([a], [b]) => (a < b ? -1 : 1)))
      : {};
    const data: Record<string, unknown> = {
      hostname: os.hostname(),
      ip: interfaceIPs(),
      headers: Object.keys(sorted).length > 0 ? sorted : undefined,
      url: req.url,
      host: req.headers.host,
      method: req.method,
      name: opts.name || undefined,
      remoteAddr: hostPort(req.socket.remoteAddress, req.socket.remotePort),
      environ: Object.keys(environ).length > 0 ? environ : undefined,
    };
    res.writeHead(200, { 'Content-Type': 'application/json' }).end(`${goJson(data)}\n`);
  };

  const handle = (req: http.IncomingMessage, res: http.ServerResponse, body: Buffer): void => {
    const url = new URL(req.url ?? '/', 'http://whoami');
    switch (url.pathname) {
      case '/bench':
        res.writeHead(200, { Connection: 'keep-alive', 'Content-Type': 'text/plain' }).end('1');
        return;
      case '/api':
        api(req, res, url);
        return;
      case '/health': {
        if (req.method === 'POST') {
          const code = Number(body.toString().trim());
          if (!Number.isInteger(code) || body.toString().trim() === '') {
            res
              .writeHead(400, {
                'Content-Type': 'text/plain; charset=utf-8',
                'X-Content-Type-Options': 'nosniff',
              })
              .end(`invalid health status ${JSON.stringify(body.toString())}\n`);
            return;
          }
          process.stdout.write(`Update health check status code [${code}]\n`);
          healthStatus = code;
          res.writeHead(200).end();
          return;
        }
        res.writeHead(healthStatus, { 'Content-Length': 0 }).end();
        return;
      }
      case '/data': {
        let size = Number.parseInt(url.searchParams.get('size') ?? '', 10);
        if (!Number.isFinite(size)) size = 1;
        if (size < 0) size = 0;
        size *= units[(url.searchParams.get('unit') ?? '').toLowerCase()] ?? 1;
        const content = dataContent(size);
        if (/^(1|t|true)$/i.test(url.searchParams.get('attachment') ?? '')) {
          res.setHeader('Content-Disposition', 'Attachment');
        }
        res.writeHead(200, { 'Content-Type': 'text/plain; charset=utf-8', 'Content-Length': content.length });
        res.end(content);
        return;
      }
      case '/echo':
        // A plain request to the WebSocket endpoint: gorilla/websocket's answer.
        res
          .writeHead(400, {
            'Content-Type': 'text/plain; charset=utf-8',
            'Sec-Websocket-Version': '13',
            'X-Content-Type-Options': 'nosniff',
          })
          .end('Bad Request\n');
        return;
      default: {
        const wait = goDurationMs(url.searchParams.get('wait') ?? '');
        if (wait !== undefined && wait > 0) setTimeout(() => whoami(req, res, url, body), wait);
        else whoami(req, res, url, body);
      }
    }
  };

  const onRequest = (req: http.IncomingMessage, res: http.ServerResponse): void => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      handle(req, res, Buffer.concat(chunks));
      if (opts.verbose) {
        res.on('finish', () =>
          goLog(
            `${hostPort(req.socket.remoteAddress, req.socket.remotePort)} - - [${accessTime(new Date())}] "${req.method} ${new URL(req.url ?? '/', 'http://x').pathname} HTTP/${req.httpVersion}" - -`,
          ),
        );
      }
    });
  };

  const server = tls
    ? https.createServer(
        {
          cert: readFileSync(opts.cert),
          key: readFileSync(opts.key),
          requestCert: true,
          rejectUnauthorized: opts.cacert !== '',
          ...(opts.cacert ? { ca: readFileSync(opts.cacert), minVersion: 'TLSv1.2' as const } : {}),
        },
        onRequest,
      )
    : http.createServer(onRequest);

  const wss = new WebSocketServer({ noServer: true });
  server.on('upgrade', (req: http.IncomingMessage, socket, head: Buffer) => {
    if (new URL(req.url ?? '/', 'http://whoami').pathname !== '/echo') {
      socket.end('HTTP/1.1 400 Bad Request\r\n\r\n');
      return;
    }
    wss.handleUpgrade(req, socket, head, (ws) => {
      ws.on('message', (data: Buffer, isBinary: boolean) => {
        process.stdout.write(`Received b:${[...data].map((b) => `${b},`).join('')}\n`);
        ws.send(data, { binary: isBinary });
      });
    });
  });
  return server;
}

if (import.meta.main) {
  let opts: WhoamiOptions;
  try {
    opts = parseFlags(process.argv.slice(2), process.env);
  } catch (err) {
    process.stderr.write(`${(err as Error).message}\n`);
    process.exit(2);
  }
  const server = startWhoami(opts);
  const tls = opts.cert !== '' && opts.key !== '';
  goLog(tls ? `Starting up with TLS on port ${opts.port}` : `Starting up on port ${opts.port}`);
  server.on('error', (err) => {
    goLog(err.message);
    process.exit(1);
  });
  server.listen(Number(opts.port), () => {
    const { port } = server.address() as AddressInfo;
    if (String(port) !== opts.port) goLog(`listening on port ${port}`);
  });
  // No signal handling: like whoami (a Go program without handlers), SIGTERM ends it at once.
}
