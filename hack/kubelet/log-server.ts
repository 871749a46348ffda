// The kubelet's HTTPS server on 10250, which the API server proxies pods/log and pods/portforward
// to (https://<node InternalIP>:<kubeletEndpoint port>/...): `/containerLogs/...`, so
// `kubectl logs [-f] [--tail N] [-c name]` works, and `/portForward/<namespace>/<pod>`, so
// `kubectl port-forward` and client-go's forwarder work (port-forward.ts). It serves a self-signed
// certificate (made with openssl once per state directory); the local API server runs without
// --kubelet-certificate-authority, so, as kube-apiserver does by default, it does not verify it.
// No exec or attach.
import { execFileSync } from 'node:child_process';
import { createReadStream, existsSync, mkdirSync, readFileSync, statSync } from 'node:fs';
import type http from 'node:http';
import https from 'node:https';
import { join } from 'node:path';
import type { Duplex } from 'node:stream';
import { acceptPortForwardUpgrade, type PortForwardTarget, servePortForward } from './port-forward.ts';

export const kubeletPort = 10250;

function selfSignedCert(dir: string, nodeName: string): { key: Buffer; cert: Buffer } {
  const key = join(dir, 'kubelet.key');
  const cert = join(dir, 'kubelet.crt');
  if (!existsSync(cert)) {
    mkdirSync(dir, { recursive: true });
    execFileSync(
      'openssl',
      [
        'req',
        '-x509',
        '-newkey',
        'rsa:2048',
        '-nodes',
        '-days',
        '3650',
        '-subj',
        `/CN=${nodeName}`,
        '-keyout',
        key,
        '-out',
        cert,
      ],
      { stdio: ['ignore', 'ignore', 'pipe'] },
    );
  }
  return { key: readFileSync(key), cert: readFileSync(cert) };
}

/** The last `n` lines of a text. */
function tail(text: string, n: number): string {
  const lines = text.split('\n');
  const trailing = lines.at(-1) === '' ? lines.pop() : undefined;
  return lines.slice(-n).join('\n') + (trailing === '' ? '\n' : '');
}

export interface LogServer {
  close(): Promise<void>;
}

export async function startLogServer(opts: {
  host: string;
  dir: string;
  nodeName: string;
  /** The log file of a container (undefined: no such pod or container on this node). */
  logPath(namespace: string, pod: string, container: string | undefined): string | undefined;
  /** Where a running pod of this node is reached (undefined: no such pod here, or no address yet). */
  portForwardTarget(namespace: string, pod: string): PortForwardTarget | undefined;
  log?: (message: string) => void;
}): Promise<LogServer> {
  const server = https.createServer(selfSignedCert(opts.dir, opts.nodeName), (req, res) => {
    const url = new URL(req.url ?? '/', 'https://kubelet');
    const m = /^\/containerLogs\/([^/]+)\/([^/]+)\/([^/]+)$/.exec(url.pathname);
    if (url.pathname === '/healthz') {
      res.writeHead(200).end('ok');
      return;
    }
    const path = m
      ? opts.logPath(
          decodeURIComponent(m[1] ?? ''),
          decodeURIComponent(m[2] ?? ''),
          decodeURIComponent(m[3] ?? ''),
        )
      : undefined;
    if (!m || !path || !existsSync(path)) {
      res.writeHead(404, { 'content-type': 'text/plain' }).end(`no logs for ${url.pathname} on this node\n`);
      return;
    }
    res.writeHead(200, { 'content-type': 'text/plain' });
    const tailLines = url.searchParams.get('tailLines');
    const text = readFileSync(path, 'utf8');
    res.write(tailLines ? tail(text, Number(tailLines)) : text);
    if (url.searchParams.get('follow') !== 'true') {
      res.end();
      return;
    }
    // Follow: send what is appended until the client goes away.
    // Polling, not fs.watch: it works the same on every filesystem and sandbox.
    let offset = Buffer.byteLength(text);
    const timer = setInterval(() => {
      const size = statSync(path).size;
      if (size <= offset) return;
      createReadStream(path, { start: offset, end: size - 1 }).on('data', (chunk) => res.write(chunk));
      offset = size;
    }, 250);
    req.on('close', () => clearInterval(timer));
  });
  server.on('upgrade', (req: http.IncomingMessage, socket: Duplex, head: Buffer) => {
    const url = new URL(req.url ?? '/', 'https://kubelet');
    const m = /^\/portForward\/([^/]+)\/([^/]+)$/.exec(url.pathname);
    const target = m
      ? opts.portForwardTarget(decodeURIComponent(m[1] ?? ''), decodeURIComponent(m[2] ?? ''))
      : undefined;
    socket.on('error', () => socket.destroy());
    if (!target) {
      const message = m
        ? `pod ${m[1]}/${m[2]} is not running on this node\n`
        : `no upgrade at ${url.pathname}\n`;
      socket.end(
        `HTTP/1.1 404 Not Found\r\nContent-Type: text/plain\r\nContent-Length: ${Buffer.byteLength(message)}\r\nConnection: close\r\n\r\n${message}`,
      );
      return;
    }
    if (acceptPortForwardUpgrade(req.headers, socket)) servePortForward(socket, head, target, opts.log);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(kubeletPort, opts.host, () => resolve());
  });
  return {
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
