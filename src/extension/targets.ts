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
import { goBuild } from './goBuild';
import type { TraceTarget } from './traceSession';
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
  const bin = await buildWorkspace(folder.uri.fsPath);
  return bin ? { launch: [bin] } : undefined;
}

/** `go build` of the folder's main package into a fresh temporary directory. */
export async function buildWorkspace(dir: string): Promise<string | undefined> {
  const out = join(mkdtempSync(join(tmpdir(), 'outbound-lens-build-')), basename(dir) || 'service');
  return vscode.window.withProgress(
    { location: vscode.ProgressLocation.Notification, title: `Outbound Lens: go build ${basename(dir)}` },
    async () => {
      const r = await goBuild(dir, out);
      if (!r.ok) {
        void vscode.window.showErrorMessage(`Outbound Lens: go build failed: ${r.detail}`);
        return undefined;
      }
      return out;
    },
  );
}
