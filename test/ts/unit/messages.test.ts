import assert from 'node:assert/strict';
import { test } from 'node:test';
import { toNdjson } from '../../../src/shared/export';
import { isFromPanel } from '../../../src/shared/messages';
import { asTraceRecord, endpoint, type OutboundRecord } from '../../../src/shared/records';
import { Store } from '../../../src/server/store';
import { fixtureRecords } from '../support/fixtures';

test('messages from the panel are validated', () => {
  assert.ok(isFromPanel({ type: 'ready', afterSeq: 0 }));
  assert.ok(isFromPanel({ type: 'open', file: '/a.go', line: 3 }));
  assert.ok(isFromPanel({ type: 'export', keys: ['1:r1'] }));
  assert.ok(isFromPanel({ type: 'stop' }));
  assert.ok(!isFromPanel({ type: 'open', file: '', line: 3 }));
  assert.ok(!isFromPanel({ type: 'open', file: '/a.go', line: 0 }));
  assert.ok(!isFromPanel({ type: 'open', file: '/a.go' }));
  assert.ok(!isFromPanel({ type: 'export', keys: [1] }));
  assert.ok(!isFromPanel({ type: 'rm -rf' }));
  assert.ok(!isFromPanel(null));
  assert.ok(!isFromPanel('stop'));
});

test('record validation keeps unknown fields, rejects unknown types', () => {
  const r = asTraceRecord({ type: 'stats', events: 1, lost: 0, future: true });
  assert.ok(r);
  assert.equal((r as unknown as { future: boolean }).future, true);
  assert.equal(asTraceRecord({ type: 'bogus' }), undefined);
  assert.equal(asTraceRecord({ type: 'request', id: 7 }), undefined);
  assert.equal(asTraceRecord({ type: 'outbound', dst: 'x', dport: 1, request: 5 }), undefined);
  assert.ok(asTraceRecord({ type: 'outbound', dst: 'x', dport: 1, request: null }));
  const out = { type: 'outbound', dst: 'x', dport: 1, request: null };
  assert.ok(asTraceRecord({ ...out, op: { protocol: 'redis', command: 'GET', key: 'k', truncated: true } }));
  assert.equal(asTraceRecord({ ...out, op: 'GET' }), undefined);
  assert.equal(asTraceRecord({ ...out, op: null }), undefined);
  assert.equal(asTraceRecord({ ...out, op: { command: 'GET' } }), undefined);
  assert.equal(asTraceRecord({ ...out, op: { protocol: 'postgresql', statement: 7 } }), undefined);
  assert.equal(asTraceRecord({ ...out, op: { protocol: 'http', truncated: 'yes' } }), undefined);
});

test('endpoints bracket IPv6', () => {
  assert.equal(endpoint('10.0.0.7', 5432), '10.0.0.7:5432');
  assert.equal(endpoint('::1', 80), '[::1]:80');
});

test('export gives back the records (outbound before their request)', () => {
  const recs = fixtureRecords();
  const s = new Store();
  s.ingest(recs);
  const lines = toNdjson(s.rowsAfter(0))
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l));
  const expected = recs.filter((r) => r.type === 'request' || r.type === 'outbound');
  assert.deepEqual(lines, expected);
});

test('export keeps what an outbound record did (op), whole', () => {
  const statement = 'SELECT * FROM users WHERE email = $1 ' + 'AND x = 1 '.repeat(15);
  const recs = [
    {
      type: 'outbound',
      request: 'q1',
      pid: 1,
      goid: 2,
      proto: 'tcp',
      src: '127.0.0.1',
      sport: 40000,
      dst: '127.0.0.1',
      dport: 5432,
      reused: true,
      callSite: null,
      tsNs: 5,
      via: 'write',
      op: { protocol: 'postgresql', verb: 'SELECT', statement, truncated: true },
    },
    {
      type: 'request',
      id: 'q1',
      pid: 1,
      goid: 2,
      method: 'GET',
      path: '/u',
      route: '',
      handler: null,
      headers: {},
      traceId: '',
      startNs: 1,
      endNs: 9,
    },
  ].map((r) => asTraceRecord(r)!);
  const s = new Store();
  s.ingest(recs);
  const lines = toNdjson(s.rowsAfter(0))
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l));
  assert.deepEqual(lines, recs);
  assert.equal((lines[0] as OutboundRecord).op?.statement, statement);
});
