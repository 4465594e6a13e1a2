// The privilege routes of a user who is not root: a throwaway account
// (removed at the end, also when interrupted) running code-server, allowed
// by sudo to run the bundled helper only. With a password: the terminal
// route, a mistyped password first. Without one: sudo -n, no terminal. Then
// "Allow tracing without a password" gives the helper capabilities, and
// tracing runs it as is.
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { describe, test } from 'node:test';
import { check, log, session, wb } from './session.mjs';

const SUDOER = 'ol-e2e-sudoer';

describe('privileges of a sudoer (code-server as a throwaway account)', () => {
  let user;
  let helper; // the bundled helper of the account's profile
  let addr;
  let svc; // the account's own sample
  const s = session(async (s) => {
    s.cleanups.push(() => wb.removeSudoer(SUDOER));
    user = wb.createSudoer(SUDOER);
    [addr] = await s.addrs(1);
    svc = await s.startSample('sample (the sudoer’s)', addr, { uid: user.uid, gid: user.gid });
    await s.startWorkbench({ owner: user, env: { SHELL: '/bin/bash', USER: user.name } });
    // sudo may run the bundled helper only, as a cautious administrator allows.
    helper = wb.bundledHelper(s.dirs);
    wb.allowSudo(user, helper);
  });

  test('privileges: a sudoer mistypes, then types the password in a terminal; the helper connects back', async () => {
    const { page } = s;
    await wb.runCommand(page, 'Outbound Lens: Trace outbound connections');
    await wb.pickQuickItem(page, `pid ${svc.pid}`);
    // auto: not root, no capabilities, sudo wants a password, no pkexec → the terminal.
    log(`terminal: ${await s.sudoPrompt()}`);
    // A mistyped password: sudo ends, and the message says what to do.
    await wb.typeInTerminal(page, `${user.password}-wrong`);
    const failed = await wb.waitForNotification(page, /sudo in the terminal ended/, 30000);
    check(
      /exit code 1/.test(failed.text) && /trace again/i.test(failed.text) && /setcap/.test(failed.text),
      `the message after a mistyped password does not say what to do: "${failed.text}"`,
    );
    log(`notification: "${failed.text}" [${failed.buttons.join(', ')}]`);
    await s.statusBar(/Outbound Lens: stopped/, 10000);
    await wb.clickNotificationButton(page, /sudo in the terminal ended/, 'Trace again');
    log(`terminal: ${await s.sudoPrompt()}`);
    await wb.typeInTerminal(page, user.password);
    await s.statusBar(/tracing · \d+ req/, 60000);
    await s.sendRequests(addr, [['/echo', 'e2e-sudo-echo-1']]);
    const frame = await wb.panelFrame(page);
    await s.checkTuples(frame, 'e2e-sudo-echo-1', '/echo', 1);
    await s.shot('sudo-terminal');
    const typed = await wb.terminalText(page);
    check(!typed.includes(user.password), 'the password shows in the terminal');
    await s.stopFromStatusBar();
    const h = await wb.httpGet(`http://${addr}/health`);
    check(h.status === 200 && wb.pidAlive(svc.pid), `the sudoer's sample no longer serves after stop (${h.status})`);
  });

  test('privileges: passwordless sudo runs the helper with sudo -n, no terminal', async () => {
    const { page } = s;
    wb.allowSudo(user, helper, { nopasswd: true });
    await s.ensureNoTrace();
    await wb.runCommand(page, 'Outbound Lens: Trace outbound connections');
    await wb.pickQuickItem(page, `pid ${svc.pid}`);
    await s.statusBar(/tracing · \d+ req/, 60000);
    const running = wb.helperTracePids(svc.pid);
    check(running.length === 1, `want one helper tracing pid ${svc.pid}, found ${running.join(', ') || 'none'}`);
    // helper ← sudo (sudo shows itself as `sudo <command>`) ← the extension host, not a terminal.
    const chain = s.ancestors(running[0]).map((p) => readFileSync(`/proc/${p}/cmdline`, 'utf8').split('\0'));
    const parent = chain.find((argv) => !/(^|\/)sudo$/.test(argv[0]));
    check(
      /(^|\/)sudo$/.test(chain[0]?.[0] ?? '') && parent?.some((a) => a === '--type=extensionHost'),
      `the helper does not run under sudo started by the extension host: ${JSON.stringify(chain)}`,
    );
    await s.sendRequests(addr, [['/echo', 'e2e-sudo-n-echo-1']]);
    await s.checkTuples(await wb.panelFrame(page), 'e2e-sudo-n-echo-1', '/echo', 1);
    await s.stopFromStatusBar();
    check(wb.pidAlive(svc.pid), 'the sudoer’s sample is gone after stop');
  });

  test('privileges: "Allow tracing without a password" gives the helper capabilities; it then runs as is', async () => {
    const { page } = s;
    // An administrator lets this account run setcap (with its password); no pkexec here, so: the terminal.
    wb.allowSudo(user, [helper, '/usr/sbin/setcap']);
    wb.forgetSudoPassword(user.name);
    await s.ensureNoTrace();
    await wb.runCommand(page, 'Outbound Lens: Allow tracing without a password');
    await wb.clickDialogButton(page, 'Allow');
    log(`terminal: ${await s.sudoPrompt()}`);
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
    await s.statusBar(/tracing · \d+ req/, 60000);
    const running = wb.helperTracePids(svc.pid);
    check(running.length === 1, `want one helper tracing pid ${svc.pid}, found ${running.join(', ') || 'none'}`);
    const parent = readFileSync(`/proc/${s.ancestors(running[0])[0]}/cmdline`, 'utf8').split('\0');
    check(
      parent.includes('--type=extensionHost'),
      `the helper is not run by the extension host itself: its parent is ${JSON.stringify(parent)}`,
    );
    const status = readFileSync(`/proc/${running[0]}/status`, 'utf8');
    check(
      new RegExp(`^Uid:\\s+${user.uid}\\s`, 'm').test(status),
      `the helper does not run as ${user.name}: ${status.match(/^Uid:.*$/m)?.[0]}`,
    );
    await s.sendRequests(addr, [['/echo', 'e2e-caps-echo-1']]);
    await s.checkTuples(await wb.panelFrame(page), 'e2e-caps-echo-1', '/echo', 1);
    await s.stopFromStatusBar();
  });
});
