// Build and launch from the command palette, as root: the workspace service
// starts under tracing with the outboundLens.launch settings; the panel's
// rows match the downstream's ground truth; a call site opens; the code lens
// and the line decorations name the downstream (on the helper that calls
// out, and on the /echo handler's line that calls the helper); stop from the status bar; a
// net/http ServeMux handler (the downstream stand-in's) has a lens too.
// Then a module with several main packages asks which one to launch.
import { copyFileSync, mkdirSync, readFileSync, readdirSync, readlinkSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { check, launchedPids, log, re, sampleDir, sampleMain, session, until, wb } from './session.mjs';

const LAUNCH_ENV = { OL_E2E_LAUNCHED: 'from-settings' };

describe('build and launch from the palette (as root)', () => {
  let service; // the address the launched sample listens on (outboundLens.launch.args)
  const startedAt = Date.now();
  const s = session(async (s) => {
    [service] = await s.addrs(1);
    await s.startWorkbench({
      profile: {
        settings: {
          'outboundLens.launch.args': ['-addr', service, ...s.toDown],
          'outboundLens.launch.env': LAUNCH_ENV,
        },
      },
    });
    log(`workbench up at ${s.cs.url}`);
  });
  const echoFn = wb.lineOf(sampleMain, /^func \(s \*server\) echo\(/);
  const truthFn = wb.lineOf(join(sampleDir, 'downstream', 'main.go'), /mux\.HandleFunc\("\/truth", func/);
  let callSite; // the /echo call site the panel links to, found by the first scenario
  let helperCalls = 0; // the calls the decoration on that line counts

  test('launch: trace from the palette, build and launch the workspace service', async (t) => {
    const { page } = s;
    await wb.openFile(page, 'main.go');
    await wb.gotoLine(page, echoFn.line);
    const before = await until('the code lens above the /echo handler', () => wb.lensAbove(page, echoFn.text), 30000);
    check(/Trace outbound connections/.test(before), `the lens above echo() reads "${before}" before tracing`);
    await s.shot('lens-before');

    const tCmd = Date.now();
    await wb.runCommand(page, 'Outbound Lens: Trace outbound connections');
    const rows = await until('the target quick pick', async () => {
      const r = await wb.quickPickRows(page);
      return r.length > 0 && r;
    });
    log(`quick pick: ${rows.map((r) => r.replace(/\s+/g, ' ').slice(0, 70)).join(' | ')}`);
    await wb.pickQuickItem(page, 'Build and launch the workspace service under tracing');
    await s.statusBar(/tracing · \d+ req/, 180000);
    t.diagnostic(`palette → tracing ${((Date.now() - tCmd) / 1000).toFixed(1)} s`);
    await until(
      'the launched sample to answer /health',
      async () => (await wb.httpGet(`http://${service}/health`)).status === 200,
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

    await s.sendRequests(service, [
      ['/echo', 'e2e-launch-echo-1'],
      ['/echo', 'e2e-launch-echo-2'],
      ['/fanout', 'e2e-launch-fanout-1'],
    ]);
    const frame = await wb.panelFrame(page);
    await until('the first row in the panel', async () => (await frame.locator('#lines .line.row').count()) > 0, 20000);
    t.diagnostic(`palette → first row ${((Date.now() - tCmd) / 1000).toFixed(1)} s`);
    await s.statusBar(/tracing · [3-9]\d* req/, 20000);

    await s.checkTuples(frame, 'e2e-launch-echo-2', '/echo', 1);
    await s.checkTuples(frame, 'e2e-launch-fanout-1', '/fanout', 3);
    const echo = await s.checkTuples(frame, 'e2e-launch-echo-1', '/echo', 1);
    check(
      echo.sites.length === 1 && echo.sites[0].file && echo.sites[0].line > 0,
      `no call site link on the /echo outbound line: ${JSON.stringify(echo.sites)}`,
    );
    callSite = echo.sites[0];
    check(/sample\/main\.go$/.test(callSite.file), `the call site is ${callSite.file}, expected sample/main.go`);
    await s.shot('panel-launch');
  });

  test('panel: clicking a call site opens the file at that line', async () => {
    const { page } = s;
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

  test('code lens above the /echo handler names the downstream', async () => {
    const { page } = s;
    await wb.gotoLine(page, echoFn.line);
    const lens = await until(
      'the lens above echo() to name the downstream',
      async () => {
        await wb.gotoLine(page, echoFn.line);
        const l = await wb.lensAbove(page, echoFn.text);
        return l && l.includes(s.down) && l;
      },
      20000,
      1000,
    ).catch(async (e) => {
      const seen = JSON.stringify({ line: await wb.lineRect(page, echoFn.text), lenses: await wb.codeLenses(page) });
      throw new Error(`${e.message}; on screen: ${seen}`);
    });
    // echo() calls GET http://<downstream>/echo: the lens names the remote and what it was asked.
    check(new RegExp(`↗ 1 downstream · ${re(s.down)} GET /echo ×\\d+ · \\d+ req`).test(lens), `lens text: "${lens}"`);
    log(`lens: ${lens}`);
    await wb.clearNotifications(page);
    await wb.gotoLine(page, echoFn.line);
    await s.shot('code-lens');
  });

  test('decoration on the call site line shows the remote endpoint', async () => {
    const { page } = s;
    check(callSite, 'no call site from the launch scenario');
    const text = readFileSync(sampleMain, 'utf8').split('\n')[callSite.line - 1].trim();
    const after = await until(
      'the end-of-line decoration on the call site',
      async () => {
        await wb.gotoLine(page, callSite.line);
        const a = await wb.decorationAfter(page, text);
        return a && a.includes(`→ ${s.down}`) && a;
      },
      20000,
      1000,
    );
    // The remote, what it was asked (the most frequent operation, +N other kinds), how many calls, new and reused.
    const m = new RegExp(`→ ${re(s.down)} GET /[^ ]+(?: \\+\\d+)? ×(\\d+) \\(\\d+ new, \\d+ reused\\)`).exec(after);
    check(m, `decoration text: ${after}`);
    helperCalls = Number(m[1]);
    log(`decoration on line ${callSite.line} (${text}): ${after}`);
    await wb.clearNotifications(page);
    await wb.gotoLine(page, callSite.line);
    await s.shot('decoration');
  });

  test("decoration on the /echo handler's own line that calls the helper", async () => {
    const { page } = s;
    check(helperCalls > 0, 'no decoration on the call site from the previous scenario');
    // echo() calls callDown, which makes the call: the handler's line is on the call path.
    const lines = readFileSync(sampleMain, 'utf8').split('\n');
    const at = lines.findIndex((l, i) => i >= echoFn.line && /\bs\.callDown\(/.test(l));
    check(at >= echoFn.line && at < echoFn.line + 5, `no callDown call in echo() after line ${echoFn.line}`);
    const line = at + 1;
    check(line !== callSite.line, `the /echo call site is the handler's own line ${line}, not the helper's`);
    const text = lines[at].trim();
    const after = await until(
      `the end-of-line decoration on echo()'s line ${line}`,
      async () => {
        await wb.gotoLine(page, line);
        const a = await wb.decorationAfter(page, text);
        return a && a.includes(`→ ${s.down}`) && a;
      },
      20000,
      1000,
    );
    // Only /echo's calls went through this line: its one operation, fewer calls than the helper's line counts.
    const m = new RegExp(`→ ${re(s.down)} GET /echo ×(\\d+) \\(\\d+ new, \\d+ reused\\)`).exec(after);
    check(m, `decoration text on echo()'s line: ${after}`);
    const calls = Number(m[1]);
    check(calls >= 2 && calls < helperCalls, `echo()'s line counts ${calls} calls, the helper's line ${helperCalls}`);
    log(`decoration on line ${line} (${text}): ${after}`);
  });

  test('the panel lists every request; a fan-out expands to its three calls', async () => {
    const { page } = s;
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
    await s.shot('panel');
  });

  test('tracing a second time while a trace runs offers to stop or show', async () => {
    const { page } = s;
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

  test('stop from the status bar: the helper and the launched service go away', async () => {
    await s.page.keyboard.press('Escape'); // no picker left open
    await s.stopFromStatusBar();
    await until(
      'the launched sample to go away with the helper',
      async () => !(await wb.portInUse(Number(service.split(':')[1]))),
      10000,
    );
    const envFiles = readdirSync(tmpdir()).filter(
      (d) => d.startsWith('outbound-lens-env-') && statSync(join(tmpdir(), d)).mtimeMs >= startedAt,
    );
    check(!envFiles.length, `the launch environment files outlive the trace: ${envFiles.join(', ')}`);
  });

  test('a net/http ServeMux handler gets a code lens too', async () => {
    const { page } = s;
    // The downstream stand-in routes with http.ServeMux: its /truth handler.
    await wb.openFile(page, 'downstream/main.go');
    await wb.gotoLine(page, truthFn.line);
    const lens = await until(
      'the code lens above the ServeMux /truth handler',
      () => wb.lensAbove(page, truthFn.text),
      30000,
    );
    check(/Trace outbound connections/.test(lens), `the lens above the /truth handler reads "${lens}"`);
    await s.shot('servemux-lens');
  });

  test('build and launch: a module with several main packages asks which one', async () => {
    await s.ensureNoTrace();
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
    const main = s.page;
    ({ page: s.page } = await wb.openWorkbench(s.browser, s.cs.url, mod));
    const { page } = s;
    try {
      await wb.runCommand(page, 'Outbound Lens: Trace outbound connections');
      await wb.pickQuickItem(page, 'Build and launch the workspace service under tracing');
      let seen = [];
      const rows = await until(
        'the main package pick',
        async () => {
          seen = await wb.quickPickRows(page);
          return seen.some((x) => x.includes('./cmd/api')) && seen;
        },
        60000,
      ).catch(async (e) => {
        log(`the quick pick's rows when it gave up: ${JSON.stringify(seen)}`);
        for (const n of await wb.notifications(page)) log(`notification: "${n.text}"`);
        await s.shot('main-package-pick');
        throw e;
      });
      check(
        rows.some((x) => x.includes('./cmd/downstream')) && !rows.some((x) => /^\.\s|the folder itself/.test(x)),
        `the pick lists ${JSON.stringify(rows)}, want ./cmd/api and ./cmd/downstream only`,
      );
      await wb.pickQuickItem(page, './cmd/api');
      await s.statusBar(/tracing · \d+ req/, 180000);
      const launched = launchedPids();
      check(
        launched.length === 1 && readlinkSync(`/proc/${launched[0]}/exe`).endsWith('/api'),
        `want the service built from ./cmd/api running, found ${launched.map((p) => readlinkSync(`/proc/${p}/exe`))}`,
      );
      await until(
        'the launched service to answer /health',
        async () => (await wb.httpGet(`http://${service}/health`)).status === 200,
        30000,
      );
      await s.sendRequests(service, [['/echo', 'e2e-cmd-api-echo-1']]);
      await s.checkTuples(await wb.panelFrame(page), 'e2e-cmd-api-echo-1', '/echo', 1);
      await s.stopFromStatusBar();
    } finally {
      await page
        .context()
        .close()
        .catch(() => {});
      s.page = main;
    }
  });
});
