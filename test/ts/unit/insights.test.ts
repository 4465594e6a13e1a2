import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  callSiteHints,
  handlerFromIndex,
  handlerLenses,
  handlerTitle,
  indexRouteLabel,
  sameFile,
} from '../../../src/server/insights';
import { Store } from '../../../src/server/store';
import type { RouteInfo } from '../../../src/shared/protocol';
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
