// Each command is a small factory (ctx) => handler.
import execa from 'execa';
import { accessSync, chmodSync, constants, existsSync } from 'node:fs';
import * as vscode from 'vscode';
import type { Ctx } from './ctx';
import { Panel } from './panel';
import { ALLOW_WITHOUT_PASSWORD, errorPrompt, TRACE_AS_ROOT } from './errorSteps';
import { decide, gatherFacts, rootSetting, SETCAP_CAPS } from './privileges';
import { pickTarget } from './targets';
import type { TraceTarget } from './traceSession';

type Handler = (...args: unknown[]) => unknown;

/** Quotes for a POSIX shell (what the integrated terminal runs). */
export function shellQuote(s: string): string {
  return /^[\w@%+=:,./-]+$/.test(s) ? s : `'${s.replace(/'/g, `'\\''`)}'`;
}

/** The command an administrator runs once so the helper traces without a password. */
function setcapCommand(helperPath: string): string {
  return `setcap ${SETCAP_CAPS} ${shellQuote(helperPath)}`;
}

/** Resolves with the exit code of the terminal's process when the terminal closes. */
function terminalEnded(t: vscode.Terminal): Promise<number | undefined> {
  return new Promise((resolve) => {
    const sub = vscode.window.onDidCloseTerminal((closed) => {
      if (closed !== t) return;
      sub.dispose();
      resolve(closed.exitStatus?.code);
    });
  });
}

function helperMissing(ctx: Ctx): boolean {
  if (existsSync(ctx.config.helperPath)) {
    // A VSIX may not keep the executable bit; the bundled helper is ours to fix.
    try {
      accessSync(ctx.config.helperPath, constants.X_OK);
    } catch {
      try {
        chmodSync(ctx.config.helperPath, 0o755);
      } catch {
        /* reported when it fails to run */
      }
    }
    return false;
  }
  void vscode.window
    .showErrorMessage(
      `Outbound Lens: the helper is missing at ${ctx.config.helperPath}. Build it with \`npm run build\`, or set outboundLens.helperPath.`,
      'Open Settings',
    )
    .then((a) => a && vscode.commands.executeCommand('workbench.action.openSettings', 'outboundLens.helperPath'));
  return true;
}

/** A pid given with the command (a keybinding's or task's `args`, another extension): `{ "pid": 1234 }`. */
function pidArg(arg: unknown): number | undefined {
  const pid = Number((arg as { pid?: unknown } | undefined)?.pid);
  return Number.isInteger(pid) && pid > 0 ? pid : undefined;
}

/** `{ "asRoot": true }` with the command's target: trace it through sudo (after NOT_PERMITTED). */
function asRootArg(arg: unknown): boolean {
  return (arg as { asRoot?: unknown } | undefined)?.asRoot === true;
}

export function trace(ctx: Ctx): Handler {
  return async (arg?: unknown) => {
    if (ctx.controller.active) {
      const s = ctx.controller.status;
      const a = await vscode.window.showWarningMessage(
        `Outbound Lens is already tracing${s.pid ? ` pid ${s.pid}` : ''}. One trace at a time.`,
        'Stop current trace',
        'Show panel',
      );
      if (a === 'Stop current trace') await ctx.controller.stop();
      else if (a === 'Show panel') Panel.show(ctx);
      return;
    }
    if (helperMissing(ctx)) return;
    await ctx.startClient();
    const givenPid = pidArg(arg);
    const target: TraceTarget | undefined = givenPid
      ? { pid: givenPid }
      : await pickTarget(ctx.config.helperPath, ctx.debugPids);
    if (!target) return;

    const setting = asRootArg(arg) ? rootSetting(ctx.config.privilegeMethod) : ctx.config.privilegeMethod;
    const facts = await gatherFacts(ctx.config.helperPath, setting);
    if (facts.check && !facts.check.btf) {
      void vscode.window.showErrorMessage(
        `Outbound Lens cannot trace on this machine: ${facts.check.reason ?? 'no BTF'}`,
      );
      return;
    }
    const decision = decide(facts);
    ctx.output.info(`privileges: ${decision.method} (${decision.reason})`);
    if (decision.method === 'none') {
      const setcap = setcapCommand(ctx.config.helperPath);
      const a = await vscode.window.showErrorMessage(
        `Outbound Lens needs root or the CAP_BPF and CAP_PERFMON capabilities to trace, and there is no way to get them here (not root, the helper has no capabilities, and no sudo to ask for a password). ` +
          `Ask an administrator to run once: ${setcap} — or install sudo, and tracing will ask for your password in a terminal (outboundLens.privilegeMethod "terminal").`,
        'Copy setcap command',
      );
      if (a) await vscode.env.clipboard.writeText(setcap);
      return;
    }

    let terminal: vscode.Terminal | undefined;
    Panel.show(ctx);
    const { done } = ctx.controller.start({
      helperPath: ctx.config.helperPath,
      target,
      method: decision.method,
      headers: ctx.config.headers,
      captureStatements: ctx.config.captureStatements,
      // sudo itself is the terminal's process: no shell, so no shell history
      // with the token, and its end is the terminal's end.
      openTerminal: (cmd, args) => {
        const t = (terminal = vscode.window.createTerminal({
          name: 'Outbound Lens (sudo)',
          iconPath: new vscode.ThemeIcon('pulse'),
          shellPath: cmd,
          shellArgs: args,
        }));
        t.show(false);
        void vscode.window.showInformationMessage(
          'Outbound Lens: type your password in the terminal to start tracing. It is not stored.',
        );
        return terminalEnded(t);
      },
      stopTerminal: () => {
        const t = terminal;
        t?.sendText('\x03', false);
        setTimeout(() => t?.dispose(), 3000);
      },
    });
    const r = await done;
    if (r.error?.code === 'SUDO_FAILED') {
      const setcap = setcapCommand(ctx.config.helperPath);
      const a = await vscode.window.showErrorMessage(
        `Outbound Lens: ${r.error.message}. If the password was mistyped, trace again. If this account may not use sudo, ask an administrator to run once: ${setcap}`,
        'Trace again',
        'Copy setcap command',
      );
      if (a === 'Trace again') await vscode.commands.executeCommand('outboundLens.trace', target);
      else if (a) await vscode.env.clipboard.writeText(setcap);
    } else if (r.error) {
      const { text, actions } = errorPrompt(r.error);
      const a = await vscode.window.showErrorMessage(text, ...actions);
      if (a === ALLOW_WITHOUT_PASSWORD) await vscode.commands.executeCommand('outboundLens.allowWithoutPassword');
      else if (a === TRACE_AS_ROOT)
        await vscode.commands.executeCommand('outboundLens.trace', { ...target, asRoot: true });
    } else if (r.endReason === 'target-exited' || r.endReason === 'target-exec') {
      const pid = ctx.controller.status.pid;
      const what = r.endReason === 'target-exec' ? 'started another program (exec)' : 'exited';
      const a = await vscode.window.showWarningMessage(
        `Outbound Lens: the traced service${pid ? ` (pid ${pid})` : ''} ${what}, so the trace stopped. Its records stay in the panel; start the service again and run "Trace outbound connections" to go on.`,
        'Trace again',
        'Show panel',
      );
      if (a === 'Trace again') await vscode.commands.executeCommand('outboundLens.trace');
      else if (a === 'Show panel') Panel.show(ctx);
    } else if (r.exitCode && r.exitCode !== 0 && r.exitCode !== 130) {
      ctx.output.error(r.stderr);
      void vscode.window.showErrorMessage(
        `Outbound Lens: the helper exited with ${r.exitCode}. ${r.stderr.trim().split('\n').pop() ?? ''}`,
      );
    }
  };
}

export function stop(ctx: Ctx): Handler {
  return async () => {
    if (!ctx.controller.active) {
      void vscode.window.showInformationMessage('Outbound Lens: no trace is running.');
      return;
    }
    await ctx.controller.stop();
  };
}

export function showPanel(ctx: Ctx): Handler {
  return async (arg?: unknown) => {
    await ctx.startClient();
    const panel = Panel.show(ctx);
    // From a handler's code lens: filter the panel to that route.
    const route = (arg as { route?: unknown } | undefined)?.route;
    if (typeof route === 'string' && route) panel.filter(`route:${route.split(' ').pop()}`);
  };
}

export function statusBarClick(ctx: Ctx): Handler {
  return async () => {
    if (ctx.controller.active) await ctx.controller.stop();
    else await showPanel(ctx)();
  };
}

export function allowWithoutPassword(ctx: Ctx): Handler {
  return async () => {
    if (helperMissing(ctx)) return;
    const helper = ctx.config.helperPath;
    const pick = await vscode.window.showInformationMessage(
      `Give ${helper} the capabilities to trace (${SETCAP_CAPS}) so tracing needs no password? Anyone who can run this file can then trace processes.`,
      { modal: true },
      'Allow',
    );
    if (pick !== 'Allow') return;
    const r = await execa('pkexec', ['setcap', SETCAP_CAPS, helper], { reject: false });
    if (r.exitCode === 0) {
      void vscode.window.showInformationMessage('Outbound Lens: tracing no longer needs a password.');
      return;
    }
    // No polkit agent (SSH, WSL): the same command in a terminal, with sudo
    // as the terminal's process, so its end tells whether it worked.
    const t = vscode.window.createTerminal({
      name: 'Outbound Lens (setcap)',
      iconPath: new vscode.ThemeIcon('pulse'),
      shellPath: 'sudo',
      shellArgs: ['setcap', SETCAP_CAPS, helper],
    });
    t.show(false);
    void vscode.window.showInformationMessage(
      'Outbound Lens: type your password in the terminal to let tracing run without one. It is not stored.',
    );
    void terminalEnded(t).then((code) => {
      if (code === 0) void vscode.window.showInformationMessage('Outbound Lens: tracing no longer needs a password.');
      else
        void vscode.window.showErrorMessage(
          `Outbound Lens: setcap did not run (sudo ended${code === undefined ? '' : ` with exit code ${code}`}). Ask an administrator to run once: ${setcapCommand(helper)}`,
        );
    });
  };
}
