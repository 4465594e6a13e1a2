// The webview panel's host: serves the page (CSP with a per-load nonce,
// resources through asWebviewUri), forwards rows from the insight server,
// and carries out what the page asks (open a file, export, stop).
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { homedir } from 'node:os';
import * as vscode from 'vscode';
import { isFromPanel, type FromPanel, type ToPanel } from '../shared/messages';
import { queryRequest, snapshotRequest } from '../shared/protocol';
import { toNdjson } from '../shared/export';
import type { Ctx } from './ctx';
import { PANEL_VIEW_TYPE } from './viewTypes';

export class Panel implements vscode.Disposable {
  private static current?: Panel;
  private sentSeq = 0;
  private ready = false;
  private disposables: vscode.Disposable[] = [];
  private pulling = false;
  private pullAgain = false;
  private pendingFilter?: string;

  static show(ctx: Ctx): Panel {
    if (Panel.current) {
      Panel.current.panel.reveal(undefined, true);
      return Panel.current;
    }
    const panel = vscode.window.createWebviewPanel(
      PANEL_VIEW_TYPE,
      'Outbound Lens',
      { viewColumn: vscode.ViewColumn.Beside, preserveFocus: true },
      Panel.options(ctx),
    );
    return (Panel.current = new Panel(ctx, panel));
  }

  static revive(ctx: Ctx, panel: vscode.WebviewPanel): void {
    panel.webview.options = Panel.options(ctx);
    Panel.current?.dispose();
    Panel.current = new Panel(ctx, panel);
  }

  private static options(ctx: Ctx): vscode.WebviewPanelOptions & vscode.WebviewOptions {
    return {
      enableScripts: true,
      retainContextWhenHidden: false,
      localResourceRoots: [
        vscode.Uri.joinPath(ctx.extensionUri, 'dist'),
        vscode.Uri.joinPath(ctx.extensionUri, 'media'),
      ],
    };
  }

  private constructor(
    private readonly ctx: Ctx,
    readonly panel: vscode.WebviewPanel,
  ) {
    panel.iconPath = vscode.Uri.joinPath(ctx.extensionUri, 'media', 'icon.svg');
    panel.webview.html = this.html();
    this.disposables.push(
      panel.onDidDispose(() => this.dispose()),
      panel.webview.onDidReceiveMessage((m: unknown) => {
        if (isFromPanel(m)) void this.onMessage(m);
      }),
      // A hidden webview is torn down (retainContextWhenHidden: false); it
      // says 'ready' with its last seq when it comes back.
      panel.onDidChangeViewState(() => {
        if (!panel.visible) this.ready = false;
      }),
      ctx.controller.onStatus(() => this.status()),
      ctx.onDidChangeRecords(() => void this.pull()),
      ctx.onWillDispose(() => this.dispose()),
    );
  }

  private post(m: ToPanel): void {
    void this.panel.webview.postMessage(m);
  }

  private async onMessage(m: FromPanel): Promise<void> {
    switch (m.type) {
      case 'ready': {
        const client = await this.ctx.startClient();
        const snap = await client.sendRequest(snapshotRequest, { afterSeq: m.afterSeq });
        this.sentSeq = snap.seq;
        this.ready = true;
        this.post({ type: 'snapshot', rows: snap.rows, dropped: snap.dropped, status: this.ctx.controller.status });
        if (this.pendingFilter !== undefined) this.post({ type: 'filter', text: this.pendingFilter });
        this.pendingFilter = undefined;
        return;
      }
      case 'open':
        return openLocation(m.file, m.line);
      case 'export':
        return this.exportRows(m.keys);
      case 'stop':
        await vscode.commands.executeCommand('outboundLens.stop');
        return;
      case 'trace':
        await vscode.commands.executeCommand('outboundLens.trace');
        return;
    }
  }

  /** The server has new rows: pull the ones this page has not seen. */
  private async pull(): Promise<void> {
    const client = this.ctx.client;
    if (!this.ready || !client) return;
    if (this.pulling) {
      this.pullAgain = true;
      return;
    }
    this.pulling = true;
    try {
      do {
        this.pullAgain = false;
        const r = await client.sendRequest(queryRequest, { afterSeq: this.sentSeq });
        this.sentSeq = r.seq;
        if (r.rows.length) this.post({ type: 'rows', rows: r.rows, dropped: r.dropped });
      } while (this.pullAgain);
    } finally {
      this.pulling = false;
    }
  }

  /** Sets the page's filter, once it is ready to receive it. */
  filter(text: string): void {
    if (this.ready) this.post({ type: 'filter', text });
    else this.pendingFilter = text;
  }

  private status(): void {
    this.post({ type: 'status', status: this.ctx.controller.status });
  }

  private async exportRows(keys: string[]): Promise<void> {
    const client = this.ctx.client;
    if (!client) return;
    const r = await client.sendRequest(queryRequest, { afterSeq: 0, keys });
    const uri = await vscode.window.showSaveDialog({
      title: 'Export traced records',
      filters: { 'NDJSON records': ['ndjson', 'jsonl'] },
      defaultUri: vscode.Uri.joinPath(
        vscode.workspace.workspaceFolders?.[0]?.uri ?? vscode.Uri.file(homedir()),
        'outbound-lens.ndjson',
      ),
    });
    if (!uri) return;
    await vscode.workspace.fs.writeFile(uri, Buffer.from(toNdjson(r.rows), 'utf8'));
    void vscode.window.showInformationMessage(`Outbound Lens: exported ${r.rows.length} rows to ${uri.fsPath}`);
  }

  private html(): string {
    const webview = this.panel.webview;
    const nonce = randomBytes(16).toString('base64');
    const js = webview.asWebviewUri(vscode.Uri.joinPath(this.ctx.extensionUri, 'dist', 'webview.js'));
    const css = webview.asWebviewUri(vscode.Uri.joinPath(this.ctx.extensionUri, 'dist', 'webview.css'));
    const csp = [
      "default-src 'none'",
      `style-src ${webview.cspSource} 'unsafe-inline'`,
      `font-src ${webview.cspSource}`,
      `img-src ${webview.cspSource}`,
      `script-src 'nonce-${nonce}'`,
    ].join('; ');
    return `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="UTF-8">
<meta http-equiv="Content-Security-Policy" content="${csp}">
<meta name="viewport" content="width=device-width, initial-scale=1.0">
<link rel="stylesheet" href="${css}">
<title>Outbound Lens</title>
</head>
<body>
<div id="app"></div>
<script nonce="${nonce}" src="${js}"></script>
</body>
</html>`;
  }

  dispose(): void {
    if (Panel.current === this) Panel.current = undefined;
    for (const d of this.disposables) d.dispose();
    this.disposables = [];
    this.panel.dispose();
  }
}

/** Opens a recorded source location; a binary built elsewhere is matched by its trailing path. */
export async function openLocation(file: string, line: number): Promise<void> {
  let uri: vscode.Uri | undefined = existsSync(file) ? vscode.Uri.file(file) : undefined;
  if (!uri) {
    const parts = file.split('/').filter(Boolean);
    for (let n = Math.min(parts.length, 4); n >= 1 && !uri; n--) {
      const found = await vscode.workspace.findFiles(parts.slice(-n).join('/'), '**/node_modules/**', 2);
      if (found.length === 1) uri = found[0];
    }
  }
  if (!uri) {
    void vscode.window.showWarningMessage(`Outbound Lens: ${file} is not in this workspace.`);
    return;
  }
  const pos = new vscode.Position(Math.max(0, line - 1), 0);
  await vscode.window.showTextDocument(uri, {
    selection: new vscode.Range(pos, pos),
    preview: true,
    viewColumn: vscode.ViewColumn.One,
  });
}
