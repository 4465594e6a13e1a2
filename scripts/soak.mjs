// npm run soak -- [--minutes N] [--toolchains go1.21.13,go1.27.4] [--rate R] [--max-records M] [--json FILE]
//
// A long run of mixed load on the bundled sample, launched under the helper,
// for each Go release given (default: the oldest and newest supported), with
// GC pressure and deep recursion (/deep: the goroutine's stack grows and
// moves while probed functions run). The helper's records go through the
// extension's NDJSON reader into the insight server, as in VS Code.
// Reports (asserts nothing, exits non-zero when a "must" fails):
//   - service errors and crashes (must be 0), events lost;
//   - over time: the helper's RSS, its LRU maps' entries of max_entries and
//     evictions (from the helper's stats records), the insight server's
//     heap after a GC, and the panel's (headless Chromium, fed as the
//     extension feeds it) JS heap after a GC and its rows;
//   - attribution precision and recall over the last 20 s window against
//     what the downstream recorded (must be 1.0).
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import http from 'node:http';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { buildHelper, buildSample, isRoot, root, run, startAndWait } from './lib.mjs';
import { procStatus, startInsightServer } from './bench/insightServer.mjs';
import { QUICK_TOOLCHAINS } from './toolchains.mjs';

const { values: opts } = parseArgs({
  options: {
    minutes: { type: 'string', default: '30' },
    toolchains: { type: 'string', default: QUICK_TOOLCHAINS.join(',') },
    rate: { type: 'string', default: '150' },
    'max-records': { type: 'string', default: '50000' },
    json: { type: 'string' },
  },
});
const MINUTES = Number(opts.minutes);
const RATE = Number(opts.rate);
const MAX_RECORDS = Number(opts['max-records']);
const SAMPLE_EVERY_MS = Math.min(30000, Math.max(5000, (MINUTES * 60000) / 12));
const WINDOW_MS = 20000;
const CONCURRENCY = 16;
const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const require = createRequire(import.meta.url);

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const mib = (kib) => (kib / 1024).toFixed(1);
const log = (...a) => console.error(`[soak ${new Date().toISOString().slice(11, 19)}]`, ...a);

/** The mix: weights of each route; /deep: 2000 levels of 512-byte frames, 64 KiB of garbage every 64 levels. */
const MIX = [
  ['GET', '/echo', 4],
  ['GET', '/users/{i}', 3],
  ['GET', '/fanout', 2],
  ['GET', '/twice', 2],
  ['GET', '/dial', 1],
  ['POST', '/api/v1/orders', 1],
  ['GET', '/deep?depth=2000', 3],
  ['GET', '/health', 2],
].flatMap(([method, path, w]) => Array(w).fill({ method, path }));

function freePort() {
  return new Promise((resolve) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

/** The helper's LRU maps, from its last stats record: { name: { entries, max, evictions } }. */
function mapUse(stats) {
  return Object.fromEntries(
    (stats.maps ?? []).map((m) => [m.map, { entries: m.entries, max: m.max, evictions: m.evictions }]),
  );
}

const showMaps = (maps) =>
  Object.entries(maps)
    .filter(([, m]) => m.entries > 0 || m.evictions)
    .map(([n, m]) => `${n} ${m.entries}/${m.max}${m.evictions === null ? '' : ` evicted ${m.evictions}`}`)
    .join(', ') || 'all empty';

/**
 * The panel in headless Chromium (the webview test's harness page), fed the
 * way the extension feeds it: after each batch, the rows changed since the
 * last pull, as a 'rows' message. heap() is its JS heap after a GC.
 */
async function openPanel() {
  const { chromium } = await import('playwright-core');
  const browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: require('../test/e2e/common.cjs').CHROMIUM_ARGS,
  });
  const { tsImport } = await import('tsx/esm/api');
  const { serveHarness } = await tsImport('../test/ts/support/webviewHarness.ts', import.meta.url);
  const { server, url } = await serveHarness();
  const page = await browser.newPage({ viewport: { width: 1200, height: 700 } });
  await page.goto(url);
  await page.waitForFunction(() => window.__posted.some((m) => m.type === 'ready'));
  const cdp = await page.context().newCDPSession(page);
  const post = (m) => page.evaluate((m) => window.postMessage(m, '*'), m);
  await post({ type: 'status', status: { state: 'tracing', requests: 0 } });
  let sentSeq = 0;
  return {
    rows: 0,
    async pull(conn) {
      const r = await conn.sendRequest('outboundLens/query', { afterSeq: sentSeq });
      sentSeq = r.seq;
      this.rows += r.rows.length;
      if (r.rows.length) await post({ type: 'rows', rows: r.rows, dropped: r.dropped });
    },
    async heap() {
      await cdp.send('HeapProfiler.collectGarbage');
      return (await cdp.send('Runtime.getHeapUsage')).usedSize;
    },
    async close() {
      await browser.close().catch(() => {});
      server.close();
    },
  };
}

function request(agent, port, method, path, testId) {
  return new Promise((resolve) => {
    const req = http.request(
      { host: '127.0.0.1', port, method, path, agent, headers: { 'X-Test-Id': testId }, timeout: 20000 },
      (res) => {
        res.resume();
        res.on('end', () => resolve(res.statusCode < 400 ? null : `${method} ${path}: ${res.statusCode}`));
      },
    );
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', (e) => resolve(`${method} ${path}: ${e.message}`));
    req.end();
  });
}

async function soak(toolchain, parserModule) {
  const work = mkdtempSync(join(tmpdir(), 'ol-soak-'));
  const sampleBin = join(work, 'sample');
  run('go', ['build', '-o', sampleBin, '.'], {
    cwd: join(root, 'sample'),
    env: { ...process.env, GOTOOLCHAIN: toolchain },
  });
  const goVersion = spawnSync('go', ['version', sampleBin], { encoding: 'utf8' }).stdout.trim().split(' ').pop();
  const { downstream } = buildSample();
  const [downPort, rawPort, svcPort] = [await freePort(), await freePort(), await freePort()];
  const { child: down } = await startAndWait(
    downstream,
    ['-addr', `127.0.0.1:${downPort}`, '-raw', `127.0.0.1:${rawPort}`],
    /listening on/,
  );
  const server = await startInsightServer({ maxRecords: MAX_RECORDS });
  const panel = existsSync(CHROMIUM) ? await openPanel() : null;
  const helper = buildHelper();
  const argv = [
    helper,
    'trace',
    '--format',
    'ndjson',
    '--header',
    'x-test-id',
    '--',
    sampleBin,
    '-addr',
    `127.0.0.1:${svcPort}`,
    '-downstream',
    `http://127.0.0.1:${downPort}`,
    '-raw',
    `127.0.0.1:${rawPort}`,
    '-heartbeat',
    '1s',
  ];
  await server.conn.sendNotification('outboundLens/traceState', { state: 'attaching' });
  const tracer = spawn(argv[0], argv.slice(1), { stdio: ['pipe', 'pipe', 'pipe'] });
  let diag = '';
  tracer.stderr.setEncoding('utf8').on('data', (d) => (diag += d));

  // The helper's records: through the extension's reader, batched to the server at most 4 times a second.
  const parser = new parserModule.NdjsonParser();
  let batch = [];
  let lastStats = { events: 0, lost: 0 };
  let endRecord = null;
  const testIdOf = new Map(); // request id -> x-test-id, for the window only
  // Outbound records read once the window opened (those of earlier requests
  // drop out at the join); not by their time: a step of the wall clock (a
  // paused VM) would move the window against the helper's monotonic times.
  const outbound = [];
  let windowStartNs = Infinity;
  let windowFirst = Infinity;
  const inWindow = (testId) => Number(testId?.split('-').pop()) >= windowFirst && testId.startsWith('s-');
  const take = (records) => {
    for (const r of records) {
      if (r.type === 'stats') lastStats = r;
      else if (r.type === 'end') endRecord = r;
      else if (r.type === 'request' && inWindow(r.headers?.['x-test-id'])) testIdOf.set(r.id, r.headers['x-test-id']);
      else if (r.type === 'outbound' && windowStartNs !== Infinity && r.request !== null) outbound.push(r);
    }
    batch.push(...records);
  };
  tracer.stdout.on('data', (d) => take(parser.push(d)));
  tracer.stdout.on('end', () => take(parser.end()));
  let feeding = Promise.resolve();
  const flusher = setInterval(() => {
    if (!batch.length) return;
    const records = batch;
    batch = [];
    feeding = feeding.then(async () => {
      await server.conn.sendNotification('outboundLens/records', { records });
      await panel?.pull(server.conn);
    });
  }, 250);
  const tracerExit = new Promise((r) => tracer.once('exit', (code, sig) => r(code ?? sig)));
  for (let i = 0; !/listening on/.test(diag); i++) {
    if (tracer.exitCode !== null || i > 600) throw new Error(`the helper did not start the sample:\n${diag}`);
    await sleep(100);
  }
  const hpid = tracer.pid; // run as root: the helper itself, not sudo
  log(`${toolchain} (${goVersion}): tracing the sample on :${svcPort}, helper pid ${hpid}`);

  // Load: CONCURRENCY workers sharing a RATE per second budget.
  const agent = new http.Agent({ keepAlive: true, maxSockets: CONCURRENCY });
  const t0 = Date.now();
  const endAt = t0 + MINUTES * 60000;
  const errors = [];
  let sent = 0;
  let next = 0;
  let windowOpened = false;
  const worker = async () => {
    while (Date.now() < endAt) {
      const due = t0 + (next++ / RATE) * 1000;
      if (due > Date.now()) await sleep(due - Date.now());
      if (!windowOpened && Date.now() >= endAt - WINDOW_MS) {
        // The sampled window: the downstream's records start afresh, and only ids from here on count.
        windowOpened = true;
        await fetch(`http://127.0.0.1:${downPort}/truth/reset`, { method: 'POST' });
        windowStartNs = Date.now() * 1e6;
        windowFirst = sent;
      }
      const i = sent++;
      const m = MIX[i % MIX.length];
      const err = await request(agent, svcPort, m.method, m.path.replace('{i}', String(i)), `s-${i}`);
      if (err) errors.push(err);
    }
  };
  const samples = [];
  const sample = async () => {
    const heap = await server.heap();
    const rows = (await server.conn.sendRequest('outboundLens/snapshot', { afterSeq: 1e12 })).dropped;
    let helperRss = NaN;
    try {
      helperRss = procStatus(hpid).rss;
    } catch {
      /* exited */
    }
    const panelHeap = panel ? await panel.heap() : NaN;
    samples.push({
      at: Math.round((Date.now() - t0) / 1000),
      panelHeap,
      panelRows: panel?.rows ?? NaN,
      sent,
      helperRss,
      maps: mapUse(lastStats),
      serverHeap: heap.heapUsed,
      serverRss: procStatus(server.child.pid).rss,
      dropped: rows,
      lost: lastStats.lost,
    });
    const s = samples.at(-1);
    const maps = showMaps(s.maps);
    log(
      `t=${s.at}s sent ${s.sent} errors ${errors.length} · helper RSS ${mib(s.helperRss)} MiB · server heap ${(s.serverHeap / 2 ** 20).toFixed(1)} MiB · panel heap ${(s.panelHeap / 2 ** 20).toFixed(1)} MiB (${s.panelRows} rows sent) · ${maps}`,
    );
  };
  await sample();
  const sampler = setInterval(() => void sample(), SAMPLE_EVERY_MS);
  await Promise.all(Array.from({ length: CONCURRENCY }, worker));
  clearInterval(sampler);
  const windowLast = sent - 1;
  await sleep(1500);
  await sample();
  const crashed = tracer.exitCode !== null || endRecord !== null; // the sample ended on its own (the helper follows it)

  // Precision and recall over the window, as test/probe measures them.
  const truth = await (await fetch(`http://127.0.0.1:${downPort}/truth`)).json();
  for (let i = 0; i < 100 && testIdOf.size < windowLast - windowFirst + 1; i++) await sleep(100);
  const key = (id, port) => `${id}|${port}`;
  const truthKeys = new Map();
  for (const t of truth) {
    if (!inWindow(t.testId)) continue;
    truthKeys.set(key(t.testId, t.remotePort), (truthKeys.get(key(t.testId, t.remotePort)) ?? 0) + 1);
  }
  let traced = 0;
  let tp = 0;
  const tracedKeys = new Map();
  for (const o of outbound) {
    if (o.dport !== downPort && o.dport !== rawPort) continue;
    const id = testIdOf.get(o.request);
    if (!id) continue;
    traced++;
    tracedKeys.set(key(id, o.sport), (tracedKeys.get(key(id, o.sport)) ?? 0) + 1);
  }
  for (const [k, n] of tracedKeys) tp += Math.min(n, truthKeys.get(k) ?? 0);
  let truthN = 0;
  for (const n of truthKeys.values()) truthN += n;

  tracer.stdin.end();
  const exit = await Promise.race([tracerExit, sleep(15000).then(() => 'timeout')]);
  clearInterval(flusher);
  await feeding;
  const finalHeap = (await server.heap()).heapUsed;
  await panel?.close();
  await server.close();
  agent.destroy();
  down.kill('SIGTERM');
  rmSync(work, { recursive: true, force: true });
  return {
    toolchain,
    goVersion,
    minutes: MINUTES,
    sent,
    errors,
    crashed,
    helperExit: exit,
    endReason: endRecord?.reason,
    events: lastStats.events,
    lost: lastStats.lost,
    samples,
    finalHeap,
    window: {
      requests: windowLast - windowFirst + 1,
      traced,
      truth: truthN,
      precision: tp / traced,
      recall: tp / truthN,
    },
  };
}

function report(r) {
  const first = r.samples[0];
  const last = r.samples.at(-1);
  const peak = (f) => Math.max(...r.samples.map(f).filter(Number.isFinite));
  console.log(
    `\n== ${r.toolchain} (${r.goVersion}), ${r.minutes} min, ${r.sent} requests (${(r.sent / r.minutes / 60).toFixed(0)}/s)`,
  );
  console.log(
    `service errors ${r.errors.length}, crashes ${r.crashed ? 1 : 0}, helper exit ${r.helperExit}, events ${r.events}, lost ${r.lost}`,
  );
  for (const e of r.errors.slice(0, 5)) console.log(`  error: ${e}`);
  console.log(
    '    t   requests  helper RSS  server heap  server RSS  records dropped  panel heap  rows sent  LRU maps not empty (entries/max, evicted)',
  );
  for (const s of r.samples) {
    const maps = showMaps(s.maps);
    console.log(
      `${String(s.at).padStart(5)}s ${String(s.sent).padStart(9)}  ${mib(s.helperRss).padStart(6)} MiB  ${(s.serverHeap / 2 ** 20).toFixed(1).padStart(7)} MiB  ${mib(s.serverRss).padStart(6)} MiB  ${String(s.dropped).padStart(15)}  ${(s.panelHeap / 2 ** 20).toFixed(1).padStart(6)} MiB  ${String(s.panelRows).padStart(9)}  ${maps}`,
    );
  }
  const evicting = Object.entries(last.maps).filter(([, m]) => m.evictions > 0 || m.entries >= m.max);
  console.log(
    `helper RSS ${mib(first.helperRss)} → peak ${mib(peak((s) => s.helperRss))} → last ${mib(last.helperRss)} MiB; ` +
      `server heap peak ${(peak((s) => s.serverHeap) / 2 ** 20).toFixed(1)} MiB, at the end ${(r.finalHeap / 2 ** 20).toFixed(1)} MiB; ` +
      `panel heap peak ${(peak((s) => s.panelHeap) / 2 ** 20).toFixed(1)} MiB (${last.panelRows} rows sent; it keeps 100 000 at most); ` +
      `LRU maps evicting: ${evicting.length ? evicting.map(([n, m]) => `${n} (${m.evictions ?? 'uncounted'} evicted)`).join(', ') : 'none'}`,
  );
  const w = r.window;
  console.log(
    `attribution over the last ${WINDOW_MS / 1000} s (${w.requests} requests): ${w.traced} traced, ${w.truth} seen downstream, precision ${w.precision.toFixed(4)} recall ${w.recall.toFixed(4)}`,
  );
  return r.errors.length === 0 && !r.crashed && w.precision === 1 && w.recall === 1;
}

async function main() {
  if (!(MINUTES > 0) || !(RATE > 0)) throw new Error('--minutes and --rate take positive numbers');
  if (!isRoot()) throw new Error('the soak traces with the helper: run it as root (sudo npm run soak)');
  run('node', [join(root, 'scripts', 'bundle.mjs')]);
  if (!existsSync(CHROMIUM))
    log(`no Chromium at ${CHROMIUM}: the panel is left out (apt-get install -y chromium, or set CHROMIUM_PATH)`);
  const { tsImport } = await import('tsx/esm/api');
  const parserModule = await tsImport('../src/extension/ndjson.ts', import.meta.url);
  let ok = true;
  const results = [];
  for (const tc of opts.toolchains.split(',')) results.push(await soak(tc.trim(), parserModule));
  for (const r of results) ok = report(r) && ok;
  if (opts.json) writeFileSync(opts.json, JSON.stringify(results, null, 1));
  process.exit(ok ? 0 : 1);
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
