// Hostile input for the record path: the NDJSON reader and the insight
// server's store get malformed, truncated, huge and non-UTF-8 lines and
// records of the wrong shape. They never throw and stay bounded.
// Property-based with fast-check; a failure prints the seed and the
// shrunk input to replay.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { MAX_LINE, NdjsonParser } from '../../../src/extension/ndjson';
import { asTraceRecord, type TraceRecord } from '../../../src/shared/records';
import { Store } from '../../../src/server/store';
import { callSiteHints, handlerHover, handlerLenses } from '../../../src/server/insights';
import { opKind, opName, remoteName } from '../../../src/shared/ops';

const FILE = '/src/main.go';

/** A value of any JSON type, for fields that should have another. */
const anyJson = fc.oneof(
  fc.constant(null),
  fc.boolean(),
  fc.integer(),
  fc.double(),
  fc.string(),
  fc.constant(FILE),
  fc.array(fc.integer(), { maxLength: 3 }),
  fc.dictionary(fc.string(), fc.string(), { maxKeys: 3 }),
);
const loc = fc.oneof(
  fc.record({
    func: fc.constantFrom('main.echo', 'main.f'),
    file: fc.constantFrom(FILE, '/x/main.go'),
    line: fc.nat(50),
  }),
  fc.record({ func: anyJson, file: anyJson, line: anyJson }, { requiredKeys: [] }),
  anyJson,
);
const ids = fc.constantFrom('r1', 'r2', 'r3', '__proto__', 'constructor', '');

/** An outbound record's op, of any shape. */
const opish = fc.oneof(
  fc.record(
    {
      protocol: fc.oneof(fc.constantFrom('http', 'grpc', 'postgresql', 'mysql', 'redis', 'tls', 'tcp'), anyJson),
      method: anyJson,
      host: anyJson,
      path: anyJson,
      verb: anyJson,
      statement: fc.oneof(fc.string(), anyJson),
      command: anyJson,
      key: anyJson,
      truncated: anyJson,
    },
    { requiredKeys: [] },
  ),
  anyJson,
);

/** Records with the right type and fields of any shape: what a damaged or foreign stream may hold. */
const recordish = fc.oneof(
  fc.record(
    {
      type: fc.constant('request'),
      id: fc.oneof(ids, anyJson),
      method: fc.oneof(fc.constant('GET'), anyJson),
      path: fc.oneof(fc.string(), anyJson),
      route: anyJson,
      handler: loc,
      headers: anyJson,
      traceId: anyJson,
      startNs: anyJson,
      endNs: anyJson,
      truncated: anyJson,
    },
    { requiredKeys: ['type'] },
  ),
  fc.record(
    {
      type: fc.constant('outbound'),
      request: fc.oneof(ids, fc.constant(null), anyJson),
      proto: anyJson,
      src: anyJson,
      sport: anyJson,
      dst: fc.oneof(fc.constantFrom('127.0.0.1', '::1'), anyJson),
      dport: fc.oneof(fc.nat(65535), anyJson),
      reused: anyJson,
      callSite: loc,
      tsNs: anyJson,
      via: anyJson,
      op: opish,
    },
    { requiredKeys: ['type'] },
  ),
  fc.record({ type: fc.constantFrom('ready', 'stats', 'error', 'end', 'nope'), code: anyJson, lost: anyJson }),
  anyJson,
);

/** Lines: JSON of the above, garbage, invalid UTF-8, cut-off JSON. */
const line = fc.oneof(
  recordish.map((r) => Buffer.from(JSON.stringify(r) ?? 'undefined')),
  recordish.map((r) => {
    const s = Buffer.from(JSON.stringify(r) ?? '');
    return s.subarray(0, s.length >> 1);
  }),
  fc.uint8Array({ maxLength: 64 }).map((b) => Buffer.from(b.filter((x) => x !== 0x0a))),
  fc.constantFrom(
    Buffer.from([0xff, 0xfe, 0x80]),
    Buffer.from('{"type":"stats","events":1,"lost":0,"x":"\xc3'),
    Buffer.from('\r'),
  ),
);

/** Feeds bytes in random chunks, as a pipe or socket delivers them. */
function parseChunked(bytes: Buffer, cuts: number[]): { records: TraceRecord[]; parser: NdjsonParser } {
  const parser = new NdjsonParser();
  const records: TraceRecord[] = [];
  let at = 0;
  for (const c of [...cuts.map((x) => x % (bytes.length + 1))].sort((a, b) => a - b)) {
    records.push(...parser.push(bytes.subarray(at, c)));
    at = c;
  }
  records.push(...parser.push(bytes.subarray(at)), ...parser.end());
  return { records, parser };
}

function exercise(store: Store): void {
  store.rowsAfter(0);
  store.rowsAfter(0, 5);
  callSiteHints(store, FILE);
  handlerLenses(store, [{ method: 'GET', path: '/echo', handler: { func: 'main.echo', file: FILE, line: 3 } }], FILE);
  for (const h of store.handlers.values()) handlerHover(h);
}

test('the reader and the store take any bytes: no throw, chunking does not matter, rows stay under maxRecords', () => {
  fc.assert(
    fc.property(fc.array(line, { maxLength: 40 }), fc.array(fc.nat(), { maxLength: 8 }), (lines, cuts) => {
      const bytes = Buffer.concat(lines.flatMap((l) => [l, Buffer.from('\n')]));
      const whole = parseChunked(bytes, []);
      const chunked = parseChunked(bytes, cuts);
      assert.deepEqual(chunked.records, whole.records);
      assert.equal(chunked.parser.malformed, whole.parser.malformed);
      for (const r of chunked.records) {
        assert.ok(asTraceRecord(r));
        if (r.type === 'outbound') for (const f of [opName, opKind, remoteName]) assert.equal(typeof f(r), 'string');
      }

      const store = new Store(10);
      for (const r of chunked.records) {
        store.ingest([r]);
        exercise(store);
        assert.ok(store.heldRecords <= 10, `held ${store.heldRecords} records over a cap of 10`);
      }
      store.beginTrace(1);
      exercise(store);
    }),
    { numRuns: 400, seed: 20261202 },
  );
});

test('an outbound record with an op of any shape is refused, or named: never a throw', () => {
  fc.assert(
    fc.property(opish, (op) => {
      const o = asTraceRecord({
        type: 'outbound',
        request: 'r1',
        pid: 1,
        goid: 1,
        proto: 'tcp',
        src: '127.0.0.1',
        sport: 1,
        dst: '127.0.0.1',
        dport: 2,
        reused: false,
        callSite: { func: 'main.echo', file: FILE, line: 4 },
        tsNs: 1,
        via: 'write',
        op,
      });
      if (!o || o.type !== 'outbound') return;
      for (const f of [opName, opKind, remoteName]) assert.equal(typeof f(o), 'string');
      const store = new Store(10);
      store.ingest([
        o,
        { ...o, request: null },
        {
          type: 'request',
          id: 'r1',
          pid: 1,
          goid: 1,
          method: 'GET',
          path: '/echo',
          route: '/echo',
          handler: { func: 'main.echo', file: FILE, line: 3 },
          headers: {},
          traceId: '',
          startNs: 1,
          endNs: 2,
        },
      ]);
      exercise(store);
    }),
    { numRuns: 2000, seed: 20261203 },
  );
});

test('a 100 MB line without a newline is dropped and counted once, in bounded memory; the next record still parses', () => {
  const p = new NdjsonParser();
  const chunk = Buffer.alloc(64 << 10, 'x');
  const before = process.memoryUsage().heapUsed;
  let peak = 0;
  for (let sent = 0; sent < 100 << 20; sent += chunk.length) {
    assert.deepEqual(p.push(chunk), []);
    if ((sent & ((8 << 20) - 1)) === 0) peak = Math.max(peak, process.memoryUsage().heapUsed - before);
  }
  assert.equal(p.malformed, 1);
  assert.match(p.lastMalformed ?? '', /a line over 1048576 characters, dropped/);
  const after = p.push('tail of the long line\n{"type":"stats","events":1,"lost":0}\n');
  assert.deepEqual(
    after.map((r) => r.type),
    ['stats'],
  );
  assert.equal(p.malformed, 1, 'the long line counts once');
  assert.ok(peak < 48 << 20, `heap grew by ${(peak / 2 ** 20).toFixed(1)} MiB`);
});

test('an over-long line inside one chunk is dropped, not parsed', () => {
  const p = new NdjsonParser();
  const big = JSON.stringify({ type: 'error', code: 'X', message: 'm'.repeat(MAX_LINE) });
  const got = p.push(big + '\n{"type":"end","reason":"signal"}\n');
  assert.deepEqual(
    got.map((r) => r.type),
    ['end'],
  );
  assert.equal(p.malformed, 1);
});
