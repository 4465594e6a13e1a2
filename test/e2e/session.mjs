// One workbench session for a describe() block of the workbench test: the
// product (the VSIX and the sample's binaries), a downstream with its ground
// truth, code-server with the VSIX installed, Chromium, and the checks the
// scenarios share. session() registers the block's hooks: setup before its
// tests, a screenshot of a failed scenario, and cleanup after the tests and
// on SIGINT/SIGTERM (the temporary accounts and profiles, every process it
// started, the helpers its workbench ran).
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, afterEach, before, beforeEach } from 'node:test';
import { buildSample } from '../../scripts/lib.mjs';
import * as wb from './workbench.mjs';

const { root, log, until } = wb;
export { wb, log, until };
export const artifacts = join(root, 'test', 'artifacts');
export const sampleDir = join(root, 'sample');
export const sampleMain = join(sampleDir, 'main.go');

/** Fails the scenario with `message` unless `cond`. */
export function check(cond, message) {
  if (!cond) throw new Error(message);
}

/** `s` as a literal in a RegExp. */
export const re = (s) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

const slug = (s) =>
  s
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, '-')
    .replace(/^-|-$/g, '')
    .slice(0, 60);

/**
 * The VSIX (`npm run package`) and the sample's binaries, built once:
 * scripts/test-e2e.mjs builds them before the test files run and says so
 * with OL_E2E_PRODUCT_READY=1; a test file run on its own builds them here.
 */
export function product() {
  const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'));
  const vsix = join(root, `${pkg.name}-${pkg.version}.vsix`);
  const ready = process.env.OL_E2E_PRODUCT_READY === '1';
  if (!ready) wb.ensurePrerequisites('test:e2e');
  if (ready || (process.env.OL_E2E_REUSE_VSIX === '1' && existsSync(vsix))) {
    if (!ready) log(`reusing ${vsix} (OL_E2E_REUSE_VSIX=1)`);
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
  return { vsix, ...buildSample() };
}

// Sessions not yet cleaned up: an interrupted run (Ctrl-C, a CI timeout)
// still removes the temporary accounts and stops what was started.
const live = new Set();
let watching = false;
function cleanUpOnSignals() {
  if (watching) return;
  watching = true;
  let cleaning = false;
  for (const sig of ['SIGINT', 'SIGTERM']) {
    process.on(sig, () => {
      if (cleaning) return; // a second signal must not cut the cleanup short
      cleaning = true;
      log(`${sig}: cleaning up`);
      void Promise.allSettled([...live].map((s) => s.close())).finally(() => process.exit(130));
    });
  }
}

class Session {
  /** Helper processes this session's workbenches started (other runs on the machine may have their own). */
  helpersSeen = new Set();
  /** Run at cleanup, last added first (accounts, sudo rules). */
  cleanups = [];
  /** The VSIX and the sample's binaries (product()). */
  product;
  /** The downstream's address, its raw-TCP address, and the sample's arguments that point at them. */
  down;
  raw;
  toDown;
  /** code-server ({ child, port, url }), its profile's directories, Chromium, and the window the scenarios drive. */
  cs;
  dirs;
  browser;
  page;
  /** The code-server whose descendants are this session's helpers. */
  workbenchPid;

  /** Root, the product, and a downstream (the sample's outbound calls go there; it records what it saw). */
  async setUp() {
    check(process.getuid?.() === 0, 'the workbench test attaches BPF programs: run it as root (sudo npm run test:e2e)');
    mkdirSync(artifacts, { recursive: true });
    live.add(this);
    this.product = product();
    [this.down, this.raw] = await this.addrs(2);
    this.toDown = ['-downstream', `http://${this.down}`, '-raw', this.raw];
    await wb.startProcess('downstream', this.product.downstream, ['-addr', this.down, '-raw', this.raw], {
      pattern: /listening on/,
    });
  }

  /** n distinct 127.0.0.1 addresses with ports free now. */
  async addrs(n) {
    const ports = new Set();
    while (ports.size < n) ports.add(await wb.freePort());
    return [...ports].map((p) => `127.0.0.1:${p}`);
  }

  /** Starts the sample service at addr, calling this session's downstream. */
  startSample(name, addr, opts = {}) {
    return wb.startProcess(name, this.product.service, ['-addr', addr, ...this.toDown], {
      pattern: /listening on/,
      ...opts,
    });
  }

  /**
   * code-server with a fresh profile holding the VSIX (profile: settings,
   * keybindings, owner), then a window on `folder`, which becomes this.page.
   */
  async startWorkbench({ profile = {}, owner, env, folder = sampleDir } = {}) {
    const dirs = wb.prepareProfile(this.product.vsix, { ...profile, owner });
    const cs = await wb.startCodeServer(dirs, { owner, env });
    this.dirs = dirs;
    this.cs = cs;
    this.workbenchPid = cs.child.pid;
    this.browser ??= await wb.launchBrowser({ ownSignals: true });
    ({ page: this.page } = await wb.openWorkbench(this.browser, cs.url, folder));
    return cs;
  }

  async shot(name, opts = {}) {
    const path = join(artifacts, `${name}.png`);
    await this.page.screenshot({ path, ...opts });
    return path;
  }

  /** What the downstream saw: one entry per request, with the test id and the caller's port. */
  async truth() {
    const r = await wb.httpGet(`http://${this.down}/truth`);
    return JSON.parse(r.body);
  }

  /** Waits for the status bar to show `re`; once it says tracing, notes this workbench's helper. */
  async statusBar(re, ms = 30000) {
    const text = await until(
      `the status bar to show ${re}`,
      async () => (await wb.statusBarTexts(this.page)).find((t) => re.test(t)),
      ms,
    );
    if (/tracing ·/.test(text)) {
      const mine = await until('the helper process of this trace', () => {
        const pids = wb.helperTracePids().filter((p) => wb.descendantOf(p, this.workbenchPid));
        return pids.length > 0 && pids;
      });
      for (const p of mine) this.helpersSeen.add(p);
    }
    return text;
  }

  /** Every helper this session's workbenches started has exited. */
  helpersGone(ms = 15000) {
    return until('the helper to exit', () => [...this.helpersSeen].every((p) => !wb.pidAlive(p)), ms);
  }

  /** Stops a trace left running by a failed scenario, so the next one starts clean. */
  async ensureNoTrace() {
    const running = (await wb.statusBarTexts(this.page).catch(() => [])).some((t) => /tracing ·|attaching/.test(t));
    if (running) {
      await wb.runCommand(this.page, 'Outbound Lens: Stop tracing').catch(() => {});
      await this.helpersGone().catch(() => {});
    }
    await wb.clearNotifications(this.page).catch(() => {});
  }

  /** Clicks the status bar item of a running trace and waits until the trace and its helper are gone. */
  async stopFromStatusBar() {
    await wb.statusBarItem(this.page, 'tracing ·').click();
    await this.statusBar(/Outbound Lens: stopped/, 15000);
    await this.helpersGone();
  }

  /** In the panel: filter by a test id, expand its row, return its outbound tuples and call sites. */
  async panelRowFor(frame, testId, wantOutbound) {
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
      .evaluateAll((as) =>
        as.map((a) => ({ file: a.dataset.file, line: Number(a.dataset.line), text: a.textContent })),
      );
    return { path, tuples, sites, outs };
  }

  /** The panel's tuples for testId must be the ones the downstream saw (sport = its remotePort). */
  async checkTuples(frame, testId, path, n) {
    const seen = (await this.truth()).filter((t) => t.testId === testId && t.kind === 'http');
    check(seen.length === n, `the downstream saw ${seen.length} request(s) for ${testId}, expected ${n}`);
    const row = await this.panelRowFor(frame, testId, n);
    check(row.path === path, `the panel row for ${testId} shows path ${row.path}, expected ${path}`);
    const want = seen.map((t) => `127.0.0.1:${t.remotePort} → ${this.down}`).sort();
    const got = [...row.tuples].sort();
    check(
      JSON.stringify(got) === JSON.stringify(want),
      `panel tuples for ${testId}: ${JSON.stringify(got)}; the downstream saw ${JSON.stringify(want)}`,
    );
    log(`panel ${path} (${testId}): ${got.join(', ')} — matches /truth`);
    return row;
  }

  /** GETs each [path, test id] from the service at base; each must answer 200. */
  async sendRequests(base, specs) {
    for (const [path, id] of specs) {
      const r = await wb.httpGet(`http://${base}${path}`, { 'X-Test-Id': id });
      check(r.status === 200, `GET ${path} (${id}) answered ${r.status}: ${r.body.slice(0, 200)}`);
    }
  }

  /** The terminal's sudo password prompt, in a terminal that has not seen a wrong one. */
  sudoPrompt() {
    return until(
      'a terminal to ask for the sudo password',
      async () => {
        const text = await wb.terminalText(this.page);
        return !/incorrect password/.test(text) && text.match(/\[sudo\] password for [\w-]+:/)?.[0];
      },
      30000,
    );
  }

  /** The parent, grandparent, … of pid (up to the workbench). */
  ancestors(pid) {
    const out = [];
    for (let p = pid; p > 1 && out.length < 20;) {
      p = wb.parentOf(p);
      if (p > 1) out.push(p);
      if (p === this.workbenchPid) break;
    }
    return out;
  }

  /** Ends everything this session started; fails when one of its helpers outlived its workbench. */
  async close() {
    if (!live.delete(this)) return;
    await this.browser?.close().catch(() => {});
    await wb.killAll();
    for (const fn of this.cleanups.splice(0).reverse()) {
      try {
        fn();
      } catch (e) {
        log(`cleanup: ${e.message}`);
      }
    }
    wb.removeProfiles();
    // A helper left by a broken run would keep probes attached: end it, and say so.
    const left = await until(
      'this session’s helpers to exit',
      () => [...this.helpersSeen].every((p) => !wb.pidAlive(p)),
      5000,
    ).then(
      () => [],
      () => [...this.helpersSeen].filter(wb.pidAlive),
    );
    for (const pid of left) {
      try {
        process.kill(pid, 'SIGINT');
      } catch {
        /* gone */
      }
    }
    check(!left.length, `helper processes left running: ${left.join(', ')}`);
  }
}

/** A session for the enclosing describe(); setUp runs after the session's own setup (the downstream). */
export function session(setUp = async () => {}) {
  cleanUpOnSignals();
  const s = new Session();
  before(async () => {
    await s.setUp();
    await setUp(s);
  });
  beforeEach((t) => log(`--- ${t.name}`));
  afterEach(async (t) => {
    log(`${t.passed ? 'ok  ' : 'FAIL'} ${t.name}`);
    if (!t.passed && s.page)
      await s.page.screenshot({ path: join(artifacts, `failure-${slug(t.name)}.png`) }).catch(() => {});
  });
  after(() => s.close());
  return s;
}

/** Processes running a binary that build-and-launch built. */
export function launchedPids() {
  return wb.pidsWhere((_, exe) => exe.includes('/outbound-lens-build-'));
}
