// The extension's integration suite, run inside a real VS Code's extension
// host by @vscode/test-electron (`--extensionTestsPath` points here; VS Code
// calls run() and exits non-zero when it throws). scripts/test-electron.mjs
// builds and starts the sample service and its downstream and passes them in
// OL_ELECTRON_* variables; the workspace folder is sample/. Everything is
// observed through the VS Code API, as a user (or another extension) gets it:
// activation, the command list, code lenses, hovers, the trace and stop
// commands. A tiny sequential runner: the first failure throws with its name.
'use strict';

const vscode = require('vscode');
const { readFileSync } = require('node:fs');
const { join } = require('node:path');
const { sleep, until, helperTracePids } = require('../../e2e/common.cjs');

const EXT_ID = 'outbound-lens.outbound-lens';
const COMMANDS = ['outboundLens.trace', 'outboundLens.stop', 'outboundLens.showPanel'];

function env(name) {
  const v = process.env[name];
  if (!v) throw new Error(`${name} is not set: run this suite with npm run test:electron`);
  return v;
}

const log = (...a) => console.log('[electron-suite]', ...a);

function check(cond, message) {
  if (!cond) throw new Error(message);
}

async function httpGet(url, headers = {}, method = 'GET') {
  const r = await fetch(url, { method, headers, signal: AbortSignal.timeout(10000) });
  return { status: r.status, body: await r.text() };
}

// ---- what the tests share ----

const serviceAddr = () => env('OL_ELECTRON_SERVICE');
const downAddr = () => env('OL_ELECTRON_DOWNSTREAM');
const servicePid = () => Number(env('OL_ELECTRON_SERVICE_PID'));
const sampleMain = () => join(env('OL_ELECTRON_SAMPLE_DIR'), 'main.go');

const state = {
  /** @type {vscode.TextDocument | undefined} */ doc: undefined,
  echoLine: -1, // 0-based line of `func (s *server) echo(`
  /** @type {Promise<unknown> | undefined} */ tracing: undefined,
  /** @type {{ ok: boolean, error?: Error } | undefined} */ traceEnded: undefined,
};

/** The titles of the code lenses on a 0-based line of main.go (resolved, as the editor shows them). */
async function lensesAt(line) {
  const lenses = await vscode.commands.executeCommand('vscode.executeCodeLensProvider', state.doc.uri, 100);
  return (lenses ?? [])
    .filter((l) => l.range.start.line === line && l.command && l.command.title)
    .map((l) => ({ title: l.command.title, command: l.command.command }));
}

async function echoLens() {
  const ls = await lensesAt(state.echoLine);
  return ls.find((l) => /Trace outbound connections|↗/.test(l.title));
}

/** The hover text on the echo() line (the handler hover: uses per endpoint). */
async function echoHover() {
  const pos = new vscode.Position(state.echoLine, 5);
  const hovers = await vscode.commands.executeCommand('vscode.executeHoverProvider', state.doc.uri, pos);
  return (hovers ?? [])
    .flatMap((h) => h.contents)
    .map((c) => (typeof c === 'string' ? c : c.value))
    .filter((t) => t && t.includes('Outbound Lens'))
    .join('\n');
}

function lensCount(title) {
  const m = / · (\d+) req/.exec(title);
  return m ? Number(m[1]) : undefined;
}

/** `- → `127.0.0.1:8081` ×41 (3 new, 38 reused)` in a hover, for one endpoint. */
function hoverUses(text, endpoint) {
  const esc = endpoint.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  const m = new RegExp(`→ \`${esc}\` ×(\\d+) \\((\\d+) new, (\\d+) reused\\)`).exec(text);
  return m ? { uses: Number(m[1]), fresh: Number(m[2]), reused: Number(m[3]) } : undefined;
}

function traceEndedNote() {
  if (!state.traceEnded) return '';
  return state.traceEnded.ok
    ? ' (the trace command already returned: the trace ended)'
    : ` (the trace command failed: ${state.traceEnded.error && state.traceEnded.error.message})`;
}

async function truth() {
  const r = await httpGet(`http://${downAddr()}/truth`);
  check(r.status === 200, `GET /truth on the downstream answered ${r.status}`);
  return JSON.parse(r.body);
}

// ---- the tests ----

const tests = [
  [
    'the extension activates when main.go is opened (onLanguage:go) and registers its commands',
    async () => {
      const ext = vscode.extensions.getExtension(EXT_ID);
      check(ext, `extension ${EXT_ID} is not loaded (extensionDevelopmentPath should be the repository)`);
      check(!ext.isActive, `${EXT_ID} was already active before a Go file was opened`);
      const doc = await vscode.workspace.openTextDocument(vscode.Uri.file(sampleMain()));
      check(doc.languageId === 'go', `main.go opened with language "${doc.languageId}", expected "go"`);
      await vscode.window.showTextDocument(doc);
      state.doc = doc;
      await until(`${EXT_ID} to activate after main.go was opened`, () => ext.isActive, 30000);
      const all = await vscode.commands.getCommands(true);
      const missing = COMMANDS.filter((c) => !all.includes(c));
      check(missing.length === 0, `commands not registered after activation: ${missing.join(', ')}`);
      log(`active; commands ${COMMANDS.join(', ')} registered`);
    },
  ],
  [
    'before tracing, the code lens above the /echo handler offers "Trace outbound connections"',
    async () => {
      state.echoLine = state.doc
        .getText()
        .split('\n')
        .findIndex((l) => /^func \(s \*server\) echo\(/.test(l));
      check(state.echoLine >= 0, 'no `func (s *server) echo(` line in sample/main.go');
      const lens = await until(
        `a code lens on line ${state.echoLine + 1} (func (s *server) echo)`,
        () => echoLens(),
        60000,
        500,
      );
      check(
        lens.title === 'Trace outbound connections',
        `the lens above echo() reads "${lens.title}" before tracing, expected "Trace outbound connections"`,
      );
      check(lens.command === 'outboundLens.trace', `the lens runs ${lens.command}, expected outboundLens.trace`);
      log(`line ${state.echoLine + 1}: "${lens.title}" → ${lens.command}`);
    },
  ],
  [
    'tracing the running sample by pid: the lens names the downstream the service really called',
    async () => {
      const pid = servicePid();
      const down = downAddr();
      // Resolves only when the trace ends (stop, or the service exits): do not await it here.
      state.tracing = Promise.resolve(vscode.commands.executeCommand('outboundLens.trace', { pid }));
      state.tracing.then(
        () => (state.traceEnded = { ok: true }),
        (error) => (state.traceEnded = { ok: false, error }),
      );
      const started = await until(
        'the lens above echo() to show that tracing started',
        async () => {
          if (state.traceEnded) throw new Error(`the trace ended before it started${traceEndedNote()}`);
          const l = await echoLens();
          return l && l.title.startsWith('↗') && l;
        },
        60000,
        500,
      ).catch((e) => {
        throw new Error(`${e.message}; helper processes tracing pid ${pid}: [${helperTracePids(pid).join(', ')}]`);
      });
      log(`tracing pid ${pid}: "${started.title}"; helper pid(s) ${helperTracePids(pid).join(', ')}`);

      // The probes are attached a moment after the helper starts: send requests until one is counted.
      // echo() calls GET http://<downstream>/echo: the lens names the remote and what it was asked.
      const want = new RegExp(`^↗ 1 downstream · ${down.replace(/\./g, '\\.')} GET /echo ×\\d+ · \\d+ req`);
      let i = 0;
      const first = await until(
        `the lens above echo() to read "↗ 1 downstream · ${down} GET /echo ×N · N req"`,
        async () => {
          if (state.traceEnded) throw new Error(`the trace ended${traceEndedNote()}`);
          const r = await httpGet(`http://${serviceAddr()}/echo`, { 'X-Test-Id': `electron-warmup-${++i}` });
          check(r.status === 200, `GET /echo answered ${r.status}: ${r.body.slice(0, 200)}`);
          await sleep(700);
          const l = await echoLens();
          return l && want.test(l.title) && l;
        },
        60000,
        0,
      ).catch(async (e) => {
        const l = await echoLens().catch(() => undefined);
        throw new Error(`${e.message}; the lens reads "${l && l.title}"${traceEndedNote()}`);
      });
      log(`after ${i} warm-up request(s): "${first.title}"`);

      // Now counted requests, each checked against what the downstream itself saw.
      const reset = await httpGet(`http://${down}/truth/reset`, {}, 'POST');
      check(reset.status === 200, `POST /truth/reset answered ${reset.status}`);
      const n0 = lensCount(first.title);
      const before = hoverUses(await echoHover(), down);
      check(before, `the hover on echo() names no uses of ${down}: ${await echoHover()}`);
      const ids = ['electron-echo-1', 'electron-echo-2', 'electron-echo-3'];
      for (const id of ids) {
        const r = await httpGet(`http://${serviceAddr()}/echo`, { 'X-Test-Id': id });
        check(r.status === 200, `GET /echo (${id}) answered ${r.status}: ${r.body.slice(0, 200)}`);
      }
      const lens = await until(
        `the lens above echo() to count ${n0 + ids.length} requests`,
        async () => {
          const l = await echoLens();
          return l && lensCount(l.title) >= n0 + ids.length && l;
        },
        20000,
        300,
      ).catch(async (e) => {
        const l = await echoLens().catch(() => undefined);
        throw new Error(`${e.message}; the lens reads "${l && l.title}"`);
      });
      check(want.test(lens.title), `the lens above echo() reads "${lens.title}", expected ${want}`);
      check(
        lensCount(lens.title) === n0 + ids.length,
        `the lens counts ${lensCount(lens.title)} requests, expected ${n0} + ${ids.length}: "${lens.title}"`,
      );

      const seen = (await truth()).filter((t) => ids.includes(t.testId) && t.kind === 'http');
      check(
        seen.length === ids.length,
        `the downstream saw ${seen.length} call(s) for ${ids.join(', ')}, expected ${ids.length}`,
      );
      for (const t of seen) {
        check(
          t.callerRoute === '/echo' && t.path === '/echo',
          `the downstream saw ${t.testId} from route ${t.callerRoute} on ${t.path}, expected /echo`,
        );
        // The lens names dst 127.0.0.1:<downstream port>; the downstream saw the caller on 127.0.0.1.
        check(
          /^127\.0\.0\.1:\d+$/.test(t.remoteAddr) && t.remotePort > 0,
          `the downstream saw ${t.testId} from ${t.remoteAddr}, expected 127.0.0.1:<port>`,
        );
      }
      const after = await until(
        `the hover on echo() to count ${before.uses + ids.length} uses of ${down}`,
        async () => {
          const u = hoverUses(await echoHover(), down);
          return u && u.uses >= before.uses + ids.length && u;
        },
        10000,
        300,
      );
      check(
        after.uses === before.uses + ids.length && after.fresh + after.reused === after.uses,
        `the hover counts ${JSON.stringify(after)} uses of ${down}, expected ${before.uses} + ${ids.length}`,
      );
      // Sequential calls on a kept-alive pool: a new connection shows as a new client port downstream.
      const ports = new Set(seen.map((t) => t.remotePort));
      check(
        after.fresh - before.fresh <= ports.size,
        `the hover counts ${after.fresh - before.fresh} new connection(s) for ${ids.length} requests, but the downstream saw only ${ports.size} client port(s) (${[...ports].join(', ')})`,
      );
      log(
        `lens: "${lens.title}"; hover: ${after.uses} uses (${after.fresh} new, ${after.reused} reused); ` +
          `downstream saw ${ids.length} calls from 127.0.0.1 port(s) ${[...ports].join(', ')} on ${down}`,
      );
    },
  ],
  [
    'outboundLens.stop ends the trace: no helper is left tracing and the service still serves',
    async () => {
      const pid = servicePid();
      check(state.tracing, 'no trace was started by the previous test');
      await vscode.commands.executeCommand('outboundLens.stop');
      await until('the trace command to return after stop', () => state.traceEnded, 20000);
      check(
        state.traceEnded.ok,
        `the trace command failed: ${state.traceEnded.error && state.traceEnded.error.message}`,
      );
      await until(`no outbound-lens-helper tracing pid ${pid}`, () => helperTracePids(pid).length === 0, 15000).catch(
        (e) => {
          throw new Error(`${e.message}: still running ${helperTracePids(pid).join(', ')}`);
        },
      );
      const h = await httpGet(`http://${serviceAddr()}/health`);
      check(h.status === 200, `the traced service answers /health with ${h.status} after stop`);
      const lens = await echoLens();
      check(
        lens && lens.title.includes(downAddr()),
        `after stop the lens above echo() reads "${lens && lens.title}"; the records should stay`,
      );
      log(`stopped; /health ${h.status}; lens "${lens.title}"`);
    },
  ],
];

async function run() {
  let passed = 0;
  for (const [name, fn] of tests) {
    const t0 = Date.now();
    try {
      await fn();
    } catch (e) {
      console.error(`[electron-suite] FAIL ${name}: ${e && e.stack ? e.stack : e}`);
      console.log(`electron suite: ${passed} passed, 1 failed`);
      // Leave nothing tracing: stop a trace the failed test may have left.
      if (state.tracing && !state.traceEnded) await vscode.commands.executeCommand('outboundLens.stop').catch(() => {});
      throw new Error(`electron suite: "${name}" failed: ${e && e.message ? e.message : e}`);
    }
    passed++;
    log(`ok   ${name} (${((Date.now() - t0) / 1000).toFixed(1)} s)`);
  }
  console.log(`electron suite: ${passed} passed, 0 failed`);
}

module.exports = { run };
