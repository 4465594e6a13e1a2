// A real VS Code workbench for the end-to-end test and the benchmarks:
// code-server (a full VS Code, pinned) from npm, kept in .cache/ outside the
// project's node_modules, driven by Playwright in Debian's Chromium.
// Installs what it needs, idempotently, when run as root.
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import {
  chmodSync,
  cpSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  readdirSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { createServer, connect } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import common from './common.cjs';
import { ensureNodeModules } from '../../scripts/lib.mjs';
import { ensureSystem } from '../../scripts/prereqs.mjs';

export const { CHROMIUM_ARGS, sleep, until, pidsWhere, helperTracePids } = common;

export const root = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
export const CODE_SERVER_VERSION = '4.100.3';
export const cacheDir = join(root, '.cache', 'code-server');
export const codeServerBin = join(cacheDir, 'node_modules', 'code-server', 'out', 'node', 'entry.js');
export const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
export const log = (...a) => console.log(`[e2e ${new Date().toISOString().slice(11, 19)}]`, ...a);

function sh(cmd, args, opts = {}) {
  const r = spawnSync(cmd, args, { stdio: 'inherit', ...opts });
  if (r.error) throw new Error(`${cmd}: ${r.error.message}`);
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} exited with ${r.status ?? r.signal}`);
  return r;
}

/**
 * @vscode/ripgrep downloads rg from GitHub in its install script; it first
 * looks for a cached archive. Seed that cache with Debian's rg, under the
 * name the pinned version asks for.
 */
function seedRipgrepCache() {
  const rgVersion = process.env.OL_VSCODE_RIPGREP_VERSION ?? '1.15.11';
  const archive = `ripgrep-v13.0.0-10-${process.arch === 'arm64' ? 'aarch64' : 'x86_64'}-unknown-linux-musl.tar.gz`;
  const dir = join(process.env.TMPDIR || tmpdir(), `vscode-ripgrep-cache-${rgVersion}`);
  if (existsSync(join(dir, archive))) return;
  mkdirSync(dir, { recursive: true });
  const stage = mkdtempSync(join(tmpdir(), 'ol-rg-'));
  cpSync('/usr/bin/rg', join(stage, 'rg'));
  chmodSync(join(stage, 'rg'), 0o755);
  sh('tar', ['-czf', join(dir, archive), '-C', stage, 'rg']);
  rmSync(stage, { recursive: true, force: true });
}

function installedVersion(dir, name) {
  try {
    return JSON.parse(readFileSync(join(dir, 'node_modules', name, 'package.json'), 'utf8')).version;
  } catch {
    return undefined;
  }
}

/** code-server (and playwright-core when the project has none) in .cache/code-server. */
export function ensureCodeServer() {
  const needPw = !installedVersion(root, 'playwright-core');
  const haveCs = installedVersion(cacheDir, 'code-server') === CODE_SERVER_VERSION && existsSync(codeServerBin);
  const haveVscode = existsSync(join(cacheDir, 'node_modules', 'code-server', 'lib', 'vscode', 'node_modules'));
  if (haveCs && haveVscode && (!needPw || installedVersion(cacheDir, 'playwright-core'))) return;
  mkdirSync(cacheDir, { recursive: true });
  if (!existsSync(join(cacheDir, 'package.json')))
    writeFileSync(
      join(cacheDir, 'package.json'),
      JSON.stringify({ name: 'outbound-lens-e2e-tools', private: true }, null, 2),
    );
  seedRipgrepCache();
  const pkgs = [`code-server@${CODE_SERVER_VERSION}`];
  if (needPw) pkgs.push('playwright-core@1');
  log(`npm install ${pkgs.join(' ')} into ${cacheDir} (first run: several minutes, native modules build from source)`);
  const t0 = Date.now();
  sh('npm', ['install', '--no-audit', '--no-fund', '--loglevel=error', ...pkgs], {
    cwd: cacheDir,
    env: { ...process.env, npm_config_unsafe_perm: 'true', npm_config_yes: 'true', CI: 'true' },
  });
  log(`code-server installed in ${((Date.now() - t0) / 1000).toFixed(0)} s`);
}

export async function loadPlaywright() {
  for (const base of [root, cacheDir]) {
    const p = join(base, 'node_modules', 'playwright-core', 'index.mjs');
    if (existsSync(p)) return (await import(pathToFileURL(p).href)).default ?? (await import(pathToFileURL(p).href));
  }
  throw new Error('playwright-core is not installed (npm ci, or let ensureCodeServer install it)');
}

/** What `command` (test:e2e, bench:extension) needs: system packages, node modules, code-server. */
export function ensurePrerequisites(command) {
  ensureSystem(command);
  ensureNodeModules();
  ensureCodeServer();
}

// ---- processes ----

const started = [];
/** Remembers a child so killAll() ends it, whatever happens. */
export function track(child, name) {
  started.push({ child, name });
  return child;
}

/** Our children run in their own process group: signal the group, else the child alone. */
function signalGroup(child, sig) {
  try {
    process.kill(-child.pid, sig);
  } catch {
    try {
      child.kill(sig);
    } catch {
      /* gone */
    }
  }
}

export async function killAll() {
  for (const { child, name } of started.reverse()) {
    if (child.exitCode !== null || child.signalCode !== null) continue;
    signalGroup(child, 'SIGTERM');
    const exited = await Promise.race([
      new Promise((r) => child.once('exit', () => r(true))),
      sleep(3000).then(() => false),
    ]);
    if (!exited) signalGroup(child, 'SIGKILL');
    if (process.env.OL_E2E_VERBOSE) log(`stopped ${name}`);
  }
  started.length = 0;
}

export function freePort() {
  return new Promise((res, rej) => {
    const s = createServer();
    s.once('error', rej);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => res(port));
    });
  });
}

export function portInUse(port, host = '127.0.0.1') {
  return new Promise((res) => {
    const c = connect({ port, host });
    c.once('connect', () => {
      c.destroy();
      res(true);
    });
    c.once('error', () => res(false));
  });
}

/** Spawns a process in its own group and waits for `pattern` on stderr/stdout. */
export function startProcess(name, cmd, args, { pattern, timeoutMs = 30000, env, cwd, uid, gid } = {}) {
  const child = track(
    spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'], detached: true, env: env ?? process.env, cwd, uid, gid }),
    name,
  );
  let out = '';
  const onData = (d) => {
    out += d;
    if (out.length > 200000) out = out.slice(-100000);
    if (process.env.OL_E2E_VERBOSE) process.stderr.write(`[${name}] ${d}`);
  };
  child.stdout.setEncoding('utf8').on('data', onData);
  child.stderr.setEncoding('utf8').on('data', onData);
  child.output = () => out;
  if (!pattern) return Promise.resolve(child);
  return new Promise((res, rej) => {
    const timer = setTimeout(
      () => rej(new Error(`${name} did not print ${pattern} within ${timeoutMs} ms:\n${out.slice(-3000)}`)),
      timeoutMs,
    );
    const check = () => {
      if (pattern.test(out)) {
        clearTimeout(timer);
        res(child);
      }
    };
    child.stdout.on('data', check);
    child.stderr.on('data', check);
    child.once('exit', (code, sig) => {
      clearTimeout(timer);
      rej(new Error(`${name} exited (${code ?? sig}) before it was ready:\n${out.slice(-3000)}`));
    });
  });
}

/** pid's parent (throws when pid is gone). */
export function parentOf(pid) {
  // The command name may hold spaces and parentheses: the fields follow the last ')'.
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
}

/** Whether `ancestor` is `pid`'s parent, or its parent's, and so on. */
export function descendantOf(pid, ancestor) {
  for (let p = pid, i = 0; p > 1 && i < 64; i++) {
    if (p === ancestor) return true;
    try {
      p = parentOf(p);
    } catch {
      return false;
    }
  }
  return false;
}

export function pidAlive(pid) {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return !/^\d+ \(.*\) Z /.test(stat);
  } catch {
    return false;
  }
}

// ---- code-server ----

export const USER_SETTINGS = {
  'security.workspace.trust.enabled': false,
  'workbench.startupEditor': 'none',
  'workbench.tips.enabled': false,
  'workbench.welcomePage.walkthroughs.openOnInstall': false,
  'workbench.enableExperiments': false,
  'telemetry.telemetryLevel': 'off',
  'update.mode': 'none',
  'extensions.autoCheckUpdates': false,
  'extensions.autoUpdate': false,
  'extensions.ignoreRecommendations': true,
  'git.enabled': false,
  'editor.codeLens': true,
  'editor.minimap.enabled': false,
  'window.commandCenter': false,
  'chat.commandCenter.enabled': false,
  'workbench.secondarySideBar.defaultVisibility': 'hidden',
  'outboundLens.headers': ['x-test-id'],
  'remote.autoForwardPorts': false,
  // The DOM renderer, so the test can read the terminal's text.
  'terminal.integrated.gpuAcceleration': 'off',
};

const profiles = [];

/** A temporary directory removed with the profiles. */
export function tempDir(prefix) {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  profiles.push(dir);
  return dir;
}
/** Removes the temporary profiles (call after killAll). Set OL_E2E_KEEP=1 to keep them for their logs. */
export function removeProfiles() {
  if (process.env.OL_E2E_KEEP === '1') {
    if (profiles.length) log(`kept profiles (logs under user-data/logs): ${profiles.join(' ')}`);
    return;
  }
  for (const p of profiles.splice(0)) rmSync(p, { recursive: true, force: true });
}

/**
 * A fresh user-data and extensions dir with the VSIX installed. `owner`
 * (uid/gid) makes them belong to an unprivileged user.
 */
export function prepareProfile(vsix, { settings = {}, keybindings = [], owner, shellProfile = !owner } = {}) {
  const base = mkdtempSync(join(tmpdir(), 'ol-e2e-'));
  profiles.push(base);
  const dirs = { base, user: join(base, 'user-data'), ext: join(base, 'extensions'), home: join(base, 'home') };
  for (const d of [dirs.user, dirs.ext, dirs.home, join(dirs.user, 'User')]) mkdirSync(d, { recursive: true });
  writeFileSync(join(dirs.user, 'User', 'settings.json'), JSON.stringify({ ...USER_SETTINGS, ...settings }, null, 2));
  writeFileSync(join(dirs.user, 'User', 'keybindings.json'), JSON.stringify(keybindings, null, 2));
  if (shellProfile) writeShellProfile(dirs.home);
  if (owner) {
    chmodSync(base, 0o755);
    sh('chown', ['-R', `${owner.uid}:${owner.gid}`, base]);
  }
  const r = spawnSync(
    process.execPath,
    [codeServerBin, '--extensions-dir', dirs.ext, '--user-data-dir', dirs.user, '--install-extension', vsix],
    {
      encoding: 'utf8',
      env: codeServerEnv(dirs.home),
      uid: owner?.uid,
      gid: owner?.gid,
      timeout: 120000,
    },
  );
  if (r.status !== 0) throw new Error(`installing ${vsix} failed: ${r.stdout}\n${r.stderr}`);
  return dirs;
}

/**
 * VS Code's extension host takes its environment from the user's login
 * shell, started with our temporary HOME: give that HOME a profile with this
 * machine's PATH and Go settings, as a developer's own dotfiles would (and
 * so the build uses the existing module and build caches).
 */
function writeShellProfile(home) {
  const goEnv = spawnSync(
    'go',
    ['env', '-json', 'GOPATH', 'GOMODCACHE', 'GOCACHE', 'GOFLAGS', 'GOPROXY', 'GOTOOLCHAIN'],
    {
      encoding: 'utf8',
    },
  );
  const vars = { PATH: process.env.PATH ?? '/usr/bin:/bin' };
  if (goEnv.status === 0) for (const [k, v] of Object.entries(JSON.parse(goEnv.stdout))) if (v) vars[k] = v;
  const text = Object.entries(vars)
    .map(([k, v]) => `export ${k}='${String(v).replace(/'/g, `'\\''`)}'`)
    .join('\n');
  for (const f of ['.profile', '.bashrc', '.zshenv']) writeFileSync(join(home, f), `${text}\n`);
}

/**
 * A PATH of one directory that links every command this machine's PATH
 * finds, except `omit`: a user without those commands. Removed with the
 * profiles.
 */
export function pathWithout(omit) {
  const dir = tempDir('ol-e2e-path-');
  chmodSync(dir, 0o755);
  const dirs = [
    ...(process.env.PATH ?? '').split(':'),
    '/usr/local/sbin',
    '/usr/local/bin',
    '/usr/sbin',
    '/usr/bin',
    '/sbin',
    '/bin',
  ];
  const seen = new Set(omit);
  for (const d of dirs.filter(Boolean)) {
    let names = [];
    try {
      names = readdirSync(d);
    } catch {
      continue;
    }
    for (const n of names) {
      if (seen.has(n)) continue;
      seen.add(n);
      symlinkSync(join(d, n), join(dir, n));
    }
  }
  return dir;
}

// ---- a throwaway sudoer, for the terminal privilege route ----

/** A new account `name` with a random password (an old one of that name is removed first). */
export function createSudoer(name) {
  removeSudoer(name);
  sh('useradd', ['--no-create-home', '--shell', '/bin/bash', '--user-group', name]);
  const password = randomBytes(12).toString('base64url');
  const r = spawnSync('chpasswd', [], { input: `${name}:${password}\n`, encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`chpasswd failed: ${r.stderr}`);
  const id = (flag) => Number(execFileSync('id', [flag, name], { encoding: 'utf8' }).trim());
  return { name, uid: id('-u'), gid: id('-g'), password };
}

const sudoersFile = (name) => `/etc/sudoers.d/${name.replace(/[^a-z0-9_-]/gi, '_')}`;

/** sudo lets the user run `commands` (any arguments) as root, after the password unless `nopasswd`. */
export function allowSudo(user, commands, { nopasswd = false } = {}) {
  const file = sudoersFile(user.name);
  const rule = `${user.name} ALL=(root) ${nopasswd ? 'NOPASSWD: ' : ''}${[commands].flat().join(', ')}`;
  writeFileSync(file, `Defaults:${user.name} !lecture, passwd_tries=1\n${rule}\n`, { mode: 0o440 });
  const r = spawnSync('visudo', ['-cf', file], { encoding: 'utf8' });
  if (r.status !== 0) {
    rmSync(file, { force: true });
    throw new Error(`visudo rejected ${file}: ${r.stdout}${r.stderr}`);
  }
}

/** Takes the account's sudo rule away. */
export function removeSudoRule(name) {
  rmSync(sudoersFile(name), { force: true });
}

/** sudo asks for the password again (as `sudo -K` would). */
export function forgetSudoPassword(name) {
  rmSync(`/run/sudo/ts/${name}`, { force: true });
}

/** Removes the account and its sudo rule, if there. */
export function removeSudoer(name) {
  removeSudoRule(name);
  forgetSudoPassword(name);
  if (spawnSync('id', [name]).status === 0) {
    spawnSync('pkill', ['-KILL', '-u', name]);
    const r = spawnSync('userdel', [name], { encoding: 'utf8' });
    if (r.status !== 0) log(`userdel ${name} failed: ${r.stderr.trim()}`);
  }
}

/** The helper inside the extension installed in this profile. */
export function bundledHelper(dirs) {
  const ext = readdirSync(dirs.ext).find((d) => d.startsWith('outbound-lens.'));
  if (!ext) throw new Error(`no Outbound Lens extension under ${dirs.ext}`);
  return join(dirs.ext, ext, 'bin', `linux-${process.arch}`, 'outbound-lens-helper');
}

export function codeServerEnv(home, extra = {}) {
  const env = {
    ...process.env,
    HOME: home,
    XDG_CONFIG_HOME: join(home, '.config'),
    XDG_DATA_HOME: join(home, '.local/share'),
    ...extra,
  };
  // Keep the workbench's extension host free of our own runner's Node options.
  delete env.NODE_OPTIONS;
  delete env.VSCODE_IPC_HOOK_CLI;
  return env;
}

export async function startCodeServer(dirs, { owner, env } = {}) {
  const port = await freePort();
  const args = [
    codeServerBin,
    '--bind-addr',
    `127.0.0.1:${port}`,
    '--auth',
    'none',
    '--disable-telemetry',
    '--disable-update-check',
    '--disable-workspace-trust',
    '--disable-getting-started-override',
    '--extensions-dir',
    dirs.ext,
    '--user-data-dir',
    dirs.user,
  ];
  const child = await startProcess('code-server', process.execPath, args, {
    pattern: /HTTP server listening on/,
    timeoutMs: 60000,
    env: codeServerEnv(dirs.home, env),
    uid: owner?.uid,
    gid: owner?.gid,
  });
  return { child, port, url: `http://127.0.0.1:${port}/` };
}

/** Chromium; with `ownSignals`, Playwright leaves SIGINT/SIGTERM to the caller's cleanup instead of exiting. */
export async function launchBrowser({ ownSignals = false } = {}) {
  const pw = await loadPlaywright();
  const browser = await pw.chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: CHROMIUM_ARGS,
    ...(ownSignals ? { handleSIGINT: false, handleSIGTERM: false, handleSIGHUP: false } : {}),
  });
  return browser;
}

// ---- the workbench, as a user drives it ----

export async function openWorkbench(browser, url, folder) {
  const context = await browser.newContext({ viewport: { width: 1600, height: 1000 } });
  const page = await context.newPage();
  page.setDefaultTimeout(20000);
  await page.goto(`${url}?folder=${encodeURIComponent(folder)}`);
  await page.waitForSelector('.monaco-workbench', { timeout: 60000 });
  await page.waitForSelector('.statusbar', { timeout: 60000 });
  await sleep(1500);
  return { context, page };
}

const activeTerminal = (page) => page.locator('.terminal-wrapper.active');

/** The text of the terminal on screen (DOM renderer). */
export async function terminalText(page) {
  return (await activeTerminal(page).locator('.xterm-rows').allInnerTexts()).join('\n');
}

/** Focuses the terminal on screen and types text, then Enter. */
export async function typeInTerminal(page, text) {
  await activeTerminal(page).locator('.xterm-screen').first().click();
  await page.keyboard.type(text, { delay: 20 });
  await page.keyboard.press('Enter');
}

/**
 * Ctrl+P, type the name, open it. `name` may be a path suffix
 * (downstream/main.go): quick open shows the base name with its folder
 * beside it, and that row is clicked; the tab is titled by the base name.
 */
export async function openFile(page, name) {
  const parts = name.split('/');
  const tab = parts.pop();
  const dir = parts.join('/');
  await focusWorkbench(page);
  await page.keyboard.press('Control+P');
  await page.waitForSelector('.quick-input-widget:not([style*="display: none"]) input');
  await page.keyboard.type(name, { delay: 10 });
  let row = page.locator('.quick-input-list .monaco-list-row', { hasText: tab });
  if (dir) row = row.filter({ hasText: dir });
  await until(`quick open to list ${name}`, () => row.first().isVisible());
  if (dir) await row.first().click();
  else await page.keyboard.press('Enter');
  await until(`an editor tab for ${name}`, () => activeTabTitle(page).then((t) => t === tab));
}

export async function focusWorkbench(page) {
  await page.keyboard.press('Escape');
  // The visible part of an editor (its content may be wider): a mouse click
  // at its right half, mid-height, clear of sticky-scroll lines at its top
  // and of code lenses, which start at the code's indentation. A mouse click
  // at page coordinates scrolls nothing into view.
  const guard = page.locator('.editor-group-container .monaco-editor .overflow-guard').first();
  const box = (await guard.isVisible().catch(() => false)) ? await guard.boundingBox().catch(() => null) : null;
  if (box) await page.mouse.click(box.x + box.width * 0.85, box.y + box.height / 2);
  else
    await page
      .locator('.monaco-workbench')
      .click({ position: { x: 800, y: 300 }, timeout: 3000 })
      .catch(() => {});
}

/** F1, type the command's title, Enter. */
export async function runCommand(page, title, timeoutMs = 30000) {
  const t0 = Date.now();
  const row = page.locator('.quick-input-list .monaco-list-row', { hasText: title }).first();
  // The palette lists what is registered when it opens (extensions may still be loading): reopen until listed.
  await until(
    `the command palette to list "${title}"`,
    async () => {
      await focusWorkbench(page);
      await page.keyboard.press('F1');
      const input = page.locator('.quick-input-widget input').first();
      // F1 can land where it opens nothing (a webview had the focus): try again.
      const opened = await input.waitFor({ state: 'visible', timeout: 3000 }).then(
        () => true,
        () => false,
      );
      if (!opened) return false;
      await input.fill(`>${title}`);
      const ok = await until('', () => row.isVisible(), 3000, 100).catch(() => false);
      if (!ok) await page.keyboard.press('Escape');
      return ok;
    },
    timeoutMs,
    500,
  );
  await page.keyboard.press('Enter');
  const ms = Date.now() - t0;
  if (ms > 3000) log(`(the palette took ${(ms / 1000).toFixed(1)} s to list "${title}")`);
}

/** Waits until the quick pick is done loading (no progress bar) and stable. */
export async function quickPickSettled(page, timeoutMs = 30000) {
  await until(
    'the quick pick to finish loading',
    async () =>
      page.evaluate(() => {
        const w = document.querySelector('.quick-input-widget');
        if (!w || getComputedStyle(w).display === 'none') return false;
        const bar = w.querySelector('.monaco-progress-container');
        return !bar || !bar.classList.contains('active') || getComputedStyle(bar).display === 'none';
      }),
    timeoutMs,
    100,
  );
  await sleep(300);
}

/**
 * Narrows the open quick pick to `text` and accepts the match (after it
 * finished loading). Narrowing comes first: the list draws only the rows
 * that fit, and a busy machine has many Go processes to list.
 */
export async function pickQuickItem(page, text, timeoutMs = 30000) {
  await quickPickSettled(page, timeoutMs);
  const input = page.locator('.quick-input-widget input').first();
  await input.fill(text);
  const row = page.locator('.quick-input-widget .quick-input-list .monaco-list-row', { hasText: text }).first();
  await until(`the quick pick to offer "${text}"`, () => row.isVisible(), timeoutMs);
  await until(`"${text}" to be the active quick pick item`, async () =>
    page.evaluate((t) => {
      const r = document.querySelector('.quick-input-widget .quick-input-list .monaco-list-row.focused');
      return !!r && (r.textContent ?? '').includes(t);
    }, text),
  );
  await page.keyboard.press('Enter');
}

/**
 * Runs a command that opens a quick pick and picks `text` in it. A webview
 * that restores after a window reload can take the focus, and the quick
 * pick closes as if dismissed: then the command runs again (at most
 * `attempts` times).
 */
export async function runCommandAndPick(page, title, text, attempts = 3) {
  for (let i = 1; ; i++) {
    await runCommand(page, title);
    await quickPickSettled(page);
    const input = page.locator('.quick-input-widget input').first();
    const open = await input.waitFor({ state: 'visible', timeout: 3000 }).then(
      () => true,
      () => false,
    );
    if (open) return pickQuickItem(page, text);
    if (i >= attempts)
      throw new Error(`the quick pick of "${title}" closed before "${text}" could be picked, ${i} times`);
    log(`the quick pick of "${title}" closed on its own (focus taken): running it again`);
  }
}

export async function quickPickRows(page) {
  return page.locator('.quick-input-widget .quick-input-list .monaco-list-row').allInnerTexts();
}

export async function activeTabTitle(page) {
  return page
    .locator(
      '.editor-group-container.active .tab.active .label-name, .editor-group-container.active .title-label .label-name',
    )
    .first()
    .innerText({ timeout: 2000 })
    .catch(() => '');
}

/** The status bar's "Ln X, Col Y". */
export async function cursorPosition(page) {
  const t = await page
    .locator('#status\\.editor\\.selection, .statusbar-item[id="status.editor.selection"]')
    .first()
    .innerText({ timeout: 2000 })
    .catch(() => '');
  const m = /Ln (\d+), Col (\d+)/.exec(t);
  return m ? { line: Number(m[1]), col: Number(m[2]), text: t } : { text: t };
}

export function statusBarItem(page, text) {
  return page.locator('.statusbar-item', { hasText: text }).first();
}

export async function statusBarTexts(page) {
  return page.locator('.statusbar-item').allInnerTexts();
}

/** The visible notification toasts: [{text, buttons}]. */
export async function notifications(page) {
  return page.evaluate(() =>
    [
      ...document.querySelectorAll(
        '.notifications-toasts .notification-toast, .notifications-center .notification-list-item',
      ),
    ].map((el) => ({
      text: (el.querySelector('.notification-list-item-message')?.textContent ?? el.textContent ?? '').trim(),
      buttons: [...el.querySelectorAll('.monaco-button, a.monaco-button')]
        .map((b) => (b.textContent ?? '').trim())
        .filter(Boolean),
    })),
  );
}

export async function waitForNotification(page, re, timeoutMs = 20000) {
  return until(
    `a notification matching ${re}`,
    async () => (await notifications(page)).find((n) => re.test(n.text)),
    timeoutMs,
  );
}

/** Clicks a button of the modal dialog on screen. */
export async function clickDialogButton(page, label) {
  await page.locator('.monaco-dialog-box .monaco-button', { hasText: label }).first().click();
}

/** Clicks a button of the toast whose message matches re. */
export async function clickNotificationButton(page, re, label) {
  const toast = page.locator('.notifications-toasts .notification-toast').filter({ hasText: re });
  await toast.locator('.monaco-button', { hasText: label }).first().click();
}

export async function clearNotifications(page) {
  await runCommand(page, 'Notifications: Clear All Notifications', 6000).catch(() => {});
  await page.keyboard.press('Escape').catch(() => {});
  await until('the notifications to clear', async () => (await notifications(page)).length === 0, 3000).catch(() => {});
}

/** The frame that holds the panel's page (nested iframes inside the webview). */
export async function panelFrame(page, timeoutMs = 30000) {
  return until(
    'the Outbound Lens panel (webview) to render',
    async () => {
      for (const f of page.frames()) {
        if (f === page.mainFrame()) continue;
        const ok = await f
          .evaluate(() => !!document.querySelector('#viewport') && !!document.querySelector('#filter'))
          .catch(() => false);
        if (ok) return f;
      }
      return undefined;
    },
    timeoutMs,
  );
}

/** Code lens texts, each with its on-screen top (for matching to a line). */
export async function codeLenses(page) {
  return page.evaluate(() =>
    [...document.querySelectorAll('.editor-group-container .monaco-editor .codelens-decoration')].map((el) => {
      const r = el.getBoundingClientRect();
      return { text: (el.textContent ?? '').trim(), top: r.top, bottom: r.bottom };
    }),
  );
}

/** The on-screen rectangle of the first visible editor line containing `text`. */
export async function lineRect(page, text) {
  return page.evaluate((t) => {
    for (const el of document.querySelectorAll('.editor-group-container .monaco-editor .view-line')) {
      if ((el.textContent ?? '').replace(/\u00a0/g, ' ').includes(t)) {
        const r = el.getBoundingClientRect();
        return { top: r.top, bottom: r.bottom, left: r.left, right: r.right };
      }
    }
    return undefined;
  }, text);
}

/** The code lens drawn right above the line containing `text`. */
export async function lensAbove(page, text) {
  const line = await lineRect(page, text);
  if (!line) return undefined;
  // The lens zone sits between the line above and this one: take the lowest
  // lens that ends at most one line height above this line's top.
  const height = line.bottom - line.top;
  const above = (await codeLenses(page)).filter(
    (l) => l.text && l.bottom <= line.top + 4 && line.top - l.bottom < height,
  );
  above.sort((a, b) => b.bottom - a.bottom);
  return above[0]?.text;
}

/** The ::after text of decorations on the line containing `text` (CSS content, not DOM text). */
export async function decorationAfter(page, text) {
  return page.evaluate((t) => {
    for (const el of document.querySelectorAll('.editor-group-container .monaco-editor .view-line')) {
      if (!(el.textContent ?? '').replace(/\u00a0/g, ' ').includes(t)) continue;
      const out = [];
      for (const span of el.querySelectorAll('span')) {
        const c = getComputedStyle(span, '::after').content;
        if (c && c !== 'none' && c !== 'normal') out.push(c);
      }
      return out.join(' ');
    }
    return undefined;
  }, text);
}

/** Ctrl+G to a line (1-based) in the active editor. */
export async function gotoLine(page, line) {
  await focusWorkbench(page);
  await page.keyboard.press('Control+G');
  const input = page.locator('.quick-input-widget input').first();
  await input.waitFor({ state: 'visible' });
  await input.fill(`:${line}`);
  await page.keyboard.press('Enter');
  await sleep(300);
}

export function lineOf(file, re) {
  const lines = readFileSync(file, 'utf8').split('\n');
  const i = lines.findIndex((l) => re.test(l));
  if (i < 0) throw new Error(`no line matching ${re} in ${file}`);
  return { line: i + 1, text: lines[i].trim() };
}

export function httpGet(url, headers = {}) {
  return fetch(url, { headers, signal: AbortSignal.timeout(10000) }).then(async (r) => ({
    status: r.status,
    body: await r.text(),
  }));
}

export { execFileSync };
