import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { OutboundRecord, RequestRecord } from '../../../src/shared/records';
import { p50, Store } from '../../../src/server/store';
import { fixtureRecords } from '../support/fixtures';

const MAIN = '/home/dev/sample/main.go';

function req(id: string, over: Partial<RequestRecord> = {}): RequestRecord {
  return {
    type: 'request',
    id,
    pid: 1,
    goid: 10,
    method: 'GET',
    path: '/echo',
    route: '/echo',
    handler: { func: 'main.echo', file: MAIN, line: 41 },
    headers: {},
    traceId: `t-${id}`,
    startNs: 1_000_000_000,
    endNs: 1_000_000_000 + 2_000_000,
    ...over,
  };
}
function out(request: string | null, over: Partial<OutboundRecord> = {}): OutboundRecord {
  return {
    type: 'outbound',
    request,
    pid: 1,
    goid: 10,
    proto: 'tcp',
    src: '127.0.0.1',
    sport: 40000,
    dst: '127.0.0.1',
    dport: 8081,
    reused: false,
    callSite: { func: 'main.echo', file: MAIN, line: 47 },
    tsNs: 1,
    via: 'http',
    remote: { name: '127.0.0.1:8081' },
    ...over,
  };
}

test('fixture: rows per request, outbound attached although it came first', () => {
  const s = new Store();
  s.ingest(fixtureRecords());
  const rows = s.rowsAfter(0);
  assert.equal(rows.length, 5); // r1..r4 + one background call
  const r1 = rows.find((r) => r.request?.id === 'r1')!;
  assert.equal(r1.outbound.length, 1);
  assert.equal(r1.outbound[0].sport, 38610);
  const r4 = rows.find((r) => r.request?.id === 'r4')!;
  assert.equal(r4.outbound.length, 2, 'fan-out goroutines count for their request');
  const bg = rows.find((r) => r.kind === 'background')!;
  assert.equal(bg.outbound[0].callSite?.func, 'main.heartbeat');
  assert.equal(s.status.state, 'tracing');
  assert.equal(s.status.requests, 4);
});

test('fixture: per-handler aggregates (requests, downstream endpoints, new/reused)', () => {
  const s = new Store();
  s.ingest(fixtureRecords());
  const echo = s.handlers.get(`${MAIN}:41`)!;
  assert.equal(echo.requests, 2);
  assert.deepEqual([...echo.routes], ['GET /echo']);
  const ep = echo.endpoints.get('127.0.0.1:18081')!;
  assert.deepEqual({ count: ep.count, fresh: ep.fresh, reused: ep.reused }, { count: 2, fresh: 1, reused: 1 });
  const getUser = s.handlers.get(`${MAIN}:58`)!;
  assert.deepEqual([...getUser.endpoints.keys()].sort(), ['127.0.0.1:15432', '127.0.0.1:18081']);
});

test('fixture: per-call-site aggregates with recent tuples and trace ids', () => {
  const s = new Store();
  s.ingest(fixtureRecords());
  const cs = s.callSites.get(`${MAIN}:47`)!;
  assert.equal(cs.count, 2);
  assert.equal(cs.recent.length, 2);
  assert.equal(cs.recent[0].traceId, '4bf92f3577b34da6a3ce929d0e0e4736', 'trace id filled in when the request arrives');
  assert.equal(cs.recent[0].path, '/echo');
  assert.equal(s.callSites.get(`${MAIN}:82`)!.count, 2);
  assert.equal(s.callSites.get('/home/dev/sample/store.go:22')!.remotes.get('127.0.0.1:15432')!.fresh, 1);
});

test('p50 of durations', () => {
  assert.equal(p50([]), undefined);
  assert.equal(p50([5]), 5);
  assert.equal(p50([9, 1, 5]), 5);
  assert.equal(p50([1, 2, 3, 10]), 2.5);
  const s = new Store();
  for (let i = 1; i <= 5; i++) s.ingest([req(`r${i}`, { startNs: 0, endNs: i * 1e6 })]);
  assert.equal(p50(s.handlers.get(`${MAIN}:41`)!.durationsMs), 3);
});

test('outbound after its request (a goroutine left running) extends the row', () => {
  const s = new Store();
  s.ingest([req('r1'), out('r1', { sport: 1 })]);
  const rows = s.rowsAfter(0);
  assert.equal(rows.length, 1);
  assert.equal(rows[0].outbound.length, 1);
  assert.equal(s.handlers.get(`${MAIN}:41`)!.endpoints.get('127.0.0.1:8081')!.count, 1);
});

test('outbound records of a request that never ends become an unfinished row at end', () => {
  const s = new Store();
  s.ingest([out('r9'), out('r9', { reused: true })]);
  assert.equal(s.rowsAfter(0).length, 0);
  assert.equal(s.heldRecords, 2);
  s.ingest([{ type: 'end', reason: 'signal', exitStatus: 0 }]);
  const rows = s.rowsAfter(0);
  assert.equal(rows.length, 1);
  assert.equal(rows[0].kind, 'unfinished');
  assert.equal(s.status.state, 'stopped');
});

test('maxRecords: oldest rows dropped and counted, aggregates kept', () => {
  const s = new Store(10);
  for (let i = 0; i < 20; i++) s.ingest([out(`r${i}`), req(`r${i}`)]); // 2 records each
  assert.ok(s.heldRecords <= 10);
  assert.equal(s.heldRecords + s.dropped, 40);
  assert.equal(s.dropped, 30);
  const rows = s.rowsAfter(0);
  assert.equal(rows.length, 5);
  assert.deepEqual(
    rows.map((r) => r.request!.id),
    ['r15', 'r16', 'r17', 'r18', 'r19'],
  );
  assert.equal(s.handlers.get(`${MAIN}:41`)!.requests, 20, 'aggregates count every request');
  s.setMaxRecords(4);
  assert.equal(s.rowsAfter(0).length, 2);
  assert.equal(s.dropped, 36);
});

test('maxRecords also bounds outbound records waiting for their request', () => {
  const s = new Store(5);
  for (let i = 0; i < 12; i++) s.ingest([out(`p${i}`)]);
  assert.ok(s.heldRecords <= 5);
  assert.equal(s.dropped, 7);
});

test('rowsAfter returns only changed rows, in seq order, and limit keeps the newest', () => {
  const s = new Store();
  s.ingest([req('a'), req('b')]);
  const seq = s.currentSeq;
  s.ingest([req('c'), out('a')]); // late outbound updates row a
  const changed = s.rowsAfter(seq);
  assert.deepEqual(
    changed.map((r) => r.request!.id),
    ['c', 'a'],
  );
  assert.deepEqual(
    s.rowsAfter(0).map((r) => r.request!.id),
    ['b', 'c', 'a'],
  );
  assert.deepEqual(
    s.rowsAfter(0, 1).map((r) => r.request!.id),
    ['a'],
  );
});

test('a new trace restarts request ids without mixing rows', () => {
  const s = new Store();
  s.ingest([out('r1', { sport: 1 }), req('r1')]);
  s.beginTrace(2);
  s.ingest([out('r1', { sport: 2 }), req('r1')]);
  const rows = s.rowsAfter(0);
  assert.equal(rows.length, 2);
  assert.deepEqual(
    rows.map((r) => r.outbound[0].sport),
    [1, 2],
  );
});

test('many records stay fast and bounded', () => {
  const s = new Store(50000);
  const t0 = Date.now();
  for (let i = 0; i < 100000; i++) s.ingest([out(`r${i}`, { sport: i % 60000 }), req(`r${i}`)]);
  assert.ok(s.heldRecords <= 50000);
  assert.equal(s.dropped, 150000);
  assert.ok(Date.now() - t0 < 5000, `took ${Date.now() - t0} ms`);
});

test('a stats record sets the lost count of the status the panel shows', () => {
  const s = new Store();
  s.ingest([{ type: 'stats', events: 10, lost: 3, requests: 0, outbound: 0 }]);
  assert.equal(s.status.lost, 3);
  s.beginTrace(5);
  assert.equal(s.status.lost, undefined, 'a new trace has lost nothing yet');
});
