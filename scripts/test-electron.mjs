// npm run test:electron — the extension's integration suite
// (test/electron/suite) inside a real desktop VS Code (Electron), as
// @vscode/test-electron runs it: VS Code is downloaded into .cache/vscode-test
// (or VSCODE_EXECUTABLE_PATH names an installed one), the repository is the
// extensionDevelopmentPath, sample/ the workspace folder. Before VS Code
// starts, this script bundles the extension, builds the helper, builds and
// starts the sample service and its downstream on free ports, and passes
// them to the suite in OL_ELECTRON_* variables. Needs root (the suite traces
// with BPF) and a machine that reaches the VS Code download server; fails
// (never skips) otherwise. Ends everything it started, also on failure.
//
//   VSCODE_EXECUTABLE_PATH=/usr/share/code/code   use this VS Code, download nothing
//   VSCODE_TEST_VERSION=1.99.3                    the version to download (default: the newest
//                                                 stable that satisfies engines.vscode)
//   OL_ELECTRON_KEEP=1                            keep the temporary profile (its logs)
import { accessSync, closeSync, constants, existsSync, mkdirSync, mkdtempSync, openSync } from 'node:fs';
import { readdirSync, readFileSync, readSync, realpathSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { spawn, spawnSync } from 'node:child_process';
import { tmpdir } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { buildHelper, buildSample, ensureNodeModules, root, run } from './lib.mjs';
import { aptInstall, ensureSystem } from './prereqs.mjs';
import {
  freePort,
  helperTracePids,
  httpGet,
  killAll,
  pidAlive,
  sleep,
  startProcess,
  until,
} from '../test/e2e/workbench.mjs';

const DOWNLOAD_SERVER = 'https://update.code.visualstudio.com';
const sampleDir = join(root, 'sample');
const suitePath = join(root, 'test', 'electron', 'suite', 'index.cjs');
const cachePath = join(root, '.cache', 'vscode-test');
const RUN_TIMEOUT_MS = 10 * 60 * 1000;

const log = (...a) => console.log(`[electron ${new Date().toISOString().slice(11, 19)}]`, ...a);

class Fatal extends Error {}
const fatal = (message) => new Fatal(message);

function describe(e) {
  if (!e) return 'unknown error';
  const parts = [e.message || String(e)];
  for (let c = e.cause; c && parts.length < 4; c = c.cause) parts.push(c.message || String(c));
  if (e.code && !parts[0].includes(e.code)) parts.push(e.code);
  return parts.join(': ');
}

function isScript(file) {
  const fd = openSync(file, 'r');
  try {
    const b = Buffer.alloc(2);
    readSync(fd, b, 0, 2, 0);
    return b.toString() === '#!';
  } finally {
    closeSync(fd);
  }
}

/**
 * VSCODE_EXECUTABLE_PATH: the VS Code executable (Electron), or its `code`
 * launcher script (bin/code in the install, /usr/bin/code), resolved to the
 * executable beside it: runTests must start Electron itself.
 */
function givenVSCode(given) {
  let file;
  try {
    file = realpathSync(given);
    accessSync(file, constants.X_OK);
  } catch (e) {
    throw fatal(`VSCODE_EXECUTABLE_PATH=${given} is not an executable file (${e.message})`);
  }
  if (!statSync(file).isFile()) throw fatal(`VSCODE_EXECUTABLE_PATH=${given} is not a file`);
  if (!isScript(file)) return file;
  // <install>/bin/code → <install>/code (Linux); …/Contents/Resources/app/bin/code → …/Contents/MacOS/Electron.
  const candidates = [
    join(dirname(dirname(file)), basename(file)),
    join(dirname(dirname(file)), 'code'),
    join(dirname(file), '..', '..', '..', 'MacOS', 'Electron'),
  ];
  const exe = candidates.find((c) => existsSync(c) && statSync(c).isFile() && !isScript(c));
  if (!exe) {
    throw fatal(
      `VSCODE_EXECUTABLE_PATH=${given} is a launcher script and no VS Code executable was found beside it; ` +
        'point it at the executable itself (e.g. /usr/share/code/code)',
    );
  }
  log(`VSCODE_EXECUTABLE_PATH=${given}: a launcher script; using ${exe}`);
  return exe;
}

/** The VS Code to test in: VSCODE_EXECUTABLE_PATH, else downloaded (cached in .cache/vscode-test). */
async function resolveVSCode(testElectron) {
  const given = process.env.VSCODE_EXECUTABLE_PATH;
  if (given) return givenVSCode(given);
  const { downloadAndUnzipVSCode, ProgressReportStage: Stage } = testElectron;
  let url = `${DOWNLOAD_SERVER}/api/releases/stable`;
  let lastError;
  let lastPct = -10;
  const reporter = {
    report(r) {
      if (r.stage === Stage.ResolvedVersion) log(`VS Code ${r.version}`);
      else if (r.stage === Stage.FoundMatchingInstall) log(`using the copy in ${r.downloadedPath}`);
      else if (r.stage === Stage.ResolvingCDNLocation) url = r.url;
      else if (r.stage === Stage.Downloading) {
        url = r.url;
        const pct = r.totalBytes ? Math.floor((100 * r.bytesSoFar) / r.totalBytes) : 0;
        if (pct >= lastPct + 10) log(`downloading ${url}: ${(lastPct = pct)}%`);
      } else if (r.stage === Stage.Retrying) {
        lastError = r.error;
        log(`download failed (${describe(r.error)}), attempt ${r.attempt} of ${r.totalAttempts}`);
      } else if (r.stage === Stage.NewInstallComplete) log(`installed in ${r.downloadedPath}`);
    },
    error(e) {
      lastError = e;
    },
  };
  try {
    return await downloadAndUnzipVSCode({
      version: process.env.VSCODE_TEST_VERSION || undefined,
      cachePath,
      extensionDevelopmentPath: root,
      reporter,
      timeout: 15000,
    });
  } catch (e) {
    const err = lastError && lastError !== e ? `${describe(lastError)} (${describe(e)})` : describe(e);
    throw fatal(
      `could not download VS Code from ${url}: ${err}. test:electron needs a machine that can reach the VS Code download server ` +
        '(or VSCODE_EXECUTABLE_PATH set to an installed VS Code); on this machine run npm run test:e2e (code-server) instead',
    );
  }
}

// ---- what Electron needs from the system ----

// Debian's names for the shared libraries VS Code's .deb depends on.
const ELECTRON_LIBS = [
  'libnss3',
  'libatk1.0-0',
  'libatk-bridge2.0-0',
  'libgtk-3-0',
  'libgbm1',
  'libasound2',
  'libxkbfile1',
  'libsecret-1-0',
  'libxss1',
  'libdrm2',
  'libxcomposite1',
  'libxdamage1',
  'libxrandr2',
  'libcups2',
  'libxshmfence1',
  'libx11-xcb1',
];

function missingLibs(exe) {
  const r = spawnSync('ldd', [exe], { encoding: 'utf8' });
  if (r.error || r.status !== 0) return []; // not a dynamic executable we can inspect: let VS Code say
  return [...r.stdout.matchAll(/^\s*(\S+) => not found/gm)].map((m) => m[1]);
}

/** The shared libraries Electron links against, installed with apt when missing. */
function ensureElectronLibs(exe) {
  let missing = missingLibs(exe);
  if (!missing.length) return;
  log(`VS Code needs ${missing.join(' ')}`);
  aptInstall(ELECTRON_LIBS);
  missing = missingLibs(exe);
  if (missing.length) throw fatal(`${exe} still misses shared libraries after apt-get: ${missing.join(' ')}`);
}

// ---- a display for Electron ----

let xvfb;
async function ensureDisplay() {
  if (process.env.DISPLAY || process.env.WAYLAND_DISPLAY) return {};
  ensureSystem('test:electron'); // Xvfb
  let n = 99;
  while (existsSync(`/tmp/.X${n}-lock`) || existsSync(`/tmp/.X11-unix/X${n}`)) n++;
  xvfb = spawn('Xvfb', [`:${n}`, '-screen', '0', '1600x1000x24', '-nolisten', 'tcp'], { stdio: 'ignore' });
  await until(`Xvfb on :${n}`, () => existsSync(`/tmp/.X11-unix/X${n}`) || xvfb.exitCode !== null, 10000);
  if (xvfb.exitCode !== null) throw fatal(`Xvfb :${n} exited with ${xvfb.exitCode}`);
  log(`Xvfb on :${n}`);
  return { DISPLAY: `:${n}` };
}

// ---- processes ----

/** VS Code processes of this run: their command line names our private profile directory. */
function vscodePids(profile) {
  const out = [];
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d) || Number(d) === process.pid) continue;
    try {
      if (readFileSync(`/proc/${d}/cmdline`, 'utf8').includes(profile)) out.push(Number(d));
    } catch {
      /* gone */
    }
  }
  return out;
}

async function killPids(pids, what) {
  if (!pids.length) return;
  log(`ending ${what}: ${pids.join(' ')}`);
  for (const p of pids) {
    try {
      process.kill(p, 'SIGTERM');
    } catch {
      /* gone */
    }
  }
  await until(`${what} to exit`, () => pids.every((p) => !pidAlive(p)), 5000).catch(() => {
    for (const p of pids) {
      try {
        process.kill(p, 'SIGKILL');
      } catch {
        /* gone */
      }
    }
  });
}

// ---- the run ----

async function main() {
  if (process.platform !== 'linux') throw fatal('test:electron traces with eBPF: it runs on Linux only');
  if (process.getuid?.() !== 0) {
    throw fatal(
      'test:electron traces the sample with BPF from inside VS Code: run it as root (sudo npm run test:electron)',
    );
  }
  ensureNodeModules();
  let testElectron;
  try {
    testElectron = await import('@vscode/test-electron');
  } catch (e) {
    throw fatal(`@vscode/test-electron is not installed (npm ci): ${e.message}`);
  }
  const vscodePath = await resolveVSCode(testElectron);
  log(`VS Code: ${vscodePath}`);
  ensureElectronLibs(vscodePath);
  const display = await ensureDisplay();

  log('bundle the extension (dist/)');
  run(process.execPath, [join(root, 'scripts', 'bundle.mjs')], { cwd: root });
  const helper = buildHelper();
  log(`helper: ${helper}`);
  const { service, downstream } = buildSample();

  const [downPort, rawPort, servicePort] = [await freePort(), await freePort(), await freePort()];
  const DOWN = `127.0.0.1:${downPort}`;
  const RAW = `127.0.0.1:${rawPort}`;
  const SERVICE = `127.0.0.1:${servicePort}`;
  await startProcess('downstream', downstream, ['-addr', DOWN, '-raw', RAW], { pattern: /listening on/ });
  const svc = await startProcess('sample', service, ['-addr', SERVICE, '-downstream', `http://${DOWN}`, '-raw', RAW], {
    pattern: /listening on/,
  });
  state.servicePid = svc.pid;
  log(`sample pid ${svc.pid} on ${SERVICE}, downstream on ${DOWN}`);

  const profile = mkdtempSync(join(tmpdir(), 'ol-electron-'));
  state.profile = profile;
  const userData = join(profile, 'user-data');
  const extensions = join(profile, 'extensions');
  mkdirSync(join(userData, 'User'), { recursive: true });
  mkdirSync(extensions, { recursive: true });
  writeFileSync(
    join(userData, 'User', 'settings.json'),
    JSON.stringify(
      {
        'security.workspace.trust.enabled': false,
        'telemetry.telemetryLevel': 'off',
        'update.mode': 'none',
        'extensions.autoCheckUpdates': false,
        'extensions.autoUpdate': false,
        'workbench.startupEditor': 'none',
        'git.enabled': false,
        'editor.codeLens': true,
        'outboundLens.headers': ['x-test-id'],
      },
      null,
      2,
    ),
  );

  // A hung VS Code must not hang the run: end its processes (found by our profile path) after the timeout.
  let timedOut = false;
  const watchdog = setTimeout(() => {
    timedOut = true;
    log(`VS Code still running after ${RUN_TIMEOUT_MS / 60000} min: ending it`);
    void killPids(vscodePids(profile), 'VS Code');
  }, RUN_TIMEOUT_MS);
  let failure;
  try {
    await testElectron.runTests({
      vscodeExecutablePath: vscodePath,
      extensionDevelopmentPath: root,
      extensionTestsPath: suitePath,
      launchArgs: [
        sampleDir,
        // Other extensions off; the one under development (this repository) still loads.
        '--disable-extensions',
        `--user-data-dir=${userData}`,
        `--extensions-dir=${extensions}`,
        '--disable-gpu',
        '--disable-telemetry',
      ],
      extensionTestsEnv: {
        ...display,
        OL_ELECTRON_SERVICE: SERVICE,
        OL_ELECTRON_SERVICE_PID: String(svc.pid),
        OL_ELECTRON_DOWNSTREAM: DOWN,
        OL_ELECTRON_SAMPLE_DIR: sampleDir,
      },
    });
  } catch (e) {
    failure = e;
  } finally {
    clearTimeout(watchdog);
  }
  if (timedOut) throw fatal(`VS Code did not finish the suite within ${RUN_TIMEOUT_MS / 60000} minutes`);
  if (failure) throw fatal(`the suite failed inside VS Code (${describe(failure)}); its output is above`);

  // What the suite checked from inside, checked again from outside after VS Code has exited.
  const left = helperTracePids(svc.pid);
  if (left.length)
    throw fatal(`outbound-lens-helper still tracing pid ${svc.pid} after VS Code exited: ${left.join(' ')}`);
  const h = await httpGet(`http://${SERVICE}/health`).catch((e) => ({ status: e.message }));
  if (h.status !== 200) throw fatal(`the sample no longer answers /health after the trace (${h.status})`);
  log('test:electron passed');
}

const state = { profile: undefined, servicePid: undefined };

async function cleanup() {
  if (state.profile) await killPids(vscodePids(state.profile), 'VS Code processes of this run');
  // A helper our VS Code started for the sample, if a failure left one (it also exits with its parent).
  if (state.servicePid) await killPids(helperTracePids(state.servicePid), 'helpers tracing the sample');
  await killAll();
  if (xvfb && xvfb.exitCode === null) {
    xvfb.kill('SIGTERM');
    await sleep(200);
  }
  if (state.profile) {
    if (process.env.OL_ELECTRON_KEEP === '1') log(`kept the profile (logs under user-data/logs): ${state.profile}`);
    else rmSync(state.profile, { recursive: true, force: true });
  }
}

let code = 0;
try {
  await main();
} catch (e) {
  code = 1;
  console.error(`test:electron: ${e instanceof Fatal ? e.message : (e.stack ?? e.message)}`);
} finally {
  await cleanup().catch((e) => console.error(`test:electron: cleanup: ${e.message}`));
}
process.exit(code);
