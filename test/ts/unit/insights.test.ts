import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  callSiteHints,
  handlerFromIndex,
  handlerHover,
  handlerLenses,
  handlerTitle,
  indexRouteLabel,
  sameFile,
} from '../../../src/server/insights';
import { OPS_KEPT, OTHER, REMOTES_KEPT, Store } from '../../../src/server/store';
import type { RouteInfo } from '../../../src/shared/protocol';
import type { OpRecord, TraceRecord } from '../../../src/shared/records';
import { fixtureRecords } from '../support/fixtures';

const MAIN = '/home/dev/sample/main.go';
const routes: RouteInfo[] = [
  { method: 'GET', path: '/echo', handler: { func: 'main.echo', file: MAIN, line: 41 } },
  { method: 'GET', path: '/users/:id', handler: { func: 'main.getUser', file: MAIN, line: 58 } },
  { method: 'GET', path: '/health', handler: { func: 'main.health', file: MAIN, line: 120 } },
];

test('before tracing every handler gets "Trace outbound connections"', () => {
  const s = new Store();
  const lenses = handlerLenses(s, routes, MAIN);
  assert.deepEqual(
    lenses.map((l) => l.title),
    Array(3).fill('Trace outbound connections'),
  );
  assert.ok(lenses.every((l) => l.startsTrace));
});

test('while tracing: downstream endpoints, request count and p50', () => {
  const s = new Store();
  s.ingest(fixtureRecords());
  const lenses = handlerLenses(s, routes, MAIN);
  const byLine = new Map(lenses.map((l) => [l.line, l]));
  assert.equal(byLine.get(41)!.title, '↗ 1 downstream · 127.0.0.1:18081 · 2 req · p50 2.5 ms');
  assert.equal(byLine.get(58)!.title, '↗ 2 downstream · 127.0.0.1:15432, 127.0.0.1:18081 · 1 req · p50 4.0 ms');
  assert.equal(byLine.get(120)!.title, '↗ tracing · no requests yet');
  // /fanout has no route in the index but was seen in records: it still gets a lens.
  assert.match(byLine.get(74)!.title, /^↗ 1 downstream · 127\.0\.0\.1:18081 · 1 req/);
});

test('handlers match by function name or route when lines moved', () => {
  const s = new Store();
  s.ingest(fixtureRecords());
  const moved: RouteInfo[] = [
    { method: 'GET', path: '/echo', handler: { func: 'main.echo', file: MAIN, line: 44 } },
    { method: 'GET', path: '/users/:id', handler: { func: 'main.renamedGetUser', file: MAIN, line: 61 } },
  ];
  const lenses = handlerLenses(s, moved, MAIN);
  assert.match(lenses.find((l) => l.line === 44)!.title, /2 req/);
  assert.match(lenses.find((l) => l.line === 61)!.title, /1 req/);
});

test('call site text: endpoint, count, new/reused', () => {
  const s = new Store();
  s.ingest(fixtureRecords());
  const hints = callSiteHints(s, MAIN);
  const at47 = hints.find((h) => h.line === 47)!;
  assert.equal(at47.text, '→ 127.0.0.1:18081 ×2 (1 new, 1 reused)');
  assert.match(at47.hover, /tcp 127\.0\.0\.1:38610 → 127\.0\.0\.1:18081/);
  assert.match(at47.hover, /4bf92f3577b34da6a3ce929d0e0e4736/);
  assert.equal(hints.find((h) => h.line === 101)!.text, '→ 127.0.0.1:18081 ×1 (1 new, 0 reused)');
  assert.match(hints.find((h) => h.line === 101)!.hover, /background/);
});

test('files built elsewhere match by trailing path', () => {
  assert.ok(sameFile('/home/dev/sample/main.go', '/work/x/sample/main.go'));
  assert.ok(!sameFile('/home/dev/sample/main.go', '/work/x/other/main.go'));
  assert.equal(handlerTitle(undefined, false).title, 'Trace outbound connections');
});

test('ServeMux patterns: the index gives a recorded pattern its handler, only when one handler matches', () => {
  const MUX = '/home/dev/mux/main.go';
  const mux: RouteInfo[] = [
    {
      method: 'GET',
      path: '/users/{id}',
      pattern: 'GET /users/{id}',
      handler: { func: 'main.getUser', file: MUX, line: 20 },
    },
    {
      method: 'ANY',
      path: '/users/{id}',
      pattern: '/users/{id}',
      handler: { func: 'main.anyUser', file: MUX, line: 25 },
    },
    { method: 'ANY', path: '/', pattern: 'a.example/', handler: { func: 'main.a', file: MUX, line: 30 } },
    { method: 'ANY', path: '/', pattern: 'b.example/', handler: { func: 'main.b', file: MUX, line: 35 } },
    { method: 'ANY', path: '/dup', pattern: '/dup', handler: { func: 'main.one', file: MUX, line: 40 } },
    {
      method: 'ANY',
      path: '/dup',
      pattern: '/dup',
      handler: { func: 'main.two', file: '/home/dev/mux/other.go', line: 9 },
    },
    ...routes,
  ];
  assert.deepEqual(handlerFromIndex(mux, 'GET', 'GET /users/{id}'), { func: 'main.getUser', file: MUX, line: 20 });
  assert.equal(handlerFromIndex(mux, 'DELETE', '/users/{id}')?.func, 'main.anyUser');
  assert.equal(handlerFromIndex(mux, 'GET', 'b.example/')?.func, 'main.b');
  assert.equal(handlerFromIndex(mux, 'GET', '/dup'), undefined, 'two handlers registered under one pattern');
  assert.equal(handlerFromIndex(mux, 'GET', '/nowhere'), undefined);
  // A Gin route is matched by method and path.
  assert.equal(handlerFromIndex(mux, 'GET', '/users/:id')?.func, 'main.getUser');
  assert.equal(handlerFromIndex(mux, 'POST', '/users/:id'), undefined);
  assert.deepEqual(mux.slice(0, 3).map(indexRouteLabel), ['GET /users/{id}', 'ANY /users/{id}', 'ANY a.example/']);

  // Records with a pattern and no handler count for the index's handler.
  const s = new Store();
  s.handlerOf = (method, route) => handlerFromIndex(mux, method, route);
  s.ingest([
    {
      type: 'request',
      id: 'r1',
      pid: 1,
      goid: 3,
      method: 'DELETE',
      path: '/users/7',
      route: '/users/{id}',
      handler: null,
      headers: {},
      traceId: '',
      startNs: 0,
      endNs: 3_000_000,
    },
  ]);
  const lens = handlerLenses(s, mux, MUX).find((l) => l.line === 25)!;
  assert.equal(lens.title, '↗ no downstream · 1 req · p50 3.0 ms');
  assert.equal(lens.route, 'ANY /users/{id}');
  assert.deepEqual([...s.handlers.values()][0].routes, new Set(['DELETE /users/{id}']));
});

/** One handler's requests calling an HTTP service, PostgreSQL, Redis and a gRPC service, as the helper names them. */
function opsStore(): Store {
  const H = { func: 'main.checkout', file: MAIN, line: 200 };
  const CS = { func: 'main.checkout', file: MAIN, line: 210 };
  const recs: TraceRecord[] = [];
  let n = 0;
  const out = (request: string, dst: string, dport: number, via: string, op?: OpRecord, reused = true): void => {
    n++;
    recs.push({
      type: 'outbound',
      request,
      pid: 1,
      goid: 1,
      proto: 'tcp',
      src: '127.0.0.1',
      sport: 40000 + n,
      dst,
      dport,
      reused,
      callSite: CS,
      tsNs: n,
      via,
      ...(op ? { op } : {}),
    });
  };
  for (let i = 0; i < 12; i++) {
    const id = `q${i}`;
    out(id, '127.0.0.1', 18081, 'http', {
      protocol: 'http',
      method: 'GET',
      scheme: 'http',
      host: '127.0.0.1:18081',
      path: '/echo',
    });
    if (i < 3)
      out(id, '127.0.0.1', 5432, 'write', {
        protocol: 'postgresql',
        verb: 'SELECT',
        statement: `SELECT name FROM users WHERE id = ${i}`,
      });
    if (i === 0) {
      out(id, '127.0.0.1', 5432, 'connect', undefined, false);
      out(id, '127.0.0.1', 5432, 'write', { protocol: 'postgresql', verb: 'INSERT' }, false);
      out(id, '10.0.0.5', 50051, 'grpc', { protocol: 'grpc', host: 'users:50051', path: '/users.Users/Get' });
    }
    if (i < 2) out(id, '127.0.0.1', 6379, 'write', { protocol: 'redis', command: 'GET', key: `session:${i}` });
    recs.push({
      type: 'request',
      id,
      pid: 1,
      goid: 1,
      method: 'POST',
      path: '/checkout',
      route: '/checkout',
      handler: H,
      headers: {},
      traceId: '',
      startNs: 0,
      endNs: 2e6,
    });
  }
  const s = new Store();
  s.ingest(recs);
  return s;
}

test('a handler lens names what was done at each remote, most frequent first', () => {
  const s = opsStore();
  const [lens] = handlerLenses(s, [], MAIN).filter((l) => l.line === 200);
  assert.equal(
    lens.title,
    '↗ 4 downstream · 127.0.0.1:18081 GET /echo ×12, 127.0.0.1:5432 postgresql SELECT ×3 + INSERT ×1, 127.0.0.1:6379 redis GET ×2, +1 · 12 req · p50 2.0 ms',
  );
  // The fixture's records name no operation: remotes alone, as before.
  const f = new Store();
  f.ingest(fixtureRecords());
  assert.equal(
    handlerLenses(f, routes, MAIN).find((l) => l.line === 58)!.title,
    '↗ 2 downstream · 127.0.0.1:15432, 127.0.0.1:18081 · 1 req · p50 4.0 ms',
  );
});

test('a handler hover gives per remote its count and its operations, and no latency where calls carry none', () => {
  const h = [...opsStore().handlers.values()][0];
  const text = handlerHover(h);
  const lines = text.split('\n');
  const at = (l: string) => lines.indexOf(l);
  assert.ok(at('- → `127.0.0.1:18081` ×12 (0 new, 12 reused)') > 0, text);
  assert.equal(lines[at('- → `127.0.0.1:18081` ×12 (0 new, 12 reused)') + 1], '  - `GET /echo` ×12');
  const pg = at('- → `127.0.0.1:5432` ×5 (2 new, 3 reused)');
  assert.deepEqual(lines.slice(pg + 1, pg + 4), [
    '  - `postgresql SELECT` ×3',
    '  - new connection ×1',
    '  - `postgresql INSERT` ×1',
  ]);
  const grpc = at('- → `users:50051` ×1 (0 new, 1 reused)');
  assert.equal(lines[grpc + 1], '  - `grpc /users.Users/Get` ×1');
  // The request line may carry the handler's p50; no remote line speaks of time.
  for (const l of lines.filter((x) => x.startsWith('- →') || x.startsWith('  -')))
    assert.doesNotMatch(l, /p50|p95|ms\b/);
  // Statements and keys name one request, not an operation: not in the aggregate.
  assert.doesNotMatch(text, /session:|FROM users/);
});

test('a handler hover gives p50 and p95 per remote where calls carry durations, and its failed calls', () => {
  const s = new Store();
  const recs: TraceRecord[] = [];
  for (let i = 0; i < 20; i++) {
    const id = `d${i}`;
    recs.push({
      type: 'outbound',
      request: id,
      pid: 1,
      goid: 1,
      proto: 'tcp',
      src: '127.0.0.1',
      sport: 40000 + i,
      dst: '10.0.0.7',
      dport: 443,
      reused: i > 0,
      callSite: null,
      tsNs: i,
      via: 'http',
      // 1..20 ms; the last two are 502s
      op: {
        protocol: 'http',
        method: 'POST',
        host: 'api.stripe.com',
        path: '/v1/charges',
        status: i >= 18 ? 502 : 200,
        durationNs: (i + 1) * 1e6,
      },
    });
    recs.push({
      type: 'request',
      id,
      pid: 1,
      goid: 1,
      method: 'POST',
      path: '/pay',
      route: '/pay',
      handler: { func: 'main.pay', file: MAIN, line: 300 },
      headers: {},
      traceId: '',
      startNs: 0,
      endNs: 30e6,
    });
  }
  s.ingest(recs);
  const text = handlerHover([...s.handlers.values()][0]);
  assert.ok(text.includes('- → `api.stripe.com` ×20 (1 new, 19 reused) · p50 11 ms · p95 19 ms · **2 failed**'), text);
});

test('a call site hover names what each recent use did', () => {
  const s = opsStore();
  s.ingest([
    {
      type: 'outbound',
      request: null,
      pid: 1,
      goid: 9,
      proto: 'tcp',
      src: '127.0.0.1',
      sport: 41000,
      dst: '127.0.0.1',
      dport: 6379,
      reused: true,
      callSite: { func: 'main.checkout', file: MAIN, line: 210 },
      tsNs: 99,
      via: 'write',
      op: { protocol: 'redis', command: 'SET', key: 'a`b' },
    },
  ]);
  const hint = callSiteHints(s, MAIN).find((c) => c.line === 210)!;
  const recent = hint.hover.split('\n').filter((l) => l.startsWith('- `tcp'));
  assert.equal(recent.length, 8);
  assert.equal(
    recent[0],
    '- `tcp 127.0.0.1:41000 → 127.0.0.1:6379` reused · `` redis SET a`b `` · no request (background)',
    'a backtick in a key keeps the code span whole',
  );
  assert.match(recent[1], /reused · `GET 127\.0\.0\.1:18081\/echo` · POST \/checkout$/);
});

test('remotes and operations past their limits are counted together, not kept', () => {
  const s = new Store();
  const recs: TraceRecord[] = [];
  for (let i = 0; i < REMOTES_KEPT + 10; i++)
    for (const [host, path] of [
      [`h${i}`, '/a'],
      ['shared', `/item/${i}`],
    ])
      recs.push({
        type: 'outbound',
        request: `x${i}`,
        pid: 1,
        goid: 1,
        proto: 'tcp',
        src: '127.0.0.1',
        sport: 1,
        dst: '127.0.0.1',
        dport: 80,
        reused: true,
        callSite: null,
        tsNs: 1,
        via: 'http',
        op: { protocol: 'http', method: 'GET', host, path },
      });
  for (let i = 0; i < REMOTES_KEPT + 10; i++)
    recs.push({
      type: 'request',
      id: `x${i}`,
      pid: 1,
      goid: 1,
      method: 'GET',
      path: '/',
      route: '/',
      handler: { func: 'main.h', file: MAIN, line: 300 },
      headers: {},
      traceId: '',
      startNs: 0,
      endNs: 1,
    });
  s.ingest(recs);
  const h = [...s.handlers.values()][0];
  assert.equal(h.remotes.size, REMOTES_KEPT + 1);
  const other = h.remotes.get(OTHER)!;
  const shared = h.remotes.get('shared')!;
  assert.ok(shared.ops.size <= OPS_KEPT + 1 && shared.ops.get(OTHER)!.count > 0);
  const total = [...h.remotes.values()].reduce((n, r) => n + r.count, 0);
  assert.equal(total, 2 * (REMOTES_KEPT + 10), 'every record is counted somewhere');
  assert.ok(other.count > 0);
});

test('gRPC methods: the index route and the recorded call name the implementing method', () => {
  const SVC = '/home/dev/greeter/main.go';
  const grpc: RouteInfo[] = [
    {
      method: 'POST',
      path: '/helloworld.Greeter/SayHello',
      handler: { func: 'main.(*greeter).SayHello', file: SVC, line: 17 },
    },
  ];
  assert.equal(indexRouteLabel(grpc[0]), 'POST /helloworld.Greeter/SayHello');
  assert.equal(handlerLenses(new Store(), grpc, SVC)[0].title, 'Trace outbound connections');
  assert.equal(handlerFromIndex(grpc, 'POST', '/helloworld.Greeter/SayHello')?.func, 'main.(*greeter).SayHello');

  const s = new Store();
  s.ingest([
    {
      type: 'outbound',
      request: 'r1',
      pid: 1,
      goid: 9,
      proto: 'tcp',
      src: '127.0.0.1',
      sport: 40000,
      dst: '127.0.0.1',
      dport: 18081,
      reused: false,
      callSite: { func: 'main.(*greeter).SayHello', file: SVC, line: 20 },
      tsNs: 1_000_000,
      via: 'http',
    },
    {
      type: 'request',
      id: 'r1',
      pid: 1,
      goid: 9,
      method: 'POST',
      path: '/helloworld.Greeter/SayHello',
      route: '/helloworld.Greeter/SayHello',
      handler: { func: 'main.(*greeter).SayHello', file: SVC, line: 17 },
      headers: { 'x-request-id': 'a' },
      traceId: '',
      startNs: 0,
      endNs: 2_000_000,
    },
  ]);
  const lens = handlerLenses(s, grpc, SVC);
  assert.equal(lens.length, 1);
  assert.equal(lens[0].title, '↗ 1 downstream · 127.0.0.1:18081 · 1 req · p50 2.0 ms');
  assert.equal(lens[0].route, 'POST /helloworld.Greeter/SayHello');
});
