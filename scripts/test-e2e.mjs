// npm run test:e2e — the whole flow as a user sees it, in a real VS Code
// workbench (code-server, a full VS Code, pinned) driven by Playwright in
// Chromium: install the project's VSIX, open sample/, trace it from the
// command palette (build-and-launch, then attach to a running pid), check
// the panel's rows against the downstream's ground truth, open a call site,
// check the code lens and the line decoration, stop from the status bar,
// and check the failure paths' notifications. Needs root (BPF). Installs
// its own prerequisites (apt packages, code-server into .cache/). Kills
// everything it started, also on failure; exits non-zero on any failure.
import { copyFileSync, existsSync, mkdirSync, readFileSync, readdirSync, readlinkSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { buildSample } from './lib.mjs';
import * as wb from '../test/e2e/workbench.mjs';

const { root, log, until } = wb;
const artifacts = join(root, 'test', 'artifacts');
const shots = join(root, 'media', 'screenshots');
const sampleDir = join(root, 'sample');
const sampleMain = join(sampleDir, 'main.go');
// Free ports, picked in main(): the launched sample (its arguments come from
// the outboundLens.launch.args setting), its downstream, a sample started
// by hand for the attach scenarios, and one run unprivileged.
let SERVICE;
let DOWN;
let RAW;
let ATTACH;
let NOBODY_SVC;
let SUDOER_SVC;
// What the terminal scenario set up, for the passwordless one.
let sudoer;
// A throwaway account for the terminal route, removed at the end.
const SUDOER = 'ol-e2e-sudoer';
const LAUNCH_ENV = { OL_E2E_LAUNCHED: 'from-settings' };
const NOBODY = { uid: 65534, gid: 65534 };
const NON_GO_KEY = 'ctrl+alt+shift+8';

const results = [];
const timings = {};
const T0 = Date.now();
let page;
let browser;

async function scenario(name, fn) {
  log(`--- ${name}`);
  const t0 = Date.now();
  try {
    await fn();
    results.push({ name, ok: true, secs: (Date.now() - t0) / 1000 });
    log(`ok   ${name}`);
  } catch (e) {
    results.push({ name, ok: false, secs: (Date.now() - t0) / 1000, error: e });
    log(`FAIL ${name}: ${e.stack ?? e.message}`);
    if (page) await page.screenshot({ path: join(artifacts, `failure-${slug(name)}.png`) }).catch(() => {});
  }
}

function slug(s) {
  return s
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, '-')
    .replace(/^-|-$/g, '')
    .slice(0, 60);
}

function check(cond, message) {
  if (!cond) throw new Error(message);
}

async function shot(name, opts = {}) {
  const path = join(artifacts, `${name}.png`);
  await page.screenshot({ path, ...opts });
  return path;
}

async function truth() {
  const r = await wb.httpGet(`http://${DOWN}/truth`);
  return JSON.parse(r.body);
}

/** Waits for the status bar to show `re`; once it says tracing, notes this workbench's helper. */
async function statusBar(re, ms = 30000) {
  const text = await until(
    `the status bar to show ${re}`,
    async () => (await wb.statusBarTexts(page)).find((t) => re.test(t)),
    ms,
  );
  if (/tracing ·/.test(text)) {
    const mine = await until('the helper process of this trace', () => {
      const pids = wb.helperTracePids().filter((p) => wb.descendantOf(p, workbenchPid));
      return pids.length > 0 && pids;
    });
    for (const p of mine) helpersSeen.add(p);
  }
  return text;
}

// Helper processes this workbench started (other runs on the machine may have their own).
const helpersSeen = new Set();
let workbenchPid;

/** Every helper this workbench started has exited. */
function helpersGone(ms = 15000) {
  return until('the helper to exit', () => [...helpersSeen].every((p) => !wb.pidAlive(p)), ms);
}

/** Stops a trace left running by a failed step, so the next scenario starts clean. */
async function ensureNoTrace() {
  const running = (await wb.statusBarTexts(page).catch(() => [])).some((t) => /tracing ·|attaching/.test(t));
  if (running) {
    await wb.runCommand(page, 'Outbound Lens: Stop tracing').catch(() => {});
    await helpersGone().catch(() => {});
  }
  await wb.clearNotifications(page).catch(() => {});
}

/** In the panel: filter by a test id, expand its row, return its outbound tuples and call sites. */
async function panelRowFor(frame, testId, wantOutbound) {
  // The filter applies after a short debounce: first empty the list with a
  // filter nothing matches, so the one row seen next is the filtered one.
  const input = frame.locator('#filter input');
  const rows = frame.locator('#lines .line.row');
  await input.fill('no-such-request-∅');
  await until('the panel filter to apply', async () => (await rows.count()) === 0, 10000);
  await input.fill(testId);
  const row = rows.first();
  await until(`the panel to show the request ${testId}`, async () => (await rows.count()) === 1, 20000);
  const path = (await row.locator('.path').textContent())?.trim();
  await until(
    `the request ${testId} to carry ${wantOutbound} outbound record(s)`,
    async () => Number((await row.locator('.out').textContent())?.trim() || 0) >= wantOutbound,
    20000,
  );
  if ((await row.getAttribute('aria-expanded')) !== 'true') await row.click();
  const outs = frame.locator('#lines .line.outbound');
  await until(`the row ${testId} to expand`, async () => (await outs.count()) >= wantOutbound, 10000);
  const tuples = (await outs.locator('.tuple').allTextContents()).map((t) => t.trim());
  const sites = await outs
    .locator('a.callsite')
    .evaluateAll((as) => as.map((a) => ({ file: a.dataset.file, line: Number(a.dataset.line), text: a.textContent })));
  return { path, tuples, sites, outs };
}

/** The panel's tuples for testId must be the ones the downstream saw (sport = its remotePort). */
async function checkTuples(frame, testId, path, n) {
  const seen = (await truth()).filter((t) => t.testId === testId && t.kind === 'http');
  check(seen.length === n, `the downstream saw ${seen.length} request(s) for ${testId}, expected ${n}`);
  const row = await panelRowFor(frame, testId, n);
  check(row.path === path, `the panel row for ${testId} shows path ${row.path}, expected ${path}`);
  const want = seen.map((t) => `127.0.0.1:${t.remotePort} → ${DOWN}`).sort();
  const got = [...row.tuples].sort();
  check(
    JSON.stringify(got) === JSON.stringify(want),
    `panel tuples for ${testId}: ${JSON.stringify(got)}; the downstream saw ${JSON.stringify(want)}`,
  );
  log(`panel ${path} (${testId}): ${got.join(', ')} — matches /truth`);
  return row;
}

async function sendRequests(base, specs) {
  for (const [path, id] of specs) {
    const r = await wb.httpGet(`http://${base}${path}`, { 'X-Test-Id': id });
    check(r.status === 200, `GET ${path} (${id}) answered ${r.status}: ${r.body.slice(0, 200)}`);
  }
}

async function main() {
  check(process.getuid?.() === 0, 'the workbench test attaches BPF programs: run it as root (sudo npm run test:e2e)');
  mkdirSync(artifacts, { recursive: true });

  // ---- prerequisites and the product ----
  let t = Date.now();
  wb.ensurePrerequisites('test:e2e');
  timings.prerequisites = (Date.now() - t) / 1000;
  t = Date.now();
  const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'));
  const vsix = join(root, `${pkg.name}-${pkg.version}.vsix`);
  if (process.env.OL_E2E_REUSE_VSIX === '1' && existsSync(vsix)) {
    log(`reusing ${vsix} (OL_E2E_REUSE_VSIX=1)`);
  } else {
    log('npm run package');
    const pk = spawnSync('npm', ['run', 'package', '--silent'], {
      cwd: root,
      stdio: ['ignore', 'pipe', 'inherit'],
      encoding: 'utf8',
    });
    check(pk.status === 0, `npm run package failed (exit ${pk.status}):\n${pk.stdout}`);
  }
  check(existsSync(vsix), `npm run package did not produce ${vsix}`);
  const { service, downstream } = buildSample();
  timings.package = (Date.now() - t) / 1000;

  [SERVICE, DOWN, RAW, ATTACH, NOBODY_SVC, SUDOER_SVC] = await distinctFreeAddrs(6);
  const toDown = ['-downstream', `http://${DOWN}`, '-raw', RAW];
  await wb.startProcess('downstream', downstream, ['-addr', DOWN, '-raw', RAW], {
    pattern: /listening on/,
  });
  const sleeper = await wb.startProcess('sleep (a non-Go process)', 'sleep', ['3600']);

  t = Date.now();
  const dirs = wb.prepareProfile(vsix, {
    // A user's keybinding that traces a given pid: how a non-Go process is reached (the pick list shows only Go ones).
    keybindings: [{ key: NON_GO_KEY, command: 'outboundLens.trace', args: { pid: sleeper.pid } }],
    settings: { 'outboundLens.launch.args': ['-addr', SERVICE, ...toDown], 'outboundLens.launch.env': LAUNCH_ENV },
  });
  const cs = await wb.startCodeServer(dirs);
  workbenchPid = cs.child.pid;
  browser = await wb.launchBrowser({ ownSignals: true });
  ({ page } = await wb.openWorkbench(browser, cs.url, sampleDir));
  timings.workbench = (Date.now() - t) / 1000;
  log(`workbench up at ${cs.url} in ${timings.workbench.toFixed(1)} s`);

  const echoFn = wb.lineOf(sampleMain, /^func \(s \*server\) echo\(/);
  let callSite;

  await scenario('launch: trace from the palette, build and launch the workspace service', async () => {
    await wb.openFile(page, 'main.go');
    await wb.gotoLine(page, echoFn.line);
    const before = await until('the code lens above the /echo handler', () => wb.lensAbove(page, echoFn.text), 30000);
    check(/Trace outbound connections/.test(before), `the lens above echo() reads "${before}" before tracing`);
    await shot('lens-before');

    const tCmd = Date.now();
    await wb.runCommand(page, 'Outbound Lens: Trace outbound connections');
    const rows = await until('the target quick pick', async () => {
      const r = await wb.quickPickRows(page);
      return r.some((x) => /Build and launch/.test(x)) && r;
    });
    log(`quick pick: ${rows.map((r) => r.replace(/\s+/g, ' ').slice(0, 70)).join(' | ')}`);
    await wb.pickQuickItem(page, 'Build and launch the workspace service under tracing');
    await statusBar(/tracing · \d+ req/, 180000);
    timings.paletteToTracing = (Date.now() - tCmd) / 1000;
    await until(
      'the launched sample to answer /health',
      async () => (await wb.httpGet(`http://${SERVICE}/health`)).status === 200,
      30000,
    );
    // It runs in the workspace folder, with the outboundLens.launch settings' arguments and environment.
    const launched = launchedPids();
    check(launched.length === 1, `want one launched service, found pids ${launched.join(', ') || 'none'}`);
    const cwd = readlinkSync(`/proc/${launched[0]}/cwd`);
    check(cwd === sampleDir, `the launched service runs in ${cwd}, want ${sampleDir}`);
    const environ = readFileSync(`/proc/${launched[0]}/environ`, 'utf8').split('\0');
    check(
      environ.includes(`OL_E2E_LAUNCHED=${LAUNCH_ENV.OL_E2E_LAUNCHED}`),
      'the launched service lacks the outboundLens.launch.env variable',
    );
    // …which reached it through a private file, not the helper's command line that `ps` shows everyone.
    for (const hp of wb.helperTracePids())
      check(
        !readFileSync(`/proc/${hp}/cmdline`, 'utf8').includes(LAUNCH_ENV.OL_E2E_LAUNCHED),
        `the launch environment is on the helper's command line (pid ${hp})`,
      );

    await sendRequests(SERVICE, [
      ['/echo', 'e2e-launch-echo-1'],
      ['/echo', 'e2e-launch-echo-2'],
      ['/fanout', 'e2e-launch-fanout-1'],
    ]);
    const frame = await wb.panelFrame(page);
    await until('the first row in the panel', async () => (await frame.locator('#lines .line.row').count()) > 0, 20000);
    timings.paletteToFirstRow = (Date.now() - tCmd) / 1000;
    await statusBar(/tracing · [3-9]\d* req/, 20000);

    await checkTuples(frame, 'e2e-launch-echo-2', '/echo', 1);
    await checkTuples(frame, 'e2e-launch-fanout-1', '/fanout', 3);
    const echo = await checkTuples(frame, 'e2e-launch-echo-1', '/echo', 1);
    check(
      echo.sites.length === 1 && echo.sites[0].file && echo.sites[0].line > 0,
      `no call site link on the /echo outbound line: ${JSON.stringify(echo.sites)}`,
    );
    callSite = echo.sites[0];
    check(/sample\/main\.go$/.test(callSite.file), `the call site is ${callSite.file}, expected sample/main.go`);
    await shot('panel-launch');
  });

  await scenario('panel: clicking a call site opens the file at that line', async () => {
    check(callSite, 'no call site from the launch scenario');
    const frame = await wb.panelFrame(page);
    await frame.locator('#lines .line.outbound a.callsite').first().click();
    await until('main.go to be the active editor', async () => (await wb.activeTabTitle(page)) === 'main.go', 10000);
    const pos = await until(
      'the cursor on the call site line',
      async () => {
        const p = await wb.cursorPosition(page);
        return p.line === callSite.line && p;
      },
      10000,
    ).catch(async () => wb.cursorPosition(page));
    check(
      pos.line === callSite.line,
      `after the click the status bar says "${pos.text}", expected Ln ${callSite.line}`,
    );
    log(`call site ${callSite.text} → editor main.go, ${pos.text}`);
  });

  await scenario('code lens above the /echo handler names the downstream', async () => {
    await wb.gotoLine(page, echoFn.line);
    const lens = await until(
      'the lens above echo() to name the downstream',
      async () => {
        await wb.gotoLine(page, echoFn.line);
        const l = await wb.lensAbove(page, echoFn.text);
        return l && l.includes(DOWN) && l;
      },
      20000,
      1000,
    ).catch(async (e) => {
      const seen = JSON.stringify({ line: await wb.lineRect(page, echoFn.text), lenses: await wb.codeLenses(page) });
      throw new Error(`${e.message}; on screen: ${seen}`);
    });
    check(new RegExp(`↗ 1 downstream · ${re(DOWN)} · \\d+ req`).test(lens), `lens text: "${lens}"`);
    log(`lens: ${lens}`);
    await wb.clearNotifications(page);
    await wb.gotoLine(page, echoFn.line);
    await shot('code-lens');
  });

  await scenario('decoration on the call site line shows the remote endpoint', async () => {
    check(callSite, 'no call site from the launch scenario');
    const text = readFileSync(sampleMain, 'utf8').split('\n')[callSite.line - 1].trim();
    const after = await until(
      'the end-of-line decoration on the call site',
      async () => {
        await wb.gotoLine(page, callSite.line);
        const a = await wb.decorationAfter(page, text);
        return a && a.includes(`→ ${DOWN}`) && a;
      },
      20000,
      1000,
    );
    check(new RegExp(`→ ${re(DOWN)} ×\\d+ \\(\\d+ new, \\d+ reused\\)`).test(after), `decoration text: ${after}`);
    log(`decoration on line ${callSite.line} (${text}): ${after}`);
    await wb.clearNotifications(page);
    await wb.gotoLine(page, callSite.line);
    await shot('decoration');
  });

  await scenario('the panel lists every request; a fan-out expands to its three calls', async () => {
    const frame = await wb.panelFrame(page);
    await frame.locator('#filter input').fill('');
    const rows = frame.locator('#lines .line.row');
    await until('all the launch requests in the panel', async () => (await rows.count()) >= 4, 10000);
    // Collapse what earlier steps expanded, then open the fan-out.
    const expanded = frame.locator('#lines .line.row[aria-expanded="true"]');
    for (let i = 0; i < 20 && (await expanded.count()) > 0; i++) await expanded.first().click();
    const fan = frame.locator('#lines .line.row', { has: frame.locator('.path', { hasText: /^\/fanout$/ }) }).first();
    await fan.click();
    await until(
      'the fan-out row to show its three calls',
      async () => (await frame.locator('#lines .line.outbound').count()) === 3,
      10000,
    );
    await wb.clearNotifications(page);
    await wb.gotoLine(page, echoFn.line);
    await shot('panel');
  });

  await scenario('tracing a second time while a trace runs offers to stop or show', async () => {
    await wb.clearNotifications(page);
    await wb.runCommand(page, 'Outbound Lens: Trace outbound connections');
    const n = await wb.waitForNotification(page, /already tracing/);
    check(
      n.buttons.includes('Stop current trace') && n.buttons.includes('Show panel'),
      `buttons: ${JSON.stringify(n.buttons)}`,
    );
    log(`notification: "${n.text}" [${n.buttons.join(', ')}]`);
    await page.locator('.notification-toast .monaco-button', { hasText: 'Show panel' }).first().click();
  });

  await scenario('stop from the status bar: the helper and the launched service go away', async () => {
    await ensureNoPicker();
    await wb.statusBarItem(page, 'tracing ·').click();
    await statusBar(/Outbound Lens: stopped/, 15000);
    await helpersGone();
    await until(
      'the launched sample to go away with the helper',
      async () => !(await wb.portInUse(Number(SERVICE.split(':')[1]))),
      10000,
    );
    const envFiles = readdirSync(tmpdir()).filter(
      (d) => d.startsWith('outbound-lens-env-') && statSync(join(tmpdir(), d)).mtimeMs >= T0,
    );
    check(!envFiles.length, `the launch environment files outlive the trace: ${envFiles.join(', ')}`);
  });

  // ---- attach to a running sample by pid ----
  const attached = await wb.startProcess('sample (attach target)', service, ['-addr', ATTACH, ...toDown], {
    pattern: /listening on/,
  });

  await scenario('attach: pick the running sample by pid; stop leaves it serving', async () => {
    await ensureNoTrace();
    await wb.runCommand(page, 'Outbound Lens: Trace outbound connections');
    const rows = await until(
      'the quick pick to list the running sample',
      async () => {
        const r = await wb.quickPickRows(page);
        return r.some((x) => x.includes(`pid ${attached.pid}`)) && r;
      },
      30000,
    );
    const ours = rows.filter((x) => x.includes('outboundlens/sample'));
    check(
      ours.some((x) => x.includes(`pid ${attached.pid}`)) && rows.some((x) => /this workspace/.test(x)),
      `the running sample is not listed under "this workspace": ${JSON.stringify(rows)}`,
    );
    await wb.pickQuickItem(page, `pid ${attached.pid}`);
    await statusBar(/tracing · \d+ req/, 60000);
    await sendRequests(ATTACH, [['/echo', 'e2e-attach-echo-1']]);
    const frame = await wb.panelFrame(page);
    await checkTuples(frame, 'e2e-attach-echo-1', '/echo', 1);
    await wb.statusBarItem(page, 'tracing ·').click();
    await statusBar(/Outbound Lens: stopped/, 15000);
    await helpersGone();
    const h = await wb.httpGet(`http://${ATTACH}/health`);
    check(
      h.status === 200 && wb.pidAlive(attached.pid),
      `the attached sample no longer serves after stop (${h.status})`,
    );
  });

  await scenario('window reload while tracing: the trace stops, the service keeps serving', async () => {
    await ensureNoTrace();
    await wb.runCommand(page, 'Outbound Lens: Trace outbound connections');
    await wb.pickQuickItem(page, `pid ${attached.pid}`);
    await statusBar(/tracing · \d+ req/, 60000);
    const tracing = wb.helperTracePids(attached.pid);
    check(tracing.length === 1, `want one helper tracing pid ${attached.pid}, found ${tracing.join(', ') || 'none'}`);
    await wb.runCommand(page, 'Developer: Reload Window');
    // The old extension host goes, and the helper with it.
    await until('the helper to exit after the reload', () => tracing.every((p) => !wb.pidAlive(p)), 10000);
    await page.waitForSelector('.monaco-workbench .statusbar', { timeout: 60000 });
    await wb.sleep(1500);
    const texts = await wb.statusBarTexts(page);
    check(
      !texts.some((t) => /tracing ·|attaching/.test(t)),
      `after the reload the status bar says ${JSON.stringify(texts)}`,
    );
    const h = await wb.httpGet(`http://${ATTACH}/health`);
    check(
      h.status === 200 && wb.pidAlive(attached.pid),
      `the traced sample no longer serves after the reload (${h.status})`,
    );
    check(wb.helperTracePids(attached.pid).length === 0, `a helper traces pid ${attached.pid} after the reload`);
  });

  await scenario('failure: the traced service exits while tracing', async () => {
    await ensureNoTrace();
    await wb.runCommand(page, 'Outbound Lens: Trace outbound connections');
    await wb.pickQuickItem(page, `pid ${attached.pid}`);
    await statusBar(/tracing · \d+ req/, 60000);
    process.kill(attached.pid, 'SIGTERM');
    const n = await wb.waitForNotification(page, /exited/, 20000);
    check(/start the service again/i.test(n.text), `the message gives no next step: "${n.text}"`);
    log(`notification: "${n.text}" [${n.buttons.join(', ')}]`);
    await statusBar(/Outbound Lens: stopped/, 10000);
    await helpersGone();
  });

  await scenario('failure: a non-Go process (a keybinding with a pid)', async () => {
    await ensureNoTrace();
    await wb.focusWorkbench(page);
    await page.keyboard.press('Control+Alt+Shift+8');
    const n = await wb.waitForNotification(page, /NOT_GO|not a Go/, 20000);
    check(/Go programs only/.test(n.text), `the message gives no next step: "${n.text}"`);
    log(`notification: "${n.text}"`);
    check(wb.helperTracePids(sleeper.pid).length === 0, `a helper still traces pid ${sleeper.pid}`);
  });

  await scenario('build and launch: a module with several main packages asks which one', async () => {
    await ensureNoTrace();
    // The sample laid out as many services are: go.mod at the top, mains under cmd/.
    const mod = wb.tempDir('ol-e2e-cmds-');
    for (const f of ['go.mod', 'go.sum']) copyFileSync(join(sampleDir, f), join(mod, f));
    for (const [dir, src] of [
      ['cmd/api', 'main.go'],
      ['cmd/downstream', 'downstream/main.go'],
    ]) {
      mkdirSync(join(mod, dir), { recursive: true });
      copyFileSync(join(sampleDir, src), join(mod, dir, 'main.go'));
    }
    const main = page;
    const { page: other } = await wb.openWorkbench(browser, cs.url, mod);
    page = other;
    try {
      await wb.runCommand(page, 'Outbound Lens: Trace outbound connections');
      await wb.pickQuickItem(page, 'Build and launch the workspace service under tracing');
      const rows = await until(
        'the main package pick',
        async () => {
          const r = await wb.quickPickRows(page);
          return r.some((x) => x.includes('./cmd/api')) && r;
        },
        60000,
      );
      check(
        rows.some((x) => x.includes('./cmd/downstream')) && !rows.some((x) => /^\.\s|the folder itself/.test(x)),
        `the pick lists ${JSON.stringify(rows)}, want ./cmd/api and ./cmd/downstream only`,
      );
      await wb.pickQuickItem(page, './cmd/api');
      await statusBar(/tracing · \d+ req/, 180000);
      const launched = launchedPids();
      check(
        launched.length === 1 && readlinkSync(`/proc/${launched[0]}/exe`).endsWith('/api'),
        `want the service built from ./cmd/api running, found ${launched.map((p) => readlinkSync(`/proc/${p}/exe`))}`,
      );
      await until(
        'the launched service to answer /health',
        async () => (await wb.httpGet(`http://${SERVICE}/health`)).status === 200,
        30000,
      );
      await sendRequests(SERVICE, [['/echo', 'e2e-cmd-api-echo-1']]);
      await checkTuples(await wb.panelFrame(page), 'e2e-cmd-api-echo-1', '/echo', 1);
      await wb.statusBarItem(page, 'tracing ·').click();
      await statusBar(/Outbound Lens: stopped/, 15000);
      await helpersGone();
    } finally {
      await page
        .context()
        .close()
        .catch(() => {});
      page = main;
    }
  });

  // The README's screenshots, when asked (they are committed: a test run leaves the checkout as it was).
  if (process.env.OL_E2E_README_SHOTS === '1') {
    mkdirSync(shots, { recursive: true });
    for (const name of ['panel', 'code-lens', 'decoration']) {
      const src = join(artifacts, `${name}.png`);
      if (existsSync(src)) copyFileSync(src, join(shots, `${name}.png`));
    }
  }

  await page
    .context()
    .close()
    .catch(() => {});

  // ---- no privileges and no way to get them: the workbench as an unprivileged user ----
  await scenario('failure: no privileges (code-server as uid 65534, no sudo/pkexec)', async () => {
    // A user with no Go and no sudo or pkexec: build-and-launch must say Go
    // is missing, and tracing that no privileges can be had. The extension
    // host takes its environment from code-server's when the login shell
    // cannot run (nologin), so that environment's PATH is the user's:
    // this machine's commands, less those.
    const PATH = wb.pathWithout(['go', 'gofmt', 'sudo', 'sudoedit', 'pkexec']);
    for (const cmd of ['go', 'sudo', 'pkexec']) {
      const at = spawnSync('sh', ['-c', `command -v ${cmd}`], { encoding: 'utf8', env: { PATH } }).stdout.trim();
      check(!at, `${cmd} is at ${at} on the unprivileged user's PATH`);
    }
    const ndirs = wb.prepareProfile(vsix, { owner: NOBODY });
    const ncs = await wb.startCodeServer(ndirs, { owner: NOBODY, env: { PATH, SHELL: '/usr/sbin/nologin' } });
    const svc = await wb.startProcess('sample (unprivileged)', service, ['-addr', NOBODY_SVC, ...toDown], {
      pattern: /listening on/,
      ...NOBODY,
    });
    ({ page } = await wb.openWorkbench(browser, ncs.url, sampleDir));
    await wb.runCommand(page, 'Outbound Lens: Trace outbound connections');
    await wb.pickQuickItem(page, 'Build and launch the workspace service under tracing');
    // Finding the main package is the first `go` it runs.
    const g = await wb.waitForNotification(page, /go list in .* failed/, 30000);
    check(
      /could not run `go`/.test(g.text) && /PATH/.test(g.text),
      `the failure to run go does not say why: "${g.text}"`,
    );
    log(`notification: "${g.text.slice(0, 200)}…"`);
    await wb.clearNotifications(page);
    await wb.runCommand(page, 'Outbound Lens: Trace outbound connections');
    await wb.pickQuickItem(page, `pid ${svc.pid}`);
    const n = await wb.waitForNotification(page, /CAP_BPF/, 30000);
    check(
      /setcap/.test(n.text) && /terminal/.test(n.text),
      `the message does not explain setcap and the terminal route: "${n.text}"`,
    );
    log(`notification: "${n.text}" [${n.buttons.join(', ')}]`);
    await shot('no-privileges');
    check(wb.helperTracePids(svc.pid).length === 0, `a helper traces pid ${svc.pid}`);
  });

  await page
    .context()
    .close()
    .catch(() => {});

  // ---- a sudoer with a password: the terminal route ----
  await scenario(
    'privileges: a sudoer mistypes, then types the password in a terminal; the helper connects back',
    async () => {
      const user = wb.createSudoer(SUDOER);
      const sdirs = wb.prepareProfile(vsix, { owner: user });
      // sudo may run the bundled helper only, as a cautious administrator allows.
      wb.allowSudo(user, wb.bundledHelper(sdirs));
      const scs = await wb.startCodeServer(sdirs, { owner: user, env: { SHELL: '/bin/bash', USER: user.name } });
      workbenchPid = scs.child.pid;
      const svc = await wb.startProcess('sample (the sudoer’s)', service, ['-addr', SUDOER_SVC, ...toDown], {
        pattern: /listening on/,
        uid: user.uid,
        gid: user.gid,
      });
      ({ page } = await wb.openWorkbench(browser, scs.url, sampleDir));
      await wb.runCommand(page, 'Outbound Lens: Trace outbound connections');
      await wb.pickQuickItem(page, `pid ${svc.pid}`);
      // auto: not root, no capabilities, sudo wants a password, no pkexec → the terminal.
      log(`terminal: ${await sudoPrompt()}`);
      // A mistyped password: sudo ends, and the message says what to do.
      await wb.typeInTerminal(page, `${user.password}-wrong`);
      const failed = await wb.waitForNotification(page, /sudo in the terminal ended/, 30000);
      check(
        /exit code 1/.test(failed.text) && /trace again/i.test(failed.text) && /setcap/.test(failed.text),
        `the message after a mistyped password does not say what to do: "${failed.text}"`,
      );
      log(`notification: "${failed.text}" [${failed.buttons.join(', ')}]`);
      await statusBar(/Outbound Lens: stopped/, 10000);
      await wb.clickNotificationButton(page, /sudo in the terminal ended/, 'Trace again');
      log(`terminal: ${await sudoPrompt()}`);
      await wb.typeInTerminal(page, user.password);
      await statusBar(/tracing · \d+ req/, 60000);
      await sendRequests(SUDOER_SVC, [['/echo', 'e2e-sudo-echo-1']]);
      const frame = await wb.panelFrame(page);
      await checkTuples(frame, 'e2e-sudo-echo-1', '/echo', 1);
      await shot('sudo-terminal');
      const typed = await wb.terminalText(page);
      check(!typed.includes(user.password), 'the password shows in the terminal');
      await wb.statusBarItem(page, 'tracing ·').click();
      await statusBar(/Outbound Lens: stopped/, 15000);
      await helpersGone();
      const h = await wb.httpGet(`http://${SUDOER_SVC}/health`);
      check(h.status === 200 && wb.pidAlive(svc.pid), `the sudoer's sample no longer serves after stop (${h.status})`);
      sudoer = { user, helper: wb.bundledHelper(sdirs), svc };
    },
  );

  await scenario('privileges: passwordless sudo runs the helper with sudo -n, no terminal', async () => {
    check(sudoer, 'the terminal scenario did not get as far as a working trace');
    const { user, helper, svc } = sudoer;
    wb.allowSudo(user, helper, { nopasswd: true });
    await ensureNoTrace();
    await wb.runCommand(page, 'Outbound Lens: Trace outbound connections');
    await wb.pickQuickItem(page, `pid ${svc.pid}`);
    await statusBar(/tracing · \d+ req/, 60000);
    const running = wb.helperTracePids(svc.pid);
    check(running.length === 1, `want one helper tracing pid ${svc.pid}, found ${running.join(', ') || 'none'}`);
    // helper ← sudo (sudo shows itself as `sudo <command>`) ← the extension host, not a terminal.
    const chain = ancestors(running[0]).map((p) => readFileSync(`/proc/${p}/cmdline`, 'utf8').split('\0'));
    const parent = chain.find((argv) => !/(^|\/)sudo$/.test(argv[0]));
    check(
      /(^|\/)sudo$/.test(chain[0]?.[0] ?? '') && parent?.some((a) => a === '--type=extensionHost'),
      `the helper does not run under sudo started by the extension host: ${JSON.stringify(chain)}`,
    );
    await sendRequests(SUDOER_SVC, [['/echo', 'e2e-sudo-n-echo-1']]);
    await checkTuples(await wb.panelFrame(page), 'e2e-sudo-n-echo-1', '/echo', 1);
    await wb.statusBarItem(page, 'tracing ·').click();
    await statusBar(/Outbound Lens: stopped/, 15000);
    await helpersGone();
    check(wb.pidAlive(svc.pid), 'the sudoer’s sample is gone after stop');
  });

  await scenario(
    'privileges: "Allow tracing without a password" gives the helper capabilities; it then runs as is',
    async () => {
      check(sudoer, 'the terminal scenario did not get as far as a working trace');
      const { user, helper, svc } = sudoer;
      // An administrator lets this account run setcap (with its password); no pkexec here, so: the terminal.
      wb.allowSudo(user, [helper, '/usr/sbin/setcap']);
      wb.forgetSudoPassword(user.name);
      await ensureNoTrace();
      await wb.runCommand(page, 'Outbound Lens: Allow tracing without a password');
      await wb.clickDialogButton(page, 'Allow');
      log(`terminal: ${await sudoPrompt()}`);
      await wb.typeInTerminal(page, user.password);
      await wb.waitForNotification(page, /tracing no longer needs a password/, 30000);
      const caps = spawnSync('getcap', [helper], { encoding: 'utf8' }).stdout;
      check(/cap_bpf/.test(caps) && /cap_perfmon/.test(caps), `the helper's capabilities: "${caps.trim()}"`);
      log(`getcap: ${caps.trim()}`);
      // Without any sudo rule now, the capabilities alone must do.
      wb.removeSudoRule(user.name);
      await wb.clearNotifications(page);
      await wb.runCommand(page, 'Outbound Lens: Trace outbound connections');
      await wb.pickQuickItem(page, `pid ${svc.pid}`);
      await statusBar(/tracing · \d+ req/, 60000);
      const running = wb.helperTracePids(svc.pid);
      check(running.length === 1, `want one helper tracing pid ${svc.pid}, found ${running.join(', ') || 'none'}`);
      const parent = readFileSync(`/proc/${ancestors(running[0])[0]}/cmdline`, 'utf8').split('\0');
      check(
        parent.includes('--type=extensionHost'),
        `the helper is not run by the extension host itself: its parent is ${JSON.stringify(parent)}`,
      );
      const status = readFileSync(`/proc/${running[0]}/status`, 'utf8');
      check(
        new RegExp(`^Uid:\\s+${user.uid}\\s`, 'm').test(status),
        `the helper does not run as ${user.name}: ${status.match(/^Uid:.*$/m)?.[0]}`,
      );
      await sendRequests(SUDOER_SVC, [['/echo', 'e2e-caps-echo-1']]);
      await checkTuples(await wb.panelFrame(page), 'e2e-caps-echo-1', '/echo', 1);
      await wb.statusBarItem(page, 'tracing ·').click();
      await statusBar(/Outbound Lens: stopped/, 15000);
      await helpersGone();
    },
  );
}

/** The terminal's sudo password prompt, in a terminal that has not seen a wrong one. */
function sudoPrompt() {
  return until(
    'a terminal to ask for the sudo password',
    async () => {
      const text = await wb.terminalText(page);
      return !/incorrect password/.test(text) && text.match(/\[sudo\] password for [\w-]+:/)?.[0];
    },
    30000,
  );
}

/** The parent, grandparent, … of pid (up to the workbench). */
function ancestors(pid) {
  const out = [];
  for (let p = pid; p > 1 && out.length < 20;) {
    const stat = readFileSync(`/proc/${p}/stat`, 'utf8');
    p = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
    if (p > 1) out.push(p);
    if (p === workbenchPid) break;
  }
  return out;
}

const re = (s) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/** Processes running a binary that build-and-launch built. */
function launchedPids() {
  return wb.pidsWhere((_, exe) => exe.includes('/outbound-lens-build-'));
}

/** n distinct 127.0.0.1 addresses with ports free now. */
async function distinctFreeAddrs(n) {
  const ports = new Set();
  while (ports.size < n) ports.add(await wb.freePort());
  return [...ports].map((p) => `127.0.0.1:${p}`);
}

async function ensureNoPicker() {
  await page.keyboard.press('Escape').catch(() => {});
}

// Interrupted (Ctrl-C, a CI timeout): still remove the temporary account
// and stop what we started.
for (const sig of ['SIGINT', 'SIGTERM']) {
  process.once(sig, () => {
    log(`${sig}: cleaning up`);
    void (async () => {
      await browser?.close().catch(() => {});
      await wb.killAll();
      wb.removeSudoer(SUDOER);
      wb.removeProfiles();
      process.exit(130);
    })();
  });
}

let fatal;
try {
  await main();
} catch (e) {
  fatal = e;
  console.error(`\n[e2e] FATAL: ${e.stack ?? e.message}`);
  if (page) await page.screenshot({ path: join(artifacts, 'failure-fatal.png') }).catch(() => {});
} finally {
  await browser?.close().catch(() => {});
  await wb.killAll();
  wb.removeSudoer(SUDOER);
  wb.removeProfiles();
  // A helper left by a broken run would keep probes attached: end it.
  for (const pid of [...helpersSeen].filter(wb.pidAlive)) {
    try {
      process.kill(pid, 'SIGINT');
    } catch {
      /* gone */
    }
  }
}

const leftovers = [...helpersSeen].filter(wb.pidAlive);
console.log('\n=== workbench end-to-end summary (code-server ' + wb.CODE_SERVER_VERSION + ')');
for (const r of results) {
  console.log(
    `${r.ok ? 'ok  ' : 'FAIL'}  ${r.name}  (${r.secs.toFixed(1)}s)${r.ok ? '' : `\n      ${r.error.message.split('\n').join('\n      ')}`}`,
  );
}
if (fatal) console.log(`FAIL  setup: ${fatal.message}`);
if (leftovers.length) console.log(`FAIL  helper processes left running: ${leftovers.join(', ')}`);
console.log(
  `timings: ${Object.entries(timings)
    .map(([k, v]) => `${k} ${v.toFixed(1)}s`)
    .join(', ')}, total ${((Date.now() - T0) / 1000).toFixed(1)}s`,
);
console.log(
  `screenshots: ${artifacts}${process.env.OL_E2E_README_SHOTS === '1' ? ' (and media/screenshots/ for the README)' : ''}`,
);
const failed = results.filter((r) => !r.ok).length + (fatal ? 1 : 0) + (leftovers.length ? 1 : 0);
console.log(`${results.length - results.filter((r) => !r.ok).length} passed, ${failed} failed`);
process.exit(failed ? 1 : 0);
