import { test } from 'node:test';
import assert from 'node:assert/strict';
import { loggerFromFlags, parseBindAddress } from './service.ts';

test('parseBindAddress reads Go listen addresses', () => {
  assert.deepEqual(parseBindAddress('x', ':8080'), { host: '0.0.0.0', port: 8080 });
  assert.deepEqual(parseBindAddress('x', '127.0.0.1:9'), { host: '127.0.0.1', port: 9 });
  assert.equal(parseBindAddress('x', '0'), undefined);
  assert.throws(() => parseBindAddress('metrics-bind-address', ':http'), /--metrics-bind-address=":http"/);
});

test('loggerFromFlags takes zap flags over env and rejects unknown formats', () => {
  assert.equal(loggerFromFlags('t', { 'zap-log-level': 'debug' }, {}).level, 'debug');
  assert.equal(loggerFromFlags('t', {}, { LOG_LEVEL: 'error' }).level, 'error');
  assert.throws(() => loggerFromFlags('t', { 'zap-encoder': 'xml' }, {}), /log format "xml"/);
});
