// No privileges and no way to get them: code-server as an unprivileged user
// (uid 65534) without Go, sudo or pkexec on its PATH. Build-and-launch must
// say Go is missing, and tracing that no privileges can be had.
import { spawnSync } from 'node:child_process';
import { describe, test } from 'node:test';
import { check, log, session, wb } from './session.mjs';

const NOBODY = { uid: 65534, gid: 65534 };
const MISSING = ['go', 'sudo', 'pkexec'];

describe('no privileges (code-server as uid 65534, no sudo/pkexec)', () => {
  let PATH;
  let svc;
  const s = session(async (s) => {
    // The extension host takes its environment from code-server's when the
    // login shell cannot run (nologin), so that environment's PATH is the
    // user's: this machine's commands, less those.
    PATH = wb.pathWithout([...MISSING, 'gofmt', 'sudoedit']);
    const [addr] = await s.addrs(1);
    svc = await s.startSample('sample (unprivileged)', addr, NOBODY);
    await s.startWorkbench({ owner: NOBODY, env: { PATH, SHELL: '/usr/sbin/nologin' } });
  });

  test('failure: no privileges (code-server as uid 65534, no sudo/pkexec)', async () => {
    const { page } = s;
    for (const cmd of MISSING) {
      const at = spawnSync('sh', ['-c', `command -v ${cmd}`], { encoding: 'utf8', env: { PATH } }).stdout.trim();
      check(!at, `${cmd} is at ${at} on the unprivileged user's PATH`);
    }
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
    await s.shot('no-privileges');
    check(wb.helperTracePids(svc.pid).length === 0, `a helper traces pid ${svc.pid}`);
  });
});
