// npm run bench:extension: what the editor side costs, measured. Prints
// numbers (medians over several runs, with a baseline from the same run where
// one makes sense); asserts nothing. Four parts, each skipped with its reason
// when this machine cannot run it:
//   1. extension activation: load dist/extension.js and run activate(), in a
//      real VS Code (code-server) and, as baseline, in plain Node with a stub
//      'vscode' module
//   2. palette command → first row in the panel, attaching to a running
//      sample by pid, in the workbench (root: BPF)
//   3. panel frame times with 100,000 rows streamed in, while scrolling and
//      while filtering (headless Chromium, the bundled webview)
//   4. insight server memory with 100k / 200k records at two caps
// Environment: OL_BENCH_EXT_PARTS=1,2,3,4 (which parts), OL_BENCH_EXT_RUNS=5,
// OL_BENCH_NO_PACKAGE=1 (use the existing VSIX and dist/ instead of `npm run package`),
// OL_BENCH_DEBUG=1 (screenshots in the temp dir when a workbench step retries).
// `npm run bench` runs this at its end (OL_BENCH_SKIP_EXTENSION=1 there skips it).
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildSample, isRoot, root } from './lib.mjs';
import { procStatus, startInsightServer } from './insightServer.mjs';

const require = createRequire(import.meta.url);
const PARTS = new Set((process.env.OL_BENCH_EXT_PARTS ?? '1,2,3,4').split(',').map((s) => s.trim()));
const RUNS = Math.max(1, Number(process.env.OL_BENCH_EXT_RUNS ?? 5));
const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const BROWSER_ARGS = require('../test/e2e/common.cjs').CHROMIUM_ARGS;
const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'));
const EXT_ID = `${pkg.publisher}.${pkg.name}`;
const VSIX = join(root, `${pkg.name}-${pkg.version}.vsix`);
const DIST = join(root, 'dist');

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const sorted = (xs) => [...xs].sort((a, b) => a - b);
const median = (xs) => {
  const s = sorted(xs);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};
const pct = (xs, p) => {
  const s = sorted(xs);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1))];
};
const ms = (x, d = 1) => (x === undefined || x === null || Number.isNaN(x) ? '—' : `${x.toFixed(d)} ms`);
const mib = (kib) => `${(kib / 1024).toFixed(1)} MiB`;
const say = (...a) => console.log(...a);
const note = (...a) => console.error(`[bench-ext ${new Date().toISOString().slice(11, 19)}]`, ...a);

/** Every child process this script starts, ended on the way out. */
const children = new Set();
function track(child) {
  children.add(child);
  child.once('exit', () => children.delete(child));
  return child;
}
async function endChildren() {
  for (const c of [...children]) {
    if (c.exitCode !== null || c.signalCode !== null) continue;
    try {
      if (c.spawnargs && c.__group) process.kill(-c.pid, 'SIGTERM');
      else c.kill('SIGTERM');
    } catch {
      /* gone */
    }
    const done = await Promise.race([new Promise((r) => c.once('exit', () => r(true))), sleep(3000).then(() => false)]);
    if (!done) {
      try {
        if (c.__group) process.kill(-c.pid, 'SIGKILL');
        else c.kill('SIGKILL');
      } catch {
        /* gone */
      }
    }
  }
}

// ---------------------------------------------------------------------------
// The product: the VSIX and dist/, built fresh unless told otherwise.

function ensureProduct() {
  const have = () =>
    ['extension.js', 'core.js', 'server.js', 'webview.js', 'webview.css'].every((f) => existsSync(join(DIST, f)));
  if (process.env.OL_BENCH_NO_PACKAGE === '1') {
    return {
      dist: have() ? null : 'dist/ is missing (OL_BENCH_NO_PACKAGE=1; run npm run package)',
      vsix: existsSync(VSIX) ? null : `${VSIX} is missing (OL_BENCH_NO_PACKAGE=1; run npm run package)`,
    };
  }
  note('npm run package (production bundles and the VSIX)');
  const r = spawnSync('npm', ['run', 'package', '--silent'], {
    cwd: root,
    stdio: ['ignore', 'pipe', 'pipe'],
    encoding: 'utf8',
  });
  if (r.status !== 0) {
    const why = `npm run package failed (exit ${r.status}): ${(r.stderr || r.stdout).trim().split('\n').slice(-3).join(' / ')}`;
    return { dist: have() ? null : why, vsix: why };
  }
  return {
    dist: have() ? null : 'npm run package did not produce dist/',
    vsix: existsSync(VSIX) ? null : `no ${VSIX}`,
  };
}

// ---------------------------------------------------------------------------
// Part 1 baseline: dist/extension.js in plain Node with a stub 'vscode'.

const STUB_CHILD = String.raw`
const Module = require('node:module');
const { readFileSync } = require('node:fs');
const { join } = require('node:path');
const [root, dist] = process.argv.slice(2);
function anything(name, overrides = {}) {
  const fn = function () {};
  const assigned = new Map();
  return new Proxy(fn, {
    set(_t, p, v) { assigned.set(p, v); return true; },
    get(_t, p) {
      if (assigned.has(p)) return assigned.get(p);
      if (p in overrides) return overrides[p];
      if (p === 'then') return undefined;
      if (p === Symbol.toPrimitive) return () => name;
      if (p === 'dispose') return () => undefined;
      return anything(name + '.' + String(p));
    },
    apply: () => anything(name + '()'),
    construct: () => anything('new ' + name),
  });
}
const commands = [];
const uri = (fsPath) => ({ fsPath, path: fsPath, scheme: 'file', toString: () => 'file://' + fsPath });
const overrides = {
  commands: anything('commands', {
    registerCommand: (id) => (commands.push(id), { dispose() {} }),
    executeCommand: async () => undefined,
  }),
  workspace: anything('workspace', { getConfiguration: () => ({ get: () => undefined }), workspaceFolders: undefined }),
  window: anything('window', { registerWebviewPanelSerializer: () => ({ dispose() {} }), visibleTextEditors: [] }),
  Uri: { file: uri, joinPath: (b, ...p) => uri(join(b.fsPath, ...p)) },
};
const dts = readFileSync(join(root, 'node_modules', '@types', 'vscode', 'index.d.ts'), 'utf8');
const names = new Set([...dts.matchAll(/^\s+export (?:class|namespace|enum|function|const|let|var) (\w+)/gm)].map((m) => m[1]));
for (const k of Object.keys(overrides)) names.add(k);
const stub = {};
for (const n of names) stub[n] = n in overrides ? overrides[n] : anything(n);
const resolve = Module._resolveFilename;
Module._resolveFilename = function (req, ...rest) { return req === 'vscode' ? 'vscode' : resolve.call(this, req, ...rest); };
require.cache.vscode = { id: 'vscode', filename: 'vscode', loaded: true, exports: stub };
const context = {
  subscriptions: [],
  extensionPath: root,
  extensionUri: uri(root),
  asAbsolutePath: (p) => join(root, p),
  globalState: anything('globalState'),
  workspaceState: anything('workspaceState'),
  secrets: anything('secrets'),
  environmentVariableCollection: anything('environmentVariableCollection'),
  logUri: uri('/tmp'),
  storageUri: undefined,
  globalStorageUri: uri('/tmp'),
  extensionMode: 1,
};
(async () => {
  const t0 = performance.now();
  const ext = require(join(dist, 'extension.js'));
  const t1 = performance.now();
  const p = ext.activate(context);
  const t2 = performance.now();
  const outcome = await Promise.race([
    Promise.resolve(p).then(() => 'resolved', (e) => 'rejected: ' + e.message),
    new Promise((r) => setTimeout(() => r('timeout'), 3000)),
  ]);
  const t3 = performance.now();
  // The rest of the extension (dist/core.js), which activate() leaves to load right after it, in the background.
  let core = null;
  try {
    const t4 = performance.now();
    require(join(dist, 'core.js'));
    core = performance.now() - t4;
  } catch {}
  process.stdout.write(JSON.stringify({ load: t1 - t0, call: t2 - t1, resolved: outcome === 'resolved' ? t3 - t2 : null, outcome, commands: commands.length, core }) + '\n');
  process.exit(0);
})();
`;

async function stubActivation(runs) {
  const dir = mkdtempSync(join(tmpdir(), 'ol-bench-stub-'));
  const file = join(dir, 'activate.cjs');
  writeFileSync(file, STUB_CHILD);
  const out = [];
  try {
    for (let i = 0; i < runs; i++) {
      // Its own process group: activate() may start the insight server, which goes with it.
      const child = track(
        spawn(process.execPath, [file, root, DIST], { stdio: ['ignore', 'pipe', 'pipe'], detached: true }),
      );
      child.__group = true;
      let stdout = '';
      let stderr = '';
      child.stdout.on('data', (d) => (stdout += d));
      child.stderr.on('data', (d) => (stderr += d));
      await new Promise((r) => child.once('exit', r));
      try {
        process.kill(-child.pid, 'SIGKILL');
      } catch {
        /* the group is gone */
      }
      const line = stdout.trim().split('\n').pop();
      if (!line?.startsWith('{')) throw new Error(`the stub activation printed nothing: ${stderr.trim().slice(-500)}`);
      out.push(JSON.parse(line));
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  return out;
}

// ---------------------------------------------------------------------------
// The workbench (code-server), shared by parts 1 and 2.

async function loadWorkbench() {
  const wb = await import('../test/e2e/workbench.mjs');
  if (!existsSync(wb.codeServerBin))
    return { why: `code-server is not installed (${wb.codeServerBin}); npm run test:e2e installs it` };
  if (!existsSync(join(wb.cacheDir, 'node_modules', 'code-server', 'lib', 'vscode', 'node_modules')))
    return {
      why: 'code-server is not fully installed (lib/vscode/node_modules missing); npm run test:e2e installs it',
    };
  if (!existsSync(wb.CHROMIUM)) return { why: `Chromium not found at ${wb.CHROMIUM}` };
  return { wb };
}

/** Reads the Startup Performance editor's row for this extension: [load code, call activate, finish activate] ms. */
async function perfViewTimes(wb, page) {
  await wb.runCommand(page, 'Developer: Startup Performance');
  await wb.until(
    'the Startup Performance editor',
    async () => (await wb.activeTabTitle(page)).includes('Startup Performance'),
    15000,
  );
  const re = new RegExp(
    `\\|\\s*${EXT_ID.replace(/\./g, '\\.')}\\s*\\|\\s*(true|false)\\s*\\|\\s*(-?\\d+)\\s*\\|\\s*(-?\\d+)\\s*\\|\\s*(-?\\d+)\\s*\\|\\s*([^|]*)\\|`,
  );
  // Only visible lines are in the DOM: find the row with the editor's find widget.
  const editor = page.locator('.editor-group-container.active .monaco-editor .view-lines').first();
  await editor.click({ position: { x: 5, y: 5 }, force: true, timeout: 5000 }).catch(() => {});
  await page.keyboard.press('Control+F');
  const find = page
    .locator('.editor-group-container.active .find-widget textarea, .editor-group-container.active .find-widget input')
    .first();
  await find.waitFor({ state: 'visible', timeout: 5000 });
  // The table pads its columns: search for the id with one space after it.
  await find.fill(`| ${EXT_ID} `);
  await page.keyboard.press('Enter');
  await sleep(300);
  const text = await wb
    .until(
      `the ${EXT_ID} row in Startup Performance`,
      () =>
        page.evaluate((id) => {
          for (const el of document.querySelectorAll('.editor-group-container.active .monaco-editor .view-line')) {
            const t = (el.textContent ?? '').replace(/\u00a0/g, ' ');
            if (t.includes(`| ${id} `)) return t;
          }
          return undefined;
        }, EXT_ID),
      5000,
    )
    .catch(async (e) => {
      if (process.env.OL_BENCH_DEBUG)
        await page.screenshot({ path: join(tmpdir(), `ol-bench-perfview-${Date.now()}.png`) });
      await page.keyboard.press('Escape');
      await closeTab(page, 'Startup Performance').catch(() => {});
      throw e;
    });
  await page.keyboard.press('Escape');
  await closeTab(page, 'Startup Performance');
  const m = re.exec(text);
  if (!m) throw new Error(`unexpected Startup Performance row: ${text}`);
  return { load: Number(m[2]), call: Number(m[3]), resolved: Number(m[4]), event: m[5].trim() };
}

async function closeTab(page, title) {
  const tabs = page.locator('.tabs-container .tab', { hasText: title });
  for (let i = 0; i < 5 && (await tabs.count()) > 0; i++) {
    await tabs
      .first()
      .click({ button: 'middle', timeout: 5000 })
      .catch(() => {}); // middle click closes a tab
    await sleep(300);
  }
  if ((await tabs.count()) > 0) throw new Error(`could not close the ${title} tab`);
}

/** Waits until VS Code reports this extension activated (the Running Extensions editor no longer says "Activating..."). */
async function activationTimes(wb, page, timeoutMs = 60000) {
  return wb.until(
    'the extension to report its activation times',
    async () => {
      const t = await perfViewTimes(wb, page);
      return t.resolved >= 0 && t;
    },
    timeoutMs,
    1000,
  );
}

async function part1and2(wb, want1, want2, results) {
  const sampleDir = join(root, 'sample');
  const dirs = wb.prepareProfile(VSIX);
  const cs = await wb.startCodeServer(dirs);
  const browser = await wb.launchBrowser();
  try {
    let { context, page } = await wb.openWorkbench(browser, cs.url, sampleDir);
    note(`workbench up at ${cs.url}`);
    if (want1) {
      const runs = (results.workbench = []);
      for (let i = 0; i < RUNS; i++) {
        if (i > 0) {
          // A new window (browser context: no restored editors) gets a new extension host;
          // the extension activates when main.go opens, once the workbench has settled.
          await context.close();
          ({ context, page } = await wb.openWorkbench(browser, cs.url, sampleDir));
          await sleep(2000);
        }
        // onLanguage:go activates the extension. Quick open may not list files yet right after a reload: retry.
        for (let k = 0; ; k++) {
          try {
            await wb.openFile(page, 'main.go');
            break;
          } catch (e) {
            if (process.env.OL_BENCH_DEBUG)
              await page.screenshot({ path: join(tmpdir(), `ol-bench-open-${Date.now()}.png`) });
            if (k === 2) throw e;
            await page.keyboard.press('Escape');
          }
        }
        const t = await activationTimes(wb, page);
        note(
          `activation in the workbench, run ${i + 1}: load ${t.load} ms, activate() ${t.call} ms, resolved ${t.resolved} ms (${t.event})`,
        );
        runs.push(t);
      }
    }
    if (want2) await paletteToFirstRow(wb, page, (results.firstRow = []));
  } finally {
    await browser.close().catch(() => {});
    await wb.killAll();
    wb.removeProfiles();
  }
}

// ---------------------------------------------------------------------------
// Part 2: palette → first row, attaching to a running sample by pid.

const P2 = { service: '127.0.0.1:18190', down: '127.0.0.1:18191', raw: '127.0.0.1:18192' };

async function rowCount(page) {
  for (const f of page.frames()) {
    if (f === page.mainFrame()) continue;
    const n = await f
      .evaluate(() => (document.querySelector('#viewport') ? document.querySelectorAll('#lines .line.row').length : -1))
      .catch(() => -1);
    if (n >= 0) return { frame: f, n };
  }
  return { frame: undefined, n: -1 };
}

async function paletteToFirstRow(wb, page, runs) {
  for (const p of Object.values(P2)) {
    if (await wb.portInUse(Number(p.split(':')[1]))) throw new Error(`port ${p} is in use`);
  }
  const { service, downstream } = buildSample();
  await wb.startProcess('downstream', downstream, ['-addr', P2.down, '-raw', P2.raw], { pattern: /listening on/ });
  const svc = await wb.startProcess(
    'sample',
    service,
    ['-addr', P2.service, '-downstream', `http://${P2.down}`, '-raw', P2.raw],
    { pattern: /listening on/ },
  );
  let sending = true;
  const load = (async () => {
    while (sending) {
      await wb.httpGet(`http://${P2.service}/echo`).catch(() => {});
      await sleep(20);
    }
  })();
  try {
    await wb.openFile(page, 'main.go').catch(() => {});
    for (let i = 0; i < RUNS; i++) {
      // Empty the panel (rows of the previous trace stay until cleared).
      const before = await rowCount(page);
      if (before.frame && before.n > 0) {
        await before.frame.locator('#clear').click();
        await wb.until('the panel to be empty', async () => (await rowCount(page)).n === 0, 10000, 50);
      }
      const t0 = performance.now();
      await wb.runCommand(page, 'Outbound Lens: Trace outbound connections');
      const tCmd = performance.now();
      await wb.until(
        `the quick pick to list pid ${svc.pid}`,
        async () => (await wb.quickPickRows(page)).some((x) => x.includes(`pid ${svc.pid}`)),
        30000,
        50,
      );
      const tListed = performance.now();
      await wb.pickQuickItem(page, `pid ${svc.pid}`);
      const tPick = performance.now();
      await wb.until('the first row in the panel', async () => (await rowCount(page)).n > 0, 30000, 25);
      const tRow = performance.now();
      const r = { total: tRow - t0, listed: tListed - tCmd, pickToRow: tRow - tPick, cmdToRow: tRow - tCmd };
      note(
        `first row, run ${i + 1}: pick → row ${r.pickToRow.toFixed(0)} ms, command → row ${r.cmdToRow.toFixed(0)} ms (quick pick listed the pid after ${r.listed.toFixed(0)} ms)`,
      );
      runs.push(r);
      await wb.runCommand(page, 'Outbound Lens: Stop tracing');
      await wb.until(
        'the trace to stop',
        async () => (await wb.statusBarTexts(page)).some((t) => /Outbound Lens: stopped/.test(t)),
        20000,
      );
      await wb.until('no helper tracing the sample', () => !helperTracing(wb, svc.pid), 15000);
    }
  } finally {
    sending = false;
    await load;
  }
}

/** Whether a helper traces this pid (other runs' helpers are none of ours). */
function helperTracing(wb, pid) {
  return wb.helperTracePids().some((h) => {
    try {
      return readFileSync(`/proc/${h}/cmdline`, 'utf8').split('\0').includes(String(pid));
    } catch {
      return false;
    }
  });
}

// ---------------------------------------------------------------------------
// Part 3: the panel in headless Chromium with 100k rows.

/** The page the webview tests use (test/ts/support/webviewHarness.ts): the bundle under a webview-like CSP. */
async function serveHarness() {
  const { tsImport } = await import('tsx/esm/api');
  const harness = await tsImport('../test/ts/support/webviewHarness.ts', import.meta.url);
  return harness.serveHarness();
}

const TRACE_CATEGORIES = [
  'devtools.timeline',
  'disabled-by-default-devtools.timeline',
  'disabled-by-default-devtools.timeline.frame',
  'toplevel',
];

/**
 * Per frame (between consecutive BeginMainThreadFrame on the renderer's main
 * thread): the main thread's busy time (top-level tasks, clipped to the
 * frame) and the frame's length.
 */
function framesFromTrace(buf) {
  const events = JSON.parse(buf.toString()).traceEvents ?? [];
  const names = new Map();
  for (const e of events) if (e.ph === 'M' && e.name === 'thread_name') names.set(`${e.pid}:${e.tid}`, e.args?.name);
  // The page's renderer: the main thread with the most frames.
  const byThread = new Map();
  for (const e of events) {
    const t = `${e.pid}:${e.tid}`;
    if (names.get(t) !== 'CrRendererMain') continue;
    if (!byThread.has(t)) byThread.set(t, { frames: [], tasks: [] });
    if (e.name === 'BeginMainThreadFrame') byThread.get(t).frames.push(e.ts);
    else if (e.name === 'ThreadControllerImpl::RunTask' && e.ph === 'X')
      byThread.get(t).tasks.push([e.ts, e.ts + e.dur]);
  }
  const main = [...byThread.values()].sort((a, b) => b.frames.length - a.frames.length)[0];
  if (!main || main.frames.length < 2) return { busy: [], length: [] };
  const frames = sorted(main.frames);
  const tasks = main.tasks.sort((a, b) => a[0] - b[0]);
  const busy = [];
  const length = [];
  let j = 0;
  for (let i = 1; i < frames.length; i++) {
    const [a, b] = [frames[i - 1], frames[i]];
    while (j < tasks.length && tasks[j][1] <= a) j++;
    let sum = 0;
    for (let k = j; k < tasks.length && tasks[k][0] < b; k++)
      sum += Math.max(0, Math.min(b, tasks[k][1]) - Math.max(a, tasks[k][0]));
    busy.push(sum / 1000);
    length.push((b - a) / 1000);
  }
  return { busy, length };
}

async function traced(browser, page, fn) {
  // A running requestAnimationFrame loop makes every vsync a main-thread frame (idle ones too).
  await page.evaluate(() => {
    window.__raf = true;
    const loop = () => window.__raf && requestAnimationFrame(loop);
    requestAnimationFrame(loop);
  });
  await browser.startTracing(page, { categories: TRACE_CATEGORIES });
  const t0 = performance.now();
  const extra = await fn();
  const wall = performance.now() - t0;
  const buf = await browser.stopTracing();
  await page.evaluate(() => (window.__raf = false));
  return { ...framesFromTrace(buf), wall, extra };
}

async function panelFrames() {
  const { chromium } = await import('playwright-core');
  const browser = await chromium.launch({ executablePath: CHROMIUM, args: BROWSER_ARGS });
  const { server, url } = await serveHarness();
  const N = 100_000;
  const BATCH = 1000;
  const out = {};
  try {
    const page = await browser.newPage({ viewport: { width: 1200, height: 700 } });
    const errors = [];
    page.on('pageerror', (e) => errors.push(e.message));
    await page.goto(url);
    await page.waitForFunction(() => window.__posted.some((m) => m.type === 'ready'));
    await page.evaluate(() =>
      window.postMessage({ type: 'status', status: { state: 'tracing', pid: 4242, requests: 0 } }, '*'),
    );

    out.empty = await traced(browser, page, () => sleep(1500));

    // 100k requests, each with its outbound records, in 'rows' messages of 1000 as the extension posts them.
    await page.evaluate(
      ({ N, BATCH }) => {
        const hosts = ['10.0.0.5', '10.0.0.6', '127.0.0.1', '192.168.1.20'];
        const routes = ['/echo', '/users/:id', '/fanout', '/twice', '/api/v1/orders'];
        const batches = [];
        let seq = 0;
        for (let b = 0; b < N / BATCH; b++) {
          const rows = [];
          for (let k = 0; k < BATCH; k++) {
            const i = b * BATCH + k;
            const route = routes[i % routes.length];
            const path = route === '/users/:id' ? `/users/${i}` : route === '/echo' ? `/items/${i}` : route;
            const t = 1_700_000_000_000_000_000 + i * 1_000_000;
            const request = {
              type: 'request',
              id: `r${i}`,
              pid: 4242,
              goid: 30 + (i % 500),
              method: route === '/api/v1/orders' ? 'POST' : 'GET',
              path,
              route,
              handler: { func: `main.h${i % 5}`, file: '/home/dev/sample/main.go', line: 40 + (i % 5) * 12 },
              headers: { 'x-request-id': `req-${i}` },
              traceId: (i * 2654435761).toString(16).padStart(32, '0'),
              startNs: t,
              endNs: t + 2_000_000 + (i % 7) * 100_000,
            };
            const outbound = [];
            for (let o = 0; o < (route === '/fanout' ? 3 : 1); o++) {
              outbound.push({
                type: 'outbound',
                request: `r${i}`,
                pid: 4242,
                goid: request.goid,
                proto: 'tcp',
                src: '127.0.0.1',
                sport: 10000 + ((i * 3 + o) % 50000),
                dst: hosts[(i + o) % hosts.length],
                dport: 8081 + o,
                reused: i % 3 !== 0,
                callSite: {
                  func: request.handler.func,
                  file: '/home/dev/sample/main.go',
                  line: request.handler.line + 6,
                },
                tsNs: t + 500_000,
                via: 'http',
              });
            }
            rows.push({ key: `1:r${i}`, seq: ++seq, kind: 'request', request, outbound });
          }
          batches.push({ type: 'rows', rows, dropped: 0 });
        }
        window.__batches = batches;
      },
      { N, BATCH },
    );
    out.stream = await traced(browser, page, () =>
      page.evaluate(
        () =>
          new Promise((resolve) => {
            // One batch per task: the panel handles each message before the next arrives, as with a real webview.
            const t0 = performance.now();
            let i = 0;
            const next = () => {
              if (i < window.__batches.length) {
                window.postMessage(window.__batches[i++], '*');
                setTimeout(next, 0);
              } else {
                setTimeout(() => resolve(performance.now() - t0), 0);
              }
            };
            next();
          }),
      ),
    );
    await page.evaluate(() => delete window.__batches);
    const shown = await page.locator('#status').textContent();
    out.rowsShown = shown?.trim();

    out.idle = await traced(browser, page, () => sleep(1500));

    const vp = page.locator('#viewport');
    const box = await vp.boundingBox();
    await page.mouse.move(box.x + box.width / 2, box.y + box.height / 2);
    // The panel follows the newest rows: start from the top, then wheel down.
    await vp.evaluate((v) => (v.scrollTop = 0));
    await sleep(300);
    out.wheel = await traced(browser, page, async () => {
      const top0 = await vp.evaluate((v) => v.scrollTop);
      for (let i = 0; i < 120; i++) {
        await page.mouse.wheel(0, 400);
        await sleep(16);
      }
      await sleep(200);
      return (await vp.evaluate((v) => v.scrollTop)) - top0;
    });
    out.jump = await traced(browser, page, () =>
      page.evaluate(async () => {
        const v = document.getElementById('viewport');
        const steps = 60;
        for (let i = 0; i <= steps; i++) {
          v.scrollTop = ((v.scrollHeight - v.clientHeight) * i) / steps;
          await new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(r)));
        }
        return v.scrollTop;
      }),
    );

    const input = page.locator('#filter input');
    await input.click();
    out.filter = await traced(browser, page, async () => {
      for (const q of ['/items/9999', 'host:10.0.0.6']) {
        await input.pressSequentially(q, { delay: 60 });
        await sleep(300);
        const shown = await page.locator('#lines .line.row').count();
        for (let i = 0; i < q.length; i++) {
          await page.keyboard.press('Backspace');
          await sleep(60);
        }
        await sleep(300);
        if (!shown) throw new Error(`the filter ${q} shows no row`);
      }
    });
    out.errors = errors;
  } finally {
    await browser.close().catch(() => {});
    server.close();
  }
  return out;
}

// ---------------------------------------------------------------------------
// Part 4: the insight server's memory.

function makeRecords(n, from = 0) {
  // n records: requests and one outbound record each, as the helper emits them (outbound first).
  const recs = [];
  for (let i = from; recs.length < n; i++) {
    const t = 1_700_000_000_000_000_000 + i * 1_000_000;
    const line = 40 + (i % 5) * 12;
    recs.push({
      type: 'outbound',
      request: `r${i}`,
      pid: 4242,
      goid: 30 + (i % 500),
      proto: 'tcp',
      src: '127.0.0.1',
      sport: 10000 + (i % 50000),
      dst: '127.0.0.1',
      dport: 8081,
      reused: i % 3 !== 0,
      callSite: { func: `main.h${i % 5}`, file: '/home/dev/sample/main.go', line: line + 6 },
      tsNs: t + 500_000,
      via: 'http',
    });
    if (recs.length < n)
      recs.push({
        type: 'request',
        id: `r${i}`,
        pid: 4242,
        goid: 30 + (i % 500),
        method: 'GET',
        path: `/items/${i}`,
        route: '/items/:id',
        handler: { func: `main.h${i % 5}`, file: '/home/dev/sample/main.go', line },
        headers: { 'x-request-id': `req-${i}` },
        traceId: (i * 2654435761).toString(16).padStart(32, '0'),
        startNs: t,
        endNs: t + 2_000_000,
      });
  }
  return recs;
}

async function serverMemory(maxRecords, total) {
  const server = await startInsightServer({ maxRecords, dist: DIST });
  track(server.child);
  const { child, conn } = server;
  try {
    await conn.sendRequest('outboundLens/snapshot', { afterSeq: 1e12 });
    const baseHeap = (await server.heap()).heapUsed;
    const base = { ...procStatus(child.pid), heap: baseHeap };
    await conn.sendNotification('outboundLens/traceState', { state: 'attaching', pid: 4242 });
    await conn.sendNotification('outboundLens/records', { records: [{ type: 'ready', pid: 4242 }] });
    const t0 = performance.now();
    let peakRss = 0;
    for (let sent = 0; sent < total; sent += 1000) {
      await conn.sendNotification('outboundLens/records', {
        records: makeRecords(Math.min(1000, total - sent), sent / 2),
      });
      if (sent % 20000 === 0) {
        // Let the server keep up (the extension's batches come no faster than the helper writes them).
        await conn.sendRequest('outboundLens/snapshot', { afterSeq: 1e12 });
        peakRss = Math.max(peakRss, procStatus(child.pid).rss);
      }
    }
    const snap = await conn.sendRequest('outboundLens/snapshot', { afterSeq: 1e12 });
    const ingestMs = performance.now() - t0;
    const afterHeap = (await server.heap()).heapUsed;
    const after = { ...procStatus(child.pid), heap: afterHeap };
    const rows = (await conn.sendRequest('outboundLens/query', { afterSeq: 0, limit: 1e9 })).rows.length;
    return { maxRecords: maxRecords ?? 50000, total, base, after, ingestMs, dropped: snap.dropped, rows, peakRss };
  } finally {
    await server.close();
  }
}

// ---------------------------------------------------------------------------

async function main() {
  const T0 = Date.now();
  say(`Outbound Lens extension benchmark (${RUNS} runs where runs repeat; numbers are noisy on a busy machine)`);
  const product = ensureProduct();
  const results = {};
  const skipped = {};
  const partial = {};

  // ---- 1 and 2: the workbench ----
  const want1 = PARTS.has('1');
  const want2 = PARTS.has('2');
  if (want1 && !product.dist) {
    try {
      results.stub = await stubActivation(RUNS);
    } catch (e) {
      skipped.stub = e.message;
    }
  } else if (want1) skipped.stub = product.dist;
  if (want1 || want2) {
    let why = product.vsix;
    let wb;
    if (!why) ({ wb, why } = await loadWorkbench());
    const why2 =
      why ?? (isRoot() ? null : 'not root: attaching BPF programs needs root (sudo npm run bench:extension)');
    if (want1 && why) skipped.workbench = why;
    if (want2 && why2) skipped.firstRow = why2;
    if (wb && ((want1 && !why) || (want2 && !why2))) {
      try {
        await part1and2(wb, want1 && !why, want2 && !why2, results);
      } catch (e) {
        note(`workbench: ${e.stack ?? e.message}`);
        const failed = `failed: ${e.message.split('\n')[0]}`;
        for (const k of ['workbench', 'firstRow']) {
          if (!results[k]) continue;
          if (!results[k].length) {
            delete results[k];
            skipped[k] = failed;
          } else partial[k] = `${results[k].length} of ${RUNS} runs, then ${failed}`;
        }
        if (want1 && !why && !results.workbench) skipped.workbench = failed;
        if (want2 && !why2 && !results.firstRow) skipped.firstRow = failed;
      }
    }
  }

  // ---- 3: panel frames ----
  if (PARTS.has('3')) {
    if (product.dist) skipped.panel = product.dist;
    else if (!existsSync(CHROMIUM))
      skipped.panel = `Chromium not found at ${CHROMIUM} (apt-get install -y chromium, or set CHROMIUM_PATH)`;
    else {
      try {
        results.panel = await panelFrames();
      } catch (e) {
        note(`panel: ${e.stack ?? e.message}`);
        skipped.panel = `failed: ${e.message.split('\n')[0]}`;
      }
    }
  }

  // ---- 4: server memory ----
  if (PARTS.has('4')) {
    if (product.dist) skipped.memory = product.dist;
    else {
      try {
        results.memory = [];
        for (const [cap, total] of [
          [undefined, 100_000],
          [undefined, 200_000],
          [200_000, 100_000],
          [200_000, 200_000],
        ]) {
          const r = await serverMemory(cap, total);
          note(`server memory: cap ${r.maxRecords}, ${total} records: RSS ${mib(r.after.rss)}`);
          results.memory.push(r);
        }
      } catch (e) {
        note(`memory: ${e.stack ?? e.message}`);
        skipped.memory = `failed: ${e.message.split('\n')[0]}`;
      }
    }
  }

  report(results, skipped, partial);
  say(`\n(bench:extension took ${((Date.now() - T0) / 1000).toFixed(0)} s)`);
}

function report(r, skipped, partial) {
  const notMeasured = (k) => say(`  not measured: ${skipped[k]}`);
  if (PARTS.has('1')) {
    say(`\n1. extension activation (load dist/extension.js + activate()), median of ${RUNS}; target <= 50 ms`);
    if (r.workbench) {
      const w = r.workbench;
      const m = (k) => median(w.map((x) => x[k]));
      say(
        `  VS Code (code-server ${'4.100.3'}), as its Startup Performance view reports it, activated by ${w[0].event}:`,
      );
      say(`    load code                  ${ms(m('load'), 0)}`);
      say(`    activate() call            ${ms(m('call'), 0)}`);
      say(
        `    load + activate() call     ${ms(median(w.map((x) => x.load + x.call)), 0)}   (what "Show Running Extensions" shows)`,
      );
      say(
        `    activate() promise settled ${ms(m('resolved'), 0)}   (activate() returns at once; dist/core.js and the insight server load right after)`,
      );
      say(`    runs (load/call/resolved)  ${w.map((x) => `${x.load}/${x.call}/${x.resolved}`).join('  ')}`);
      if (partial.workbench) say(`    only ${partial.workbench}`);
    } else notMeasured('workbench');
    if (r.stub) {
      const s = r.stub;
      say(`  baseline, plain Node with a stub 'vscode' module (fresh process per run):`);
      say(`    load code (require)        ${ms(median(s.map((x) => x.load)))}`);
      say(`    activate() call            ${ms(median(s.map((x) => x.call)))}`);
      say(`    load + activate() call     ${ms(median(s.map((x) => x.load + x.call)))}`);
      const res = s.filter((x) => x.resolved !== null);
      say(
        `    activate() promise settled ${res.length ? ms(median(res.map((x) => x.resolved))) : `did not resolve (${s[0].outcome})`}${res.length < s.length && res.length ? ` (${res.length} of ${s.length} resolved)` : ''}   (no insight server: the language client does not start against the stub)`,
      );
      const core = s.filter((x) => typeof x.core === 'number');
      if (core.length)
        say(
          `    dist/core.js load          ${ms(median(core.map((x) => x.core)))}   (the rest of the extension: loaded after activate() returns, without holding it up)`,
        );
      if (r.workbench) {
        const wb = median(r.workbench.map((x) => x.load + x.call));
        const base = median(s.map((x) => x.load + x.call));
        say(`    ratio workbench / baseline ${(wb / base).toFixed(2)} (load + activate() call)`);
      }
    } else if (skipped.stub) say(`  baseline not measured: ${skipped.stub}`);
  }
  if (PARTS.has('2')) {
    say(`\n2. palette command → first row in the panel, attaching to the running sample by pid; target <= 2000 ms`);
    if (r.firstRow) {
      const f = r.firstRow;
      const line = (label, k) =>
        say(
          `    ${label.padEnd(34)} median ${ms(median(f.map((x) => x[k])), 0)}, max ${ms(Math.max(...f.map((x) => x[k])), 0)}`,
        );
      say(`  ${f.length} runs, GET /echo sent every ~20 ms meanwhile:`);
      line('pid picked → first row', 'pickToRow');
      line('command run → first row', 'cmdToRow');
      line('command run → quick pick lists pid', 'listed');
      say(
        `    (command → row includes the test's own quick-pick driving: it waits for the list to settle, then types the pid)`,
      );
      if (partial.firstRow) say(`    only ${partial.firstRow}`);
    } else notMeasured('firstRow');
  }
  if (PARTS.has('3')) {
    say(
      `\n3. panel with 100,000 requests (each with 1-3 outbound records), headless Chromium; target < 16 ms per frame`,
    );
    if (r.panel) {
      const p = r.panel;
      say(
        `  main-thread busy time per frame (Chrome trace: top-level tasks between BeginMainThreadFrame), and frame length:`,
      );
      say(
        `    ${''.padEnd(30)} ${'frames'.padStart(6)} ${'busy p50'.padStart(9)} ${'p95'.padStart(8)} ${'max'.padStart(8)}   ${'length p95'.padStart(10)} ${'max'.padStart(8)}  >33ms`,
      );
      const row = (label, x) => {
        if (!x.busy.length) return say(`    ${label.padEnd(30)} no frames in the trace`);
        say(
          `    ${label.padEnd(30)} ${String(x.busy.length).padStart(6)} ${pct(x.busy, 50).toFixed(1).padStart(9)} ${pct(x.busy, 95).toFixed(1).padStart(8)} ${Math.max(
            ...x.busy,
          )
            .toFixed(1)
            .padStart(8)}   ${pct(x.length, 95).toFixed(1).padStart(10)} ${Math.max(...x.length)
            .toFixed(1)
            .padStart(8)}  ${String(x.length.filter((l) => l > 33.4).length).padStart(5)}`,
        );
      };
      row('baseline: empty panel, idle', p.empty);
      row(`streaming 100 × 1000 rows`, p.stream);
      row('baseline: 100k rows, idle', p.idle);
      row(`scrolling (120 wheel steps)`, p.wheel);
      say(`    (the wheel steps scrolled ${p.wheel.extra.toFixed(0)} px; the jumps go from the first row to the last)`);
      row('scrolling (60 jumps, top→end)', p.jump);
      row('filtering (typing 2 filters)', p.filter);
      say(`    all 100k rows posted and handled in ${ms(p.stream.extra, 0)}; status: ${p.rowsShown}`);
      if (p.errors.length) say(`    page errors: ${p.errors.join(' / ')}`);
    } else notMeasured('panel');
  }
  if (PARTS.has('4')) {
    say(`\n4. insight server memory (dist/server.js over stdio; records = request + outbound, 1000 a notification)`);
    if (r.memory) {
      say(
        `    ${'maxRecords'.padEnd(11)} ${'records'.padStart(8)} ${'rows kept'.padStart(9)} ${'dropped'.padStart(8)}  ${'RSS before'.padStart(10)} ${'RSS after'.padStart(10)} ${'peak (HWM)'.padStart(10)}  ${'heap before'.padStart(11)} ${'heap after'.padStart(10)}  ingest`,
      );
      for (const m of r.memory) {
        say(
          `    ${String(m.maxRecords).padEnd(11)} ${String(m.total).padStart(8)} ${String(m.rows).padStart(9)} ${String(m.dropped).padStart(8)}  ${mib(m.base.rss).padStart(10)} ${mib(m.after.rss).padStart(10)} ${mib(m.after.hwm).padStart(10)}  ${(m.base.heap ? `${(m.base.heap / 2 ** 20).toFixed(1)} MiB` : '—').padStart(11)} ${(m.after.heap ? `${(m.after.heap / 2 ** 20).toFixed(1)} MiB` : '—').padStart(10)}  ${((m.total / m.ingestMs) * 1000).toFixed(0)} rec/s`,
        );
      }
      say(
        `    baseline = the server right after initialize; heap = V8 heapUsed after a forced GC (--expose-gc, read on SIGUSR2)`,
      );
      const [a, b, c] = r.memory;
      if (a && b)
        say(
          `    cap 50000: 200k vs 100k records → heap ×${(b.after.heap / a.after.heap).toFixed(2)}, RSS ×${(b.after.rss / a.after.rss).toFixed(2)} (bounded by the cap when ≈ 1)`,
        );
      if (a && c)
        say(
          `    100k records: cap 50000 (${a.rows} rows kept) vs cap 200000 (${c.rows} rows kept) → heap ×${(a.after.heap / c.after.heap).toFixed(2)}`,
        );
    } else notMeasured('memory');
  }
}

const onSignal = async () => {
  await endChildren();
  process.exit(130);
};
process.on('SIGINT', onSignal);
process.on('SIGTERM', onSignal);
try {
  await main();
} catch (e) {
  console.error(`bench:extension failed: ${e.stack ?? e.message}`);
  process.exitCode = 1;
} finally {
  await endChildren();
}
