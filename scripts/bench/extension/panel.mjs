// Part 3: panel frame times with 100,000 rows streamed in, while scrolling
// and while filtering (headless Chromium, the bundled webview).
import { setTimeout as sleep } from 'node:timers/promises';
import { BROWSER_ARGS, CHROMIUM, PARTS, ms, notMeasured, pct, say, sorted } from './common.mjs';

/** The page the webview tests use (test/ts/support/webviewHarness.ts): the bundle under a webview-like CSP. */
async function serveHarness() {
  const { tsImport } = await import('tsx/esm/api');
  const harness = await tsImport('../../../test/ts/support/webviewHarness.ts', import.meta.url);
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

export async function panelFrames() {
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

export function report(r, skipped) {
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
    } else notMeasured(skipped, 'panel');
  }
}
