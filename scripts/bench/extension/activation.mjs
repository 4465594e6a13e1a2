// Part 1: extension activation (load dist/extension.js + activate()), in
// the workbench as VS Code's Startup Performance view reports it, and as a
// baseline in plain Node with a stub 'vscode' module.
import { spawn } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { root } from '../../lib.mjs';
import { DIST, EXT_ID, PARTS, RUNS, median, ms, note, notMeasured, say, track } from './common.mjs';

/** The baseline: a fresh Node process per run (activate-stub.cjs). */
export async function stubActivation(runs) {
  const file = fileURLToPath(new URL('./activate-stub.cjs', import.meta.url));
  const out = [];
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
  return out;
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

/**
 * In the workbench: one run per new window, each activated by opening
 * main.go. session ({ context, page }) is left on the last window.
 */
export async function workbenchActivation(wb, browser, url, folder, session, runs) {
  for (let i = 0; i < RUNS; i++) {
    if (i > 0) {
      // A new window (browser context: no restored editors) gets a new extension host;
      // the extension activates when main.go opens, once the workbench has settled.
      await session.context.close();
      Object.assign(session, await wb.openWorkbench(browser, url, folder));
      await sleep(2000);
    }
    const { page } = session;
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

export function report(r, skipped, partial) {
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
    } else notMeasured(skipped, 'workbench');
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
}
