// Which process to trace: the Go debug session's, one picked from the
// running Go processes, or the workspace's service built and launched
// under tracing.
//
// The debuggee's pid: Delve's DAP server sends a standard `process` event
// with `systemProcessId`, which a debug adapter tracker sees. When it has
// not (older Delve, or the event came before activation), an attach
// configuration's `processId` is used, and last the newest `__debug_bin*`
// process that `helper ps` lists (what Delve builds for launch configs).
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import * as vscode from 'vscode';
import { readLaunchConfig } from './config';
import { goBuild, mainPackages, packageArg } from './goBuild';
import { invalidEnv, type TraceTarget } from './traceSession';
import { listGoProcesses, workspaceModule, type GoProcess } from './helperCli';

export class DebugPids implements vscode.Disposable {
  private pids = new Map<string, number>();
  private disposables: vscode.Disposable[] = [];

  constructor() {
    this.disposables.push(
      vscode.debug.registerDebugAdapterTrackerFactory('go', {
        createDebugAdapterTracker: (session) => ({
          onDidSendMessage: (m: { type?: string; event?: string; body?: { systemProcessId?: number } }) => {
            if (m?.type === 'event' && m.event === 'process' && typeof m.body?.systemProcessId === 'number') {
              this.pids.set(session.id, m.body.systemProcessId);
            }
          },
        }),
      }),
      vscode.debug.onDidTerminateDebugSession((s) => this.pids.delete(s.id)),
    );
  }

  async pidOf(session: vscode.DebugSession, helperPath: string): Promise<number | undefined> {
    const known = this.pids.get(session.id);
    if (known) return known;
    const cfgPid = Number(session.configuration.processId);
    if (session.configuration.request === 'attach' && Number.isInteger(cfgPid) && cfgPid > 0) return cfgPid;
    const procs = await listGoProcesses(helperPath).catch(() => [] as GoProcess[]);
    const debugBins = procs.filter((p) => basename(p.exe).startsWith('__debug_bin')).sort((a, b) => b.pid - a.pid);
    return debugBins[0]?.pid;
  }

  dispose(): void {
    for (const d of this.disposables) d.dispose();
  }
}

interface TargetItem extends vscode.QuickPickItem {
  target?: TraceTarget | 'launch';
}

export async function pickTarget(helperPath: string, debugPids: DebugPids): Promise<TraceTarget | undefined> {
  const session = vscode.debug.activeDebugSession;
  if (session && session.type === 'go') {
    const pid = await debugPids.pidOf(session, helperPath);
    if (pid) return { pid };
    void vscode.window.showWarningMessage('Outbound Lens: could not find the debugged process; pick it from the list.');
  }
  const folder = vscode.workspace.workspaceFolders?.[0];
  const module = folder ? await workspaceModule(folder.uri.fsPath) : undefined;

  const quickPick = vscode.window.createQuickPick<TargetItem>();
  quickPick.title = 'Outbound Lens: trace which Go service?';
  quickPick.placeholder = 'Pick a running Go process, or build and launch the workspace service';
  quickPick.busy = true;
  const launchItem: TargetItem = {
    label: '$(play) Build and launch the workspace service under tracing',
    detail: folder
      ? `go build in ${folder.uri.fsPath}, then start it under the helper so no early request is missed`
      : 'needs an open folder',
    target: 'launch',
  };
  quickPick.items = [launchItem];
  quickPick.show();
  listGoProcesses(helperPath, module)
    .then((procs) => {
      const items: TargetItem[] = procs.map((p) => ({
        label: `${basename(p.exe)}  ·  pid ${p.pid}`,
        description: [p.module, p.goVersion].filter(Boolean).join(' · '),
        detail: p.cmdline,
        target: { pid: p.pid },
      }));
      const ours = items.filter((_, i) => module && procs[i].module === module);
      const others = items.filter((_, i) => !(module && procs[i].module === module));
      quickPick.items = [
        ...(ours.length
          ? [{ label: 'this workspace', kind: vscode.QuickPickItemKind.Separator } as TargetItem, ...ours]
          : []),
        { label: 'other Go processes', kind: vscode.QuickPickItemKind.Separator } as TargetItem,
        ...others,
        { label: '', kind: vscode.QuickPickItemKind.Separator } as TargetItem,
        launchItem,
      ];
    })
    .catch((e: Error) => {
      quickPick.placeholder = `Could not list Go processes (${e.message}); you can still build and launch`;
    })
    .finally(() => (quickPick.busy = false));

  const chosen = await new Promise<TargetItem | undefined>((resolve) => {
    quickPick.onDidAccept(() => resolve(quickPick.selectedItems[0]));
    quickPick.onDidHide(() => resolve(undefined));
  });
  quickPick.dispose();
  if (!chosen?.target) return undefined;
  if (chosen.target !== 'launch') return chosen.target;
  if (!folder) {
    void vscode.window.showErrorMessage('Outbound Lens: open the Go service’s folder to build and launch it.');
    return undefined;
  }
  return launchWorkspace(folder);
}

/**
 * Build and launch: the folder's main package (outboundLens.launch.package,
 * else the folder's own, else the only one under it, else the user picks)
 * built into a temporary directory, started in the folder with
 * outboundLens.launch.args and .env.
 */
async function launchWorkspace(folder: vscode.WorkspaceFolder): Promise<TraceTarget | undefined> {
  const dir = folder.uri.fsPath;
  const launch = readLaunchConfig(folder.uri);
  const badEnv = invalidEnv(launch.env);
  if (badEnv) {
    void vscode.window.showErrorMessage(`Outbound Lens: outboundLens.launch.env: ${badEnv}.`);
    return undefined;
  }
  const pkg = launch.package ? packageArg(dir, launch.package) : await pickMainPackage(dir);
  if (!pkg) return undefined;
  const bin = await buildWorkspace(dir, pkg);
  if (!bin) return undefined;
  return { launch: [bin, ...launch.args], cwd: dir, env: launch.env };
}

async function pickMainPackage(dir: string): Promise<string | undefined> {
  const found = await vscode.window.withProgress(
    { location: vscode.ProgressLocation.Notification, title: 'Outbound Lens: finding main packages' },
    () => mainPackages(dir),
  );
  if (!found.ok) {
    void vscode.window.showErrorMessage(`Outbound Lens: go list in ${dir} failed: ${found.detail}`);
    return undefined;
  }
  // The folder's own package when it is one, else the only one.
  if (found.packages[0] === '.' || found.packages.length === 1) return found.packages[0];
  if (!found.packages.length) {
    void vscode.window.showErrorMessage(
      `Outbound Lens: there is no main package in ${dir} to build. Open the service's folder, or set outboundLens.launch.package.`,
    );
    return undefined;
  }
  const pick = await vscode.window.showQuickPick(
    found.packages.map((p) => ({ label: p, description: p === '.' ? 'the folder itself' : undefined })),
    {
      title: 'Outbound Lens: build and launch which main package?',
      placeHolder: 'Set outboundLens.launch.package to skip this question',
      // The second question of a flow the user started: it stays open when
      // the focus moves (a restoring panel, a notification), as the first
      // answer would otherwise be lost without a word.
      ignoreFocusOut: true,
    },
  );
  return pick?.label;
}

/** `go build` of the folder's main package pkg into a fresh temporary directory. */
export async function buildWorkspace(dir: string, pkg = '.'): Promise<string | undefined> {
  const name = basename(pkg === '.' ? dir : pkg) || 'service';
  const out = join(mkdtempSync(join(tmpdir(), 'outbound-lens-build-')), name);
  return vscode.window.withProgress(
    {
      location: vscode.ProgressLocation.Notification,
      title: `Outbound Lens: go build ${pkg === '.' ? basename(dir) : pkg}`,
    },
    async () => {
      const r = await goBuild(dir, out, pkg);
      if (!r.ok) {
        void vscode.window.showErrorMessage(`Outbound Lens: go build failed: ${r.detail}`);
        return undefined;
      }
      return out;
    },
  );
}
