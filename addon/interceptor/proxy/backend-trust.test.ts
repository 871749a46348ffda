import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import tls from 'node:tls';
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { BackendTrust } from './backend-trust.ts';

const dir = new URL('../testing/tls/', import.meta.url).pathname;
const cert = readFileSync(`${dir}tls.crt`);
let server: tls.Server;
let port = 0;

before(async () => {
  // Presents the interceptor's own certificate (SANs: default.test, app.default), signed by a CA
  // that no system root knows.
  server = tls.createServer({ cert, key: readFileSync(`${dir}tls.key`) }, (s) => s.end());
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  port = (server.address() as AddressInfo).port;
});
after(() => new Promise<void>((r) => server.close(() => r())));

async function checkWith(trust: BackendTrust, serverName: string): Promise<Error | undefined> {
  const s = tls.connect({
    host: '127.0.0.1',
    port,
    servername: serverName,
    ca: trust.ca,
    rejectUnauthorized: false,
  });
  await once(s, 'secureConnect');
  try {
    return trust.check(s, serverName);
  } finally {
    s.destroy();
  }
}

test('a certificate the interceptor loaded is trusted as it is, for the names it holds', async () => {
  const trust = new BackendTrust({ ca: [cert], skipVerify: false });
  assert.equal(await checkWith(trust, 'app.default'), undefined);
  const wrongName = await checkWith(trust, 'other.default');
  assert.match(String(wrongName?.message), /backend certificate for other\.default is not trusted/);
});

test('without it, the unknown chain is refused; skip-verify trusts anything', async () => {
  const untrusted = await checkWith(new BackendTrust(undefined), 'app.default');
  assert.match(String(untrusted?.message), /not trusted/);
  assert.equal(await checkWith(new BackendTrust({ ca: [], skipVerify: true }), 'any.name'), undefined);
});
