// One object owns the language client, the config, the running trace and
// every disposable; commands receive it instead of reaching for globals.
import * as vscode from 'vscode';
import type { LanguageClient } from 'vscode-languageclient/node';
import { changedNotification, configNotification } from '../shared/protocol';
import { createClient } from './client';
import { onConfigChange, readConfig, type Config } from './config';
import { Decorations } from './decorations';
import { Panel } from './panel';
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
        Panel.instance?.status();
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
      void Panel.instance?.pull();
    });
    return client;
  }

  dispose(): void {
    void this.controller.stop();
    for (const d of this.disposables) d.dispose();
    this.statusBar.dispose();
    this.decorations.dispose();
    this.debugPids.dispose();
    Panel.instance?.dispose();
    void this.client?.stop();
    this.output.dispose();
  }
}
