import { test } from 'node:test';
import assert from 'node:assert/strict';
import { outboundHeaders } from './headers.ts';

const ctx = { clientIp: '10.1.2.3', proto: 'http' as const };

function asMap(flat: string[]): Record<string, string[]> {
  const m: Record<string, string[]> = {};
  for (let i = 0; i < flat.length; i += 2) (m[flat[i] as string] ??= []).push(flat[i + 1] as string);
  return m;
}

test('Connection tokens remove the headers they name, but never Host or Content-Length', () => {
  const out = asMap(
    outboundHeaders(
      [
        'Host',
        'a.test',
        'Connection',
        'host, content-length, x-secret',
        'Content-Length',
        '3',
        'X-Secret',
        's',
      ],
      ctx,
    ),
  );
  assert.deepEqual(out['host'], ['a.test']);
  assert.deepEqual(out['Content-Length'], ['3']);
  assert.equal(out['X-Secret'], undefined);
  assert.equal(out['Connection'], undefined);
});

test('HTTP/2: :authority is the Host, whatever host header came with it', () => {
  const out = asMap(outboundHeaders([':authority', 'a.test', ':path', '/', 'host', 'b.test'], ctx));
  assert.deepEqual(out['host'], ['a.test']);
  assert.deepEqual(out['x-forwarded-host'], ['a.test']);
  assert.equal(out[':authority'], undefined);
});

test('an Upgrade keeps Connection: Upgrade and its Upgrade header; a request drops both', () => {
  const raw = ['Host', 'a.test', 'Connection', 'Upgrade', 'Upgrade', 'websocket'];
  const up = asMap(outboundHeaders(raw, { ...ctx, upgrade: true }));
  assert.deepEqual([up['connection'], up['upgrade']], [['Upgrade'], ['websocket']]);
  const plain = asMap(outboundHeaders(raw, ctx));
  assert.deepEqual([plain['connection'], plain['upgrade']], [undefined, undefined]);
});
