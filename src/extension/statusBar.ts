// The status bar item: attaching / tracing · N req / stopped. Clicking it
// while tracing stops the trace; otherwise it shows the panel.
import * as vscode from 'vscode';
import { LOST_HINT, lostText, type TraceStatus } from '../shared/rows';

export class StatusBar implements vscode.Disposable {
  private item = vscode.window.createStatusBarItem('outboundLens.status', vscode.StatusBarAlignment.Left, 50);

  constructor() {
    this.item.name = 'Outbound Lens';
    this.item.command = 'outboundLens.statusBarClick';
  }

  update(s: TraceStatus): void {
    switch (s.state) {
      case 'idle':
        this.item.hide();
        return;
      case 'attaching':
        this.item.text = '$(sync~spin) Outbound Lens: attaching';
        this.item.tooltip = `Attaching to ${s.pid ? `pid ${s.pid}` : 'the service'} — click to stop`;
        break;
      case 'tracing':
        this.item.text = `$(pulse) tracing · ${s.requests} req${lostText(s) ? ` · ${lostText(s)}` : ''}`;
        this.item.tooltip = `Outbound Lens is tracing pid ${s.pid ?? '?'}${s.exe ? ` (${s.exe})` : ''} — click to stop${lostText(s) ? `\n${lostText(s)}: ${LOST_HINT}` : ''}`;
        break;
      case 'stopped':
        this.item.text = '$(debug-stop) Outbound Lens: stopped';
        this.item.tooltip = `${s.message ?? 'The trace stopped'} — click to show the panel${lostText(s) ? `\n${lostText(s)}: ${LOST_HINT}` : ''}`;
        break;
    }
    this.item.show();
  }

  dispose(): void {
    this.item.dispose();
  }
}
