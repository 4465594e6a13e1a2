// Outbound records with a call path: every line of the path gets the
// end-of-line text and hover (the handler's line that calls a helper, the
// helper's line that calls out), a record counts once per distinct line.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { callSiteHints } from '../../../src/server/insights';
import { CALL_PATH_KEPT, CALLEES_KEPT, FAILURES_KEPT, OTHER, Store } from '../../../src/server/store';
import {
  asTraceRecord,
  type OpRecord,
  type OutboundRecord,
  type SourceLocation,
  type TraceRecord,
} from '../../../src/shared/records';
import { fixtureRecords } from '../support/fixtures';

const MAIN = '/home/dev/svc/main.go';
const HELPER: SourceLocation = { func: 'main.(*server).callDown', file: MAIN, line: 103 };
const CHARGE: SourceLocation = { func: 'main.(*server).charge', file: MAIN, line: 176 };
const BALANCE: SourceLocation = { func: 'main.(*server).balance', file: MAIN, line: 190 };

let n = 0;
function out(path: SourceLocation[] | undefined, op?: OpRecord, over: Partial<OutboundRecord> = {}): OutboundRecord {
  n++;
  return {
    type: 'outbound',
    request: `r${n}`,
    pid: 1,
    goid: n,
    proto: 'tcp',
    src: '10.0.0.2',
    sport: 40000 + n,
    dst: '10.0.0.7',
    dport: 443,
    reused: true,
    callSite: path?.[0] ?? null,
    ...(path ? { callPath: path } : {}),
    tsNs: n,
    via: 'http',
    ...(op ? { op } : {}),
    ...over,
  };
}

const charge = (i: number): OpRecord => ({
  protocol: 'http',
  method: 'POST',
  scheme: 'https',
  host: 'api.stripe.com',
  path: '/v1/charges',
  // 1..12 ms; the 11th and 12th answered 502
  status: i >= 10 ? 502 : 200,
  durationNs: (i + 1) * 1e6,
});

/** 12 charges through the helper from the charge handler, 3 balance reads from the balance handler. */
function recorded(): TraceRecord[] {
  const recs: TraceRecord[] = [];
  for (let i = 0; i < 12; i++) recs.push(out([HELPER, CHARGE], charge(i), { reused: i > 0 }));
  for (const ms of [20, 30, 40])
    recs.push(
      out([HELPER, BALANCE], {
        protocol: 'http',
        method: 'GET',
        host: 'api.stripe.com',
        path: '/v1/balance',
        status: 200,
        durationNs: ms * 1e6,
      }),
    );
  return recs;
}

function hintsAt(s: Store): Map<number, { text: string; hover: string }> {
  return new Map(callSiteHints(s, MAIN).map((h) => [h.line, h]));
}

test('a path of two frames: the handler lines and the helper line each get their calls', () => {
  const s = new Store();
  s.ingest(recorded());
  const at = hintsAt(s);
  assert.deepEqual([...at.keys()], [103, 176, 190]);
  assert.equal(at.get(176)!.text, '→ api.stripe.com POST /v1/charges ×12 (1 new, 11 reused) · p50 6.5 ms · 2×502');
  assert.equal(at.get(190)!.text, '→ api.stripe.com GET /v1/balance ×3 (0 new, 3 reused) · p50 30 ms');
  // The helper's line: every caller's calls (durations 1..12, 20, 30, 40 ms: the median is 8 ms).
  assert.equal(at.get(103)!.text, '→ api.stripe.com POST /v1/charges +1 ×15 (1 new, 14 reused) · p50 8.0 ms · 2×502');

  const helper = s.callSites.get(`${MAIN}:103`)!;
  assert.deepEqual(
    { count: helper.count, direct: helper.direct, callees: helper.callees.size },
    {
      count: 15,
      direct: 15,
      callees: 0,
    },
  );
  const handler = s.callSites.get(`${MAIN}:176`)!;
  assert.deepEqual({ count: handler.count, direct: handler.direct }, { count: 12, direct: 0 });
  assert.equal(handler.func, 'main.(*server).charge');
  assert.equal(handler.remotes.get('api.stripe.com')!.failed, 2);

  // The handler line's hover: what the calls went through, each remote's operations, timing and failures.
  const hover = at.get(176)!.hover;
  assert.ok(hover.startsWith('**Outbound Lens** · `main.(*server).charge` · 12 uses'), hover);
  assert.ok(hover.includes('- through `main.(*server).callDown` (main.go:103) ×12'), hover);
  assert.ok(
    hover.includes(
      '- → `api.stripe.com` ×12 (1 new, 11 reused) · p50 6.5 ms · p95 12 ms · **2 failed** (2×502)\n  - `POST /v1/charges` ×12',
    ),
    hover,
  );
  assert.match(hover, /Recent:/);
  const helperHover = at.get(103)!.hover;
  assert.ok(!helperHover.includes('through'), 'the innermost line makes the calls itself');
  assert.ok(helperHover.includes('  - `POST /v1/charges` ×12\n  - `GET /v1/balance` ×3'), helperHover);
});

test('a record counts once at a line its path repeats (recursion)', () => {
  const s = new Store();
  const walk: SourceLocation = { func: 'main.walk', file: MAIN, line: 50 };
  s.ingest([out([HELPER, walk, walk, walk, CHARGE], charge(0)), out([HELPER, walk, CHARGE], charge(1))]);
  const at = hintsAt(s);
  assert.deepEqual([...at.keys()], [50, 103, 176]);
  for (const line of [50, 103, 176]) assert.match(at.get(line)!.text, / ×2 \(0 new, 2 reused\) · p50 1\.5 ms$/);
  assert.equal(s.callSites.get(`${MAIN}:50`)!.count, 2);
  assert.deepEqual(
    [...s.callSites.get(`${MAIN}:50`)!.callees.values()].map((c) => [c.line, c.count]),
    [[103, 2]],
  );
  assert.deepEqual(
    [...s.callSites.get(`${MAIN}:176`)!.callees.values()].map((c) => [c.line, c.count]),
    [[50, 2]],
  );
});

test('records without a call path count at their call site alone, as before', () => {
  const s = new Store();
  s.ingest(fixtureRecords());
  const lines = [...s.callSites.values()].map((c) => `${c.file}:${c.line}`).sort();
  assert.deepEqual(lines, [
    '/home/dev/sample/main.go:101',
    '/home/dev/sample/main.go:47',
    '/home/dev/sample/main.go:63',
    '/home/dev/sample/main.go:82',
    '/home/dev/sample/store.go:22',
  ]);
  const at = new Map(callSiteHints(s, '/home/dev/sample/main.go').map((h) => [h.line, h.text]));
  assert.equal(at.get(47), '→ 127.0.0.1:18081 ×2 (1 new, 1 reused)');
  assert.equal(at.get(82), '→ 127.0.0.1:18081 ×2 (2 new, 0 reused)');
  for (const c of s.callSites.values()) assert.equal(c.direct, c.count);

  // An empty path is no path; a record with neither counts at no line.
  const t = new Store();
  t.ingest([out([], charge(0), { callSite: HELPER }), out(undefined, charge(1))]);
  assert.deepEqual([...t.callSites.keys()], [`${MAIN}:103`]);
  assert.equal(t.callSites.get(`${MAIN}:103`)!.count, 1);
});

test('a failed call without a response is named apart from 5xx statuses', () => {
  const s = new Store();
  const op = (status?: number, failed?: boolean): OpRecord => ({
    protocol: 'http',
    method: 'GET',
    host: 'users.internal',
    path: '/u',
    ...(status ? { status } : {}),
    ...(failed ? { failed } : {}),
  });
  s.ingest([
    out([HELPER, CHARGE], op(502)),
    out([HELPER, CHARGE], op(undefined, true)),
    out([HELPER, CHARGE], op(503)),
    out([HELPER, CHARGE], op(503)),
    out([HELPER, CHARGE], op(404)),
  ]);
  // No durations recorded: no p50.
  assert.equal(hintsAt(s).get(176)!.text, '→ users.internal GET /u ×5 (0 new, 5 reused) · 2×503 + 1×502 + 1×failed');
});

test('what a line keeps is bounded: path frames, callees, failure outcomes', () => {
  const s = new Store();
  const deep = Array.from({ length: 20 }, (_, i) => ({ func: `main.f${i}`, file: MAIN, line: 1000 + i }));
  s.ingest([out(deep, charge(0))]);
  assert.equal(s.callSites.size, CALL_PATH_KEPT);

  const t = new Store();
  const recs: TraceRecord[] = [];
  for (let i = 0; i < CALLEES_KEPT + 5; i++)
    recs.push(out([{ func: `main.h${i}`, file: MAIN, line: 500 + i }, CHARGE], { ...charge(0), status: 500 + i }));
  t.ingest(recs);
  const handler = t.callSites.get(`${MAIN}:176`)!;
  assert.equal(handler.callees.size, CALLEES_KEPT + 1);
  assert.equal(handler.callees.get(OTHER)!.count, 5);
  const failures = handler.remotes.get('api.stripe.com')!.failures;
  assert.equal(failures.size, FAILURES_KEPT + 1);
  assert.equal(failures.get(OTHER), CALLEES_KEPT + 5 - FAILURES_KEPT);
  assert.match(callSiteHints(t, MAIN).find((h) => h.line === 176)!.hover, /through `\(other\)` ×5/);
});

test('a call path whose frames are not source locations makes the record malformed', () => {
  const base = { ...out([HELPER, CHARGE], charge(0)) } as Record<string, unknown>;
  assert.ok(asTraceRecord(base));
  assert.ok(asTraceRecord({ ...base, callPath: null }));
  assert.equal(asTraceRecord({ ...base, callPath: [HELPER, null] }), undefined);
  assert.equal(asTraceRecord({ ...base, callPath: [{ func: 'main.f', file: MAIN }] }), undefined);
  assert.equal(asTraceRecord({ ...base, callPath: { 0: HELPER } }), undefined);
});
