// End-of-line decorations on every line of the outbound calls' call paths
// (the line that makes a call, and each line further out that led to it),
// e.g. "→ 127.0.0.1:8081 GET /echo ×41 (3 new, 38 reused) · p50 2.1 ms",
// with recent tuples on hover.
// The text comes from the insight server (the same text as its inlay hints).
import * as vscode from 'vscode';
import type { LanguageClient } from 'vscode-languageclient/node';
import { decorationsRequest, type CallSiteDecoration } from '../shared/protocol';

export class Decorations implements vscode.Disposable {
  private type = vscode.window.createTextEditorDecorationType({
    after: {
      margin: '0 0 0 2em',
      color: new vscode.ThemeColor('editorCodeLens.foreground'),
      fontStyle: 'italic',
    },
    rangeBehavior: vscode.DecorationRangeBehavior.ClosedClosed,
  });
  private byUri = new Map<string, Set<number>>();
  private disposables: vscode.Disposable[] = [];
  private timer?: NodeJS.Timeout;

  constructor(private readonly client: () => LanguageClient | undefined) {
    this.disposables.push(
      vscode.window.onDidChangeVisibleTextEditors(() => this.refresh()),
      vscode.workspace.onDidSaveTextDocument(() => this.refresh()),
    );
  }

  has(uri: vscode.Uri, line: number): boolean {
    return this.byUri.get(uri.toString())?.has(line) ?? false;
  }

  /** Refreshes the visible Go editors, at most every 300 ms. */
  refresh(): void {
    if (this.timer) return;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      void this.update();
    }, 300);
  }

  private async update(): Promise<void> {
    const client = this.client();
    if (!client?.isRunning()) return;
    for (const editor of vscode.window.visibleTextEditors) {
      const doc = editor.document;
      if (doc.languageId !== 'go' || doc.uri.scheme !== 'file') continue;
      let items: CallSiteDecoration[] = [];
      try {
        items = await client.sendRequest(decorationsRequest, { uri: doc.uri.toString() });
      } catch {
        continue;
      }
      const lines = new Set<number>();
      const opts: vscode.DecorationOptions[] = [];
      for (const it of items) {
        if (it.line < 1 || it.line > doc.lineCount) continue;
        const line = doc.lineAt(it.line - 1);
        lines.add(it.line);
        const hover = new vscode.MarkdownString(it.hover);
        opts.push({ range: line.range, hoverMessage: hover, renderOptions: { after: { contentText: it.text } } });
      }
      this.byUri.set(doc.uri.toString(), lines);
      editor.setDecorations(this.type, opts);
    }
  }

  clear(): void {
    this.byUri.clear();
    for (const e of vscode.window.visibleTextEditors) e.setDecorations(this.type, []);
  }

  dispose(): void {
    clearTimeout(this.timer);
    this.type.dispose();
    for (const d of this.disposables) d.dispose();
  }
}
