// The bundled insight server over real LSP (stdio): records in, code
// lenses, inlay hints, hovers and the panel's custom requests out.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import {
  CodeLensRequest,
  DidOpenTextDocumentNotification,
  HoverRequest,
  InlayHintRequest,
  type CodeLens,
  type InlayHint,
  type MarkupContent,
} from 'vscode-languageserver-protocol';
import {
  configNotification,
  decorationsRequest,
  queryRequest,
  recordsNotification,
  routesNotification,
  snapshotRequest,
  traceStateNotification,
} from '../../src/shared/protocol';
import { fixtureRecords } from './support/fixtures';
import { startServer, type ServerHandle } from './support/lspClient';

const MAIN = '/home/dev/sample/main.go';
const STORE = '/home/dev/sample/store.go';
const uri = (p: string) => `file://${p}`;
// A stand-in main.go: 120 lines, so line lengths are known.
const mainText = Array.from({ length: 120 }, (_, i) =>
  i === 46 ? '\tresp, err := http.Get(downstream + "/truth")' : `// line ${i + 1}`,
).join('\n');

let s: ServerHandle;
before(async () => {
  s = await startServer({ maxRecords: 50000 });
  await s.connection.sendNotification(DidOpenTextDocumentNotification.type, {
    textDocument: { uri: uri(MAIN), languageId: 'go', version: 1, text: mainText },
  });
});
after(async () => s.close());

const lenses = async (file: string) =>
  ((await s.connection.sendRequest(CodeLensRequest.type, { textDocument: { uri: uri(file) } })) ?? []) as CodeLens[];

test('before tracing: a "Trace outbound connections" lens on each routed handler', async () => {
  await s.connection.sendNotification(routesNotification, {
    routes: [
      { method: 'GET', path: '/echo', handler: { func: 'main.echo', file: MAIN, line: 41 } },
      { method: 'GET', path: '/users/:id', handler: { func: 'main.getUser', file: MAIN, line: 58 } },
    ],
  });
  await s.waitForChange();
  const ls = await lenses(MAIN);
  assert.deepEqual(
    ls.map((l) => [l.range.start.line, l.command?.title, l.command?.command]),
    [
      [40, 'Trace outbound connections', 'outboundLens.trace'],
      [57, 'Trace outbound connections', 'outboundLens.trace'],
    ],
  );
});

test('records in: code lenses report downstream endpoints, counts and p50', async () => {
  await s.connection.sendNotification(traceStateNotification, { state: 'attaching', pid: 41234 });
  const records = fixtureRecords();
  // Two batches, split between an outbound record and its request.
  await s.connection.sendNotification(recordsNotification, { records: records.slice(0, 6) });
  await s.connection.sendNotification(recordsNotification, { records: records.slice(6) });
  await s.waitForChange((c) => c.status.requests === 4);
  assert.ok(s.refreshes.includes('codeLens'), 'the server asks the editor to refresh code lenses');
  const ls = await lenses(MAIN);
  const title = (line: number) => ls.find((l) => l.range.start.line === line - 1)?.command?.title;
  assert.equal(title(41), '↗ 1 downstream · 127.0.0.1:18081 · 2 req · p50 2.5 ms');
  assert.equal(title(58), '↗ 2 downstream · 127.0.0.1:15432, 127.0.0.1:18081 · 1 req · p50 4.0 ms');
  assert.match(title(74)!, /↗ 1 downstream · 127\.0\.0\.1:18081 · 1 req/);
  assert.equal(ls.find((l) => l.range.start.line === 40)?.command?.command, 'outboundLens.showPanel');
  assert.deepEqual(await lenses(STORE), []);
});

test('inlay hints at the end of call-site lines, with the tuples in the tooltip', async () => {
  const hints = (await s.connection.sendRequest(InlayHintRequest.type, {
    textDocument: { uri: uri(MAIN) },
    range: { start: { line: 0, character: 0 }, end: { line: 119, character: 0 } },
  })) as InlayHint[];
  const at = (line: number) => hints.find((h) => h.position.line === line - 1);
  assert.equal(at(47)?.label, '→ 127.0.0.1:18081 ×2 (1 new, 1 reused)');
  assert.equal(at(47)?.position.character, mainText.split('\n')[46].length, 'at the end of the line');
  assert.match((at(47)?.tooltip as MarkupContent).value, /127\.0\.0\.1:38610 → 127\.0\.0\.1:18081/);
  assert.equal(at(82)?.label, '→ 127.0.0.1:18081 ×2 (2 new, 0 reused)');
  assert.equal(at(101)?.label, '→ 127.0.0.1:18081 ×1 (1 new, 0 reused)');
  assert.equal(hints.length, 4); // 47, 63, 82, 101
  const store = (await s.connection.sendRequest(InlayHintRequest.type, {
    textDocument: { uri: uri(STORE) },
    range: { start: { line: 0, character: 0 }, end: { line: 50, character: 0 } },
  })) as InlayHint[];
  assert.equal(store[0]?.label, '→ 127.0.0.1:15432 ×1 (1 new, 0 reused)');
});

test('hover on a call site lists recent tuples and trace ids; on a handler its summary', async () => {
  const h = await s.connection.sendRequest(HoverRequest.type, {
    textDocument: { uri: uri(MAIN) },
    position: { line: 46, character: 3 },
  });
  const text = (h?.contents as MarkupContent).value;
  assert.match(text, /4bf92f3577b34da6a3ce929d0e0e4736/);
  assert.match(text, /38610/);
  const hh = await s.connection.sendRequest(HoverRequest.type, {
    textDocument: { uri: uri(MAIN) },
    position: { line: 40, character: 0 },
  });
  assert.match((hh?.contents as MarkupContent).value, /main\.echo.*2 requests/);
});

test('decorations request gives the same text as the inlay hints', async () => {
  const d = await s.connection.sendRequest(decorationsRequest, { uri: uri(MAIN) });
  assert.deepEqual(
    d.map((x) => x.line),
    [47, 63, 82, 101],
  );
  assert.equal(d[0].text, '→ 127.0.0.1:18081 ×2 (1 new, 1 reused)');
});

test('panel requests: snapshot and incremental query', async () => {
  const snap = await s.connection.sendRequest(snapshotRequest, {});
  assert.equal(snap.rows.length, 5);
  assert.equal(snap.status.state, 'tracing');
  assert.equal(snap.rows[0].request?.id, 'r1');
  const none = await s.connection.sendRequest(queryRequest, { afterSeq: snap.seq });
  assert.equal(none.rows.length, 0);
  const byKey = await s.connection.sendRequest(queryRequest, { afterSeq: 0, keys: [snap.rows[2].key] });
  assert.equal(byKey.rows[0].request?.path, '/users/42');
});

test('malformed records in a batch are skipped; maxRecords caps what is kept', async () => {
  await s.connection.sendNotification(configNotification, { maxRecords: 4 });
  await s.connection.sendNotification(recordsNotification, {
    records: [{ type: 'garbage' }, { type: 'stats', events: 1, lost: 0 }] as never,
  });
  await s.waitForChange();
  const snap = await s.connection.sendRequest(snapshotRequest, {});
  assert.ok(snap.rows.reduce((n, r) => n + r.outbound.length + (r.request ? 1 : 0), 0) <= 4);
  assert.ok(snap.dropped >= 7);
  await s.connection.sendNotification(traceStateNotification, { state: 'stopped', message: 'trace ended (signal)' });
  const c = await s.waitForChange((x) => x.status.state === 'stopped');
  assert.equal(c.status.message, 'trace ended (signal)');
});

test('ServeMux: lenses on pattern handlers from the route index; requests with a pattern get its handler', async () => {
  const MUX = '/home/dev/mux/main.go';
  await s.connection.sendNotification(configNotification, { maxRecords: 50000 });
  await s.connection.sendNotification(DidOpenTextDocumentNotification.type, {
    textDocument: { uri: uri(MUX), languageId: 'go', version: 1, text: mainText },
  });
  await s.connection.sendNotification(routesNotification, {
    routes: [
      {
        method: 'GET',
        path: '/users/{id}',
        pattern: 'GET /users/{id}',
        handler: { func: 'main.showUser', file: MUX, line: 20 },
      },
      { method: 'ANY', path: '/items/', pattern: '/items/', handler: { func: 'main.items', file: MUX, line: 30 } },
      {
        method: 'ANY',
        path: '/hosted',
        host: 'example.com',
        pattern: 'example.com/hosted',
        handler: { func: 'main.hosted', file: MUX, line: 40 },
      },
    ],
  });
  await s.connection.sendNotification(traceStateNotification, { state: 'attaching', pid: 5150 });
  const base = (await s.waitForChange((c) => c.status.state === 'attaching')).status.requests;
  const before = await lenses(MUX);
  assert.deepEqual(
    before.map((l) => [l.range.start.line, l.command?.title, (l.command?.arguments?.[0] as { route: string }).route]),
    [
      [19, '↗ tracing · no requests yet', 'GET /users/{id}'],
      [29, '↗ tracing · no requests yet', 'ANY /items/'],
      [39, '↗ tracing · no requests yet', 'ANY example.com/hosted'],
    ],
  );
  const req = (id: string, method: string, path: string, route: string) => ({
    type: 'request',
    id,
    pid: 5150,
    goid: 7,
    method,
    path,
    route,
    handler: null,
    headers: {},
    traceId: '',
    startNs: 1_000_000_000,
    endNs: 1_002_000_000,
  });
  const out = (request: string, dport: number) => ({
    type: 'outbound',
    request,
    pid: 5150,
    goid: 7,
    proto: 'tcp',
    src: '127.0.0.1',
    sport: 40000 + dport,
    dst: '127.0.0.1',
    dport,
    reused: false,
    callSite: null,
    tsNs: 1_001_000_000,
    via: 'http',
  });
  await s.connection.sendNotification(recordsNotification, {
    records: [
      { type: 'ready', pid: 5150, exe: '/home/dev/mux/mux', goVersion: 'go1.26.8', probes: [] },
      out('r1', 18081),
      req('r1', 'GET', '/users/42', 'GET /users/{id}'),
      out('r2', 15432),
      req('r2', 'POST', '/items/9', '/items/'),
      req('r3', 'GET', '/other', '/other/'),
      req('r4', 'GET', '/plain', ''),
    ] as never,
  });
  await s.waitForChange((c) => c.status.requests === base + 4);
  const ls = await lenses(MUX);
  const title = (line: number) => ls.find((l) => l.range.start.line === line - 1)?.command?.title;
  assert.equal(title(20), '↗ 1 downstream · 127.0.0.1:18081 · 1 req · p50 2.0 ms');
  assert.equal(title(30), '↗ 1 downstream · 127.0.0.1:15432 · 1 req · p50 2.0 ms');
  assert.equal(title(40), '↗ tracing · no requests yet');
  const hover = await s.connection.sendRequest(HoverRequest.type, {
    textDocument: { uri: uri(MUX) },
    position: { line: 29, character: 0 },
  });
  assert.match((hover?.contents as MarkupContent).value, /main\.items.*1 request[\s\S]*Routes: `POST \/items\/`/);
  // The panel's rows carry the handler the index gave; a route the index lacks, or none, leaves it null.
  const snap = await s.connection.sendRequest(snapshotRequest, {});
  const row = (id: string) => snap.rows.find((r) => r.request?.id === id && r.request.pid === 5150)?.request;
  assert.deepEqual(row('r1')?.handler, { func: 'main.showUser', file: MUX, line: 20 });
  assert.equal(row('r2')?.handler?.func, 'main.items');
  assert.equal(row('r3')?.handler, null);
  assert.equal(row('r4')?.handler, null);
});

test('chi: lenses on handlers from the route index; a request with a chi route pattern gets the handler its method and pattern name', async () => {
  const CHI = '/home/dev/chi/routes.go';
  await s.connection.sendNotification(DidOpenTextDocumentNotification.type, {
    textDocument: { uri: uri(CHI), languageId: 'go', version: 1, text: mainText },
  });
  // As the helper's route index lists chi registrations: method and full
  // pattern (mounted and nested routers' prefixes joined), no ServeMux pattern.
  await s.connection.sendNotification(routesNotification, {
    routes: [
      { method: 'GET', path: '/accounts/{id}', handler: { func: 'main.showAccount', file: CHI, line: 20 } },
      { method: 'PUT', path: '/accounts/{id}', handler: { func: 'main.storeAccount', file: CHI, line: 30 } },
      { method: 'GET', path: '/api/invoices/{id}', handler: { func: 'main.showInvoice', file: CHI, line: 40 } },
    ],
  });
  await s.connection.sendNotification(traceStateNotification, { state: 'attaching', pid: 6160 });
  const base = (await s.waitForChange((c) => c.status.state === 'attaching')).status.requests;
  assert.deepEqual(
    (await lenses(CHI)).map((l) => [l.range.start.line, l.command?.title]),
    [
      [19, '↗ tracing · no requests yet'],
      [29, '↗ tracing · no requests yet'],
      [39, '↗ tracing · no requests yet'],
    ],
  );
  const req = (id: string, method: string, path: string, route: string) => ({
    type: 'request',
    id,
    pid: 6160,
    goid: 9,
    method,
    path,
    route,
    handler: null, // chi keeps no handler where the probe reads the route
    headers: {},
    traceId: '',
    startNs: 1_000_000_000,
    endNs: 1_003_000_000,
  });
  const out = (request: string, dport: number) => ({
    type: 'outbound',
    request,
    pid: 6160,
    goid: 9,
    proto: 'tcp',
    src: '127.0.0.1',
    sport: 41000 + dport,
    dst: '127.0.0.1',
    dport,
    reused: false,
    callSite: null,
    tsNs: 1_001_000_000,
    via: 'http',
  });
  await s.connection.sendNotification(recordsNotification, {
    records: [
      { type: 'ready', pid: 6160, exe: '/home/dev/chi/chi', goVersion: 'go1.26.8', probes: [] },
      out('c1', 18081),
      req('c1', 'GET', '/accounts/7', '/accounts/{id}'),
      req('c2', 'GET', '/accounts/8', '/accounts/{id}'),
      out('c3', 15432),
      req('c3', 'PUT', '/accounts/7', '/accounts/{id}'),
      req('c4', 'POST', '/accounts/7', '/accounts/{id}'),
    ] as never,
  });
  await s.waitForChange((c) => c.status.requests === base + 4);
  const ls = await lenses(CHI);
  const title = (line: number) => ls.find((l) => l.range.start.line === line - 1)?.command?.title;
  assert.equal(title(20), '↗ 1 downstream · 127.0.0.1:18081 · 2 req · p50 3.0 ms');
  assert.equal(title(30), '↗ 1 downstream · 127.0.0.1:15432 · 1 req · p50 3.0 ms');
  assert.equal(title(40), '↗ tracing · no requests yet');
  const snap = await s.connection.sendRequest(snapshotRequest, {});
  const row = (id: string) => snap.rows.find((r) => r.request?.id === id && r.request.pid === 6160)?.request;
  assert.deepEqual(row('c1')?.handler, { func: 'main.showAccount', file: CHI, line: 20 });
  assert.equal(row('c3')?.handler?.func, 'main.storeAccount');
  // No registration has POST on that pattern: no handler.
  assert.equal(row('c4')?.handler, null);
});

test('ops: the lens names what each remote was asked, the hover counts it per remote, without latency', async () => {
  const OPS = '/home/dev/ops/main.go';
  await s.connection.sendNotification(DidOpenTextDocumentNotification.type, {
    textDocument: { uri: uri(OPS), languageId: 'go', version: 1, text: mainText },
  });
  await s.connection.sendNotification(routesNotification, {
    routes: [{ method: 'GET', path: '/order', handler: { func: 'main.order', file: OPS, line: 10 } }],
  });
  await s.connection.sendNotification(traceStateNotification, { state: 'attaching', pid: 7170 });
  const base = (await s.waitForChange((c) => c.status.state === 'attaching')).status.requests;
  let sport = 42000;
  const out = (request: string, dport: number, via: string, op?: Record<string, unknown>) => ({
    type: 'outbound',
    request,
    pid: 7170,
    goid: 3,
    proto: 'tcp',
    src: '127.0.0.1',
    sport: sport++,
    dst: '127.0.0.1',
    dport,
    reused: true,
    callSite: { func: 'main.order', file: OPS, line: 12 },
    tsNs: 1_001_000_000,
    via,
    ...(op ? { op } : {}),
  });
  const records: unknown[] = [
    { type: 'ready', pid: 7170, exe: '/home/dev/ops/ops', goVersion: 'go1.26.8', probes: [] },
  ];
  for (let i = 0; i < 3; i++) {
    records.push(
      out(`o${i}`, 18081, 'http', { protocol: 'http', method: 'GET', host: '127.0.0.1:18081', path: '/echo' }),
      out(`o${i}`, 5432, 'write', {
        protocol: 'postgresql',
        verb: 'SELECT',
        statement: `SELECT * FROM t WHERE id = ${i}`,
      }),
      {
        type: 'request',
        id: `o${i}`,
        pid: 7170,
        goid: 3,
        method: 'GET',
        path: '/order',
        route: '/order',
        handler: { func: 'main.order', file: OPS, line: 10 },
        headers: {},
        traceId: '',
        startNs: 1_000_000_000,
        endNs: 1_004_000_000,
      },
    );
  }
  await s.connection.sendNotification(recordsNotification, { records: records as never });
  await s.waitForChange((c) => c.status.requests === base + 3);
  const ls = await lenses(OPS);
  assert.equal(
    ls.find((l) => l.range.start.line === 9)?.command?.title,
    '↗ 2 downstream · 127.0.0.1:18081 GET /echo ×3, 127.0.0.1:5432 postgresql SELECT ×3 · 3 req · p50 4.0 ms',
  );
  const hover = await s.connection.sendRequest(HoverRequest.type, {
    textDocument: { uri: uri(OPS) },
    position: { line: 9, character: 0 },
  });
  const text = (hover?.contents as MarkupContent).value;
  assert.match(text, /- → `127\.0\.0\.1:18081` ×3 \(0 new, 3 reused\)\n {2}- `GET \/echo` ×3/);
  assert.match(text, /- → `127\.0\.0\.1:5432` ×3 \(0 new, 3 reused\)\n {2}- `postgresql SELECT` ×3/);
  assert.doesNotMatch(text.slice(text.indexOf('- →')), /p50|p95| ms/);
  const cs = await s.connection.sendRequest(HoverRequest.type, {
    textDocument: { uri: uri(OPS) },
    position: { line: 11, character: 1 },
  });
  assert.match((cs?.contents as MarkupContent).value, /`SELECT \* FROM t WHERE id = 2`/);
});

test('call paths: the decorations request gives every line of the path; a handler line on a path hovers both', async () => {
  const PATHS = '/home/dev/paths/main.go';
  await s.connection.sendNotification(DidOpenTextDocumentNotification.type, {
    textDocument: { uri: uri(PATHS), languageId: 'go', version: 1, text: mainText },
  });
  await s.connection.sendNotification(routesNotification, {
    routes: [
      { method: 'GET', path: '/a', handler: { func: 'main.a', file: PATHS, line: 20 } },
      // A one-line handler: its own line calls the helper.
      { method: 'GET', path: '/b', handler: { func: 'main.b', file: PATHS, line: 30 } },
    ],
  });
  await s.connection.sendNotification(traceStateNotification, { state: 'attaching', pid: 7171 });
  const base = (await s.waitForChange((c) => c.status.state === 'attaching')).status.requests;
  const helper = { func: 'main.call', file: PATHS, line: 12 };
  const records: unknown[] = [
    { type: 'ready', pid: 7171, exe: '/home/dev/paths/paths', goVersion: 'go1.26.8', probes: [] },
  ];
  const calls: [string, { func: string; file: string; line: number }, number][] = [
    ['a', { func: 'main.a', file: PATHS, line: 21 }, 200],
    ['a', { func: 'main.a', file: PATHS, line: 21 }, 502],
    ['b', { func: 'main.b', file: PATHS, line: 30 }, 200],
  ];
  calls.forEach(([route, frame, status], i) =>
    records.push(
      {
        type: 'outbound',
        request: `p${i}`,
        pid: 7171,
        goid: 5 + i,
        proto: 'tcp',
        src: '127.0.0.1',
        sport: 43000 + i,
        dst: '127.0.0.1',
        dport: 18081,
        reused: i > 0,
        callSite: helper,
        callPath: [helper, frame],
        tsNs: 1_001_000_000,
        via: 'http',
        op: { protocol: 'http', method: 'GET', host: '127.0.0.1:18081', path: `/${route}`, status, durationNs: 2e6 },
      },
      {
        type: 'request',
        id: `p${i}`,
        pid: 7171,
        goid: 5 + i,
        method: 'GET',
        path: `/${route}`,
        route: `/${route}`,
        handler: { func: `main.${route}`, file: PATHS, line: route === 'a' ? 20 : 30 },
        headers: {},
        traceId: '',
        startNs: 1_000_000_000,
        endNs: 1_004_000_000,
      },
    ),
  );
  await s.connection.sendNotification(recordsNotification, { records: records as never });
  await s.waitForChange((c) => c.status.requests === base + 3);
  const d = await s.connection.sendRequest(decorationsRequest, { uri: uri(PATHS) });
  assert.deepEqual(
    d.map((x) => [x.line, x.text]),
    [
      [12, '→ 127.0.0.1:18081 GET /a +1 ×3 (1 new, 2 reused) · p50 2.0 ms · 1×502'],
      [21, '→ 127.0.0.1:18081 GET /a ×2 (1 new, 1 reused) · p50 2.0 ms · 1×502'],
      [30, '→ 127.0.0.1:18081 GET /b ×1 (0 new, 1 reused) · p50 2.0 ms'],
    ],
  );
  const hoverAt = async (line: number) =>
    (
      (
        await s.connection.sendRequest(HoverRequest.type, {
          textDocument: { uri: uri(PATHS) },
          position: { line: line - 1, character: 1 },
        })
      )?.contents as MarkupContent
    ).value;
  assert.match(
    await hoverAt(21),
    /^\*\*Outbound Lens\*\* · `main\.a` · 2 uses\n\n- through `main\.call` \(main\.go:12\) ×2/,
  );
  const both = await hoverAt(30);
  assert.match(both, /^\*\*Outbound Lens\*\* · `main\.b` · 1 request/, 'the handler hover first');
  assert.match(both, /\n---\n\n\*\*Outbound Lens\*\* · `main\.b` · 1 use\n\n- through `main\.call`/, 'then the line');
});
