// Attach to a running process by pid, as root: the sample picked from the
// quick pick (listed under "this workspace"), stop leaves it serving; a
// window reload while tracing ends the trace; the traced service exiting
// while traced; a non-Go process, reached through a
// keybinding that passes its pid.
import { describe, test } from 'node:test';
import { check, log, session, until, wb } from './session.mjs';

const NON_GO_KEY = 'ctrl+alt+shift+8';

describe('attach to a running service by pid (as root)', () => {
  let attach; // the sample started by hand
  let attached;
  let sleeper;
  const s = session(async (s) => {
    [attach] = await s.addrs(1);
    attached = await s.startSample('sample (attach target)', attach);
    sleeper = await wb.startProcess('sleep (a non-Go process)', 'sleep', ['3600']);
    // A user's keybinding that traces a given pid: how a non-Go process is reached (the pick list shows only Go ones).
    await s.startWorkbench({
      profile: { keybindings: [{ key: NON_GO_KEY, command: 'outboundLens.trace', args: { pid: sleeper.pid } }] },
    });
    log(`workbench up at ${s.cs.url}`);
  });

  test('attach: pick the running sample by pid; stop leaves it serving', async () => {
    const { page } = s;
    await s.ensureNoTrace();
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
    await s.statusBar(/tracing · \d+ req/, 60000);
    await s.sendRequests(attach, [['/echo', 'e2e-attach-echo-1']]);
    const frame = await wb.panelFrame(page);
    await s.checkTuples(frame, 'e2e-attach-echo-1', '/echo', 1);
    await s.stopFromStatusBar();
    const h = await wb.httpGet(`http://${attach}/health`);
    check(
      h.status === 200 && wb.pidAlive(attached.pid),
      `the attached sample no longer serves after stop (${h.status})`,
    );
  });

  test('window reload while tracing: the trace stops, the service keeps serving', async () => {
    const { page } = s;
    await s.ensureNoTrace();
    await wb.runCommandAndPick(page, 'Outbound Lens: Trace outbound connections', `pid ${attached.pid}`);
    await s.statusBar(/tracing · \d+ req/, 60000);
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
    const h = await wb.httpGet(`http://${attach}/health`);
    check(
      h.status === 200 && wb.pidAlive(attached.pid),
      `the traced sample no longer serves after the reload (${h.status})`,
    );
    check(wb.helperTracePids(attached.pid).length === 0, `a helper traces pid ${attached.pid} after the reload`);
  });

  test('failure: the traced service exits while tracing', async () => {
    const { page } = s;
    await s.ensureNoTrace();
    await wb.runCommandAndPick(page, 'Outbound Lens: Trace outbound connections', `pid ${attached.pid}`);
    await s.statusBar(/tracing · \d+ req/, 60000);
    process.kill(attached.pid, 'SIGTERM');
    const n = await wb.waitForNotification(page, /exited/, 20000);
    check(/start the service again/i.test(n.text), `the message gives no next step: "${n.text}"`);
    log(`notification: "${n.text}" [${n.buttons.join(', ')}]`);
    await s.statusBar(/Outbound Lens: stopped/, 10000);
    await s.helpersGone();
  });

  test('failure: a non-Go process (a keybinding with a pid)', async () => {
    const { page } = s;
    await s.ensureNoTrace();
    await wb.focusWorkbench(page);
    await page.keyboard.press('Control+Alt+Shift+8');
    const n = await wb.waitForNotification(page, /NOT_GO|not a Go/, 20000);
    check(/Go programs only/.test(n.text), `the message gives no next step: "${n.text}"`);
    log(`notification: "${n.text}"`);
    check(wb.helperTracePids(sleeper.pid).length === 0, `a helper still traces pid ${sleeper.pid}`);
  });
});
