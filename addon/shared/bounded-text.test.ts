import { test } from 'node:test';
import assert from 'node:assert/strict';
import { boundedJson, boundedText } from './bounded-text.ts';

test('short text is unchanged; long text is cut and says how much was left out', () => {
  assert.equal(boundedText('default/app'), 'default/app');
  assert.equal(boundedText('x'.repeat(300), 10), `${'x'.repeat(10)}…(+290 more characters)`);
  assert.equal(boundedJson({ a: 'y'.repeat(50) }, 8), '{"a":"yy…(+50 more characters)');
});

test('a cut never splits a surrogate pair', () => {
  const cut = boundedText(`abc${'😀'.repeat(10)}`, 4); // "abc" + the first half of 😀
  assert.equal(cut, 'abc…(+20 more characters)');
  assert.ok(cut.isWellFormed());
});
