// The TLS listener: certificate store with SNI, h2 via ALPN and HTTP/1.1 on one port, and https to
// the backend with SNI "svc.ns" verified against the interceptor's own certificates.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import https from 'node:https';
import http2 from 'node:http2';
import tls from 'node:tls';
import { readFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import {
  endpointSlice,
  interceptorRoute,
  service,
  startTestInterceptor,
  type TestInterceptor,
} from '../testing/harness.ts';

const dir = new URL('../testing/tls/', import.meta.url).pathname;
const ca = readFileSync(`${dir}ca.crt`);
let ic: TestInterceptor;
let backend: https.Server;
let backendSni: string[] = [];

before(async () => {
  // The backend presents the default certificate, whose SANs include "app.default" (svc.ns).
  backend = https.createServer(
    { cert: readFileSync(`${dir}tls.crt`), key: readFileSync(`${dir}tls.key`) },
    (req, res) => {
      res.end(JSON.stringify({ host: req.headers.host, proto: req.headers['x-forwarded-proto'] }));
    },
  );
  backend.on('secureConnection', (s: tls.TLSSocket) =>
    backendSni.push(String((s as tls.TLSSocket & { servername?: string }).servername)),
  );
  await new Promise<void>((r) => backend.listen(0, '127.0.0.1', r));
  ic = await startTestInterceptor(
    [
      interceptorRoute('app', {
        target: { service: 'app', port: 443 },
        rules: [{ hosts: ['b.test', 'default.test'] }],
      }),
      service('app', [{ name: 'https', port: 443 }]),
      endpointSlice('app', [{ ip: '127.0.0.1' }], (backend.address() as AddressInfo).port, 'https'),
      // Same backend, but as Service "bad": SNI bad.default is not in the backend certificate.
      interceptorRoute('bad', { target: { service: 'bad', port: 443 }, rules: [{ hosts: ['bad.test'] }] }),
      service('bad', [{ name: 'https', port: 443 }]),
      endpointSlice('bad', [{ ip: '127.0.0.1' }], (backend.address() as AddressInfo).port, 'https'),
    ],
    {
      KEDA_HTTP_PROXY_TLS_ENABLED: 'true',
      KEDA_HTTP_PROXY_TLS_PORT: '0',
      KEDA_HTTP_PROXY_TLS_CERT_PATH: `${dir}tls.crt`,
      KEDA_HTTP_PROXY_TLS_KEY_PATH: `${dir}tls.key`,
      KEDA_HTTP_PROXY_TLS_CERT_STORE_PATHS: `${dir}store`,
      KEDA_HTTP_PROXY_TLS_MIN_VERSION: '1.2',
    },
  );
});
after(async () => {
  await ic.close();
  backend.closeAllConnections();
  await new Promise<void>((r) => backend.close(() => r()));
});

function peerNames(servername: string): Promise<{ san: string; alpn: string | false }> {
  return new Promise((resolve, reject) => {
    const s = tls.connect(
      {
        port: ic.running.tlsPort ?? 0,
        host: '127.0.0.1',
        servername,
        ca,
        ALPNProtocols: ['h2', 'http/1.1'],
        checkServerIdentity: () => undefined,
      },
      () => {
        resolve({ san: s.getPeerCertificate().subjectaltname ?? '', alpn: s.alpnProtocol ?? false });
        s.end();
      },
    );
    s.on('error', reject);
  });
}

test('SNI picks the certificate whose SAN matches exactly; unknown names get the default', async () => {
  assert.match((await peerNames('b.test')).san, /DNS:b\.test/);
  assert.match((await peerNames('default.test')).san, /DNS:default\.test/);
  assert.match((await peerNames('other.test')).san, /DNS:default\.test/);
  // "*.wild.test" is a literal key, as upstream indexes it: x.wild.test does not select it.
  assert.match((await peerNames('x.wild.test')).san, /DNS:default\.test/);
  assert.equal((await peerNames('b.test')).alpn, 'h2');
});

test('HTTP/1.1 over TLS reaches the backend over https with SNI svc.ns', async () => {
  backendSni = [];
  const body = await new Promise<string>((resolve, reject) => {
    https
      .get(
        {
          port: ic.running.tlsPort,
          host: '127.0.0.1',
          servername: 'b.test',
          path: '/',
          headers: { host: 'b.test' },
          ca,
        },
        (res) => {
          let b = '';
          res.on('data', (c: Buffer) => (b += c.toString()));
          res.on('end', () => resolve(b));
        },
      )
      .on('error', reject);
  });
  assert.deepEqual(JSON.parse(body), { host: 'b.test', proto: 'https' });
  assert.deepEqual(backendSni, ['app.default']);
});

test('h2 via ALPN on the TLS port', async () => {
  const c = http2.connect(`https://127.0.0.1:${ic.running.tlsPort}`, { ca, servername: 'default.test' });
  try {
    const s = c.request({ ':path': '/', ':authority': 'default.test' });
    let b = '';
    s.setEncoding('utf8');
    s.on('data', (x: string) => (b += x));
    await new Promise((r) => s.on('end', r));
    assert.deepEqual(JSON.parse(b), { host: 'default.test', proto: 'https' });
  } finally {
    c.close();
  }
});

test('a backend certificate that does not name svc.ns is refused: 502', async () => {
  const status = await new Promise<number>((resolve, reject) => {
    https
      .get(
        {
          port: ic.running.tlsPort,
          host: '127.0.0.1',
          servername: 'b.test',
          path: '/',
          headers: { host: 'bad.test' },
          ca,
        },
        (res) => {
          res.resume();
          resolve(res.statusCode ?? 0);
        },
      )
      .on('error', reject);
  });
  assert.equal(status, 502);
});
