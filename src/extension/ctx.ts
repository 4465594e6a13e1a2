// One object owns the language client, the config, the running trace and
// every disposable; commands receive it instead of reaching for globals.
// It imports no view: the panel subscribes to its events (and to the
// controller's status) instead of being called from here.
import * as vscode from 'vscode';
import type { LanguageClient } from 'vscode-languageclient/node';
import { changedNotification, configNotification } from '../shared/protocol';
import { createClient } from './client';
import { onConfigChange, readConfig, type Config } from './config';
import { Decorations } from './decorations';
import { StatusBar } from './statusBar';
import { DebugPids } from './targets';
import { TraceController } from './traceController';

export class Ctx implements vscode.Disposable {
  config: Config;
  client?: LanguageClient;
  readonly output = vscode.window.createOutputChannel('Outbound Lens', { log: true });
  readonly controller: TraceController;
  readonly statusBar = new StatusBar();
  readonly decorations: Decorations;
  readonly debugPids = new DebugPids();
  private disposables: vscode.Disposable[] = [];
  private readonly recordsChanged = new vscode.EventEmitter<void>();
  private readonly disposing = new vscode.EventEmitter<void>();
  /** The insight server has rows a view may not have shown yet. */
  readonly onDidChangeRecords = this.recordsChanged.event;
  /** The extension is going away: views close. */
  readonly onWillDispose = this.disposing.event;

  constructor(readonly extension: vscode.ExtensionContext) {
    this.config = readConfig(extension.extensionPath);
    this.decorations = new Decorations(() => this.client);
    this.controller = new TraceController({
      sendNotification: (type, params) => this.client?.sendNotification(type, params),
    });
    this.disposables.push(
      this.controller.onStatus((s) => {
        this.statusBar.update(s);
        void vscode.commands.executeCommand(
          'setContext',
          'outboundLens.tracing',
          s.state === 'tracing' || s.state === 'attaching',
        );
      }),
      onConfigChange(() => {
        this.config = readConfig(extension.extensionPath);
        void this.client?.sendNotification(configNotification, { maxRecords: this.config.maxRecords });
      }),
    );
  }

  get extensionUri(): vscode.Uri {
    return this.extension.extensionUri;
  }

  async startClient(): Promise<LanguageClient> {
    if (this.client) return this.client;
    const client = createClient(this.extension, this.config, this.output, (uri, line) =>
      this.decorations.has(uri, line),
    );
    this.client = client;
    await client.start();
    client.onNotification(changedNotification, () => {
      this.decorations.refresh();
      this.recordsChanged.fire();
    });
    return client;
  }

  dispose(): void {
    void this.controller.stop();
    for (const d of this.disposables) d.dispose();
    this.statusBar.dispose();
    this.decorations.dispose();
    this.debugPids.dispose();
    this.disposing.fire();
    this.disposing.dispose();
    this.recordsChanged.dispose();
    void this.client?.stop();
    this.output.dispose();
  }
}
