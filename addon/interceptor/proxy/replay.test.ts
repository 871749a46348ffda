import assert from 'node:assert/strict';
import { test } from 'node:test';
import { connectionFailure, isIdempotent, markConnectionFailure, mayReplay } from './replay.ts';

const lost = (code: string, facts?: { reused: boolean; written: boolean }): Error => {
  const err = Object.assign(new Error('connection lost'), { code });
  return facts ? markConnectionFailure(err, facts) : err;
};

test('idempotent: RFC 9110 methods, or a request marked with an idempotency key', () => {
  for (const m of ['GET', 'HEAD', 'OPTIONS', 'TRACE', 'PUT', 'DELETE'])
    assert.equal(isIdempotent(m, []), true, m);
  assert.equal(isIdempotent('POST', ['content-type', 'text/plain']), false);
  assert.equal(isIdempotent('PATCH', []), false);
  assert.equal(isIdempotent('POST', ['Idempotency-Key', 'k']), true);
  assert.equal(isIdempotent('POST', ['x-idempotency-key', 'k']), true);
});

test('sent again only after a lost kept-alive connection, when nothing went out or it is idempotent, never with a body', () => {
  const reusedWritten = { reused: true, written: true };
  assert.equal(mayReplay(lost('UND_ERR_SOCKET', reusedWritten), true, false), true);
  assert.equal(mayReplay(lost('ECONNRESET', reusedWritten), false, false), false, 'not idempotent, written');
  assert.equal(
    mayReplay(lost('EPIPE', { reused: true, written: false }), false, false),
    true,
    'nothing written',
  );
  assert.equal(
    mayReplay(lost('ECONNRESET', { reused: false, written: false }), true, false),
    false,
    'new connection',
  );
  assert.equal(mayReplay(lost('ECONNRESET', reusedWritten), true, true), false, 'a body');
  assert.equal(mayReplay(lost('UND_ERR_HEADERS_TIMEOUT', reusedWritten), true, false), false, 'a timeout');
  assert.equal(mayReplay(lost('ECONNRESET'), true, false), false, 'nothing known about the connection');
});

test("undici's SocketError: bytes read before the failure mean a reused connection", () => {
  const err = (bytesRead: number): Error =>
    Object.assign(new Error('other side closed'), { code: 'UND_ERR_SOCKET', socket: { bytesRead } });
  assert.deepEqual(connectionFailure(err(120)), { reused: true, written: true });
  assert.deepEqual(connectionFailure(err(0)), { reused: false, written: true });
  // Facts an engine attached win over the socket's counts.
  const marked = markConnectionFailure(err(120), { reused: false, written: false });
  assert.deepEqual(connectionFailure(marked), { reused: false, written: false });
});
