import assert from 'node:assert/strict';
import { test } from 'node:test';
import { readFileSync } from 'node:fs';
import { NdjsonParser } from '../../../src/extension/ndjson';
import { fixturePath } from '../support/fixtures';

test('records split across chunks at every byte position', () => {
  const text = readFileSync(fixturePath, 'utf8');
  const whole = new NdjsonParser().push(text);
  assert.equal(whole.length, 13);
  for (const size of [1, 2, 7, 64, 333]) {
    const p = new NdjsonParser();
    const got = [];
    for (let i = 0; i < text.length; i += size) got.push(...p.push(Buffer.from(text.slice(i, i + size))));
    got.push(...p.end());
    assert.deepEqual(got, whole, `chunk size ${size}`);
    assert.equal(p.malformed, 0);
  }
});

test('multi-byte UTF-8 split inside a character', () => {
  const line = Buffer.from(JSON.stringify({ type: 'error', code: 'X', message: 'héllo → wörld' }) + '\n');
  const p = new NdjsonParser();
  const got = [];
  for (let i = 0; i < line.length; i++) got.push(...p.push(line.subarray(i, i + 1)));
  assert.equal(got.length, 1);
  assert.equal((got[0] as { message: string }).message, 'héllo → wörld');
});

test('malformed lines are counted, not fatal', () => {
  const p = new NdjsonParser();
  const got = p.push(
    '{"type":"stats","events":1,"lost":0}\nnot json\n{"type":"nope"}\n[1,2]\n{"type":"outbound","dst":5}\n\n  \n{"type":"end","reason":"signal"}\n{"trunc',
  );
  assert.deepEqual(
    got.map((r) => r.type),
    ['stats', 'end'],
  );
  assert.equal(p.malformed, 4);
  assert.equal(p.lastMalformed, '{"type":"outbound","dst":5}');
  assert.deepEqual(p.end(), []);
  assert.equal(p.malformed, 5, 'a truncated last line counts too');
});

test('CRLF line endings and a final line without newline', () => {
  const p = new NdjsonParser();
  const got = p.push('{"type":"stats","events":1,"lost":0}\r\n{"type":"end","reason":"signal"}');
  assert.equal(got.length, 1);
  assert.equal(p.end()[0]?.type, 'end');
});
