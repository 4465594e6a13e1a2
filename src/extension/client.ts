// Starts the insight server (dist/server.js, over IPC) and connects to it.
import * as vscode from 'vscode';
import {
  LanguageClient,
  TransportKind,
  type LanguageClientOptions,
  type ServerOptions,
} from 'vscode-languageclient/node';
import type { InitializationOptions } from '../shared/protocol';
import type { Config } from './config';

export function createClient(
  context: vscode.ExtensionContext,
  config: Config,
  output: vscode.OutputChannel,
  hasDecoration: (uri: vscode.Uri, line: number) => boolean,
): LanguageClient {
  const module = context.asAbsolutePath('dist/server.js');
  const serverOptions: ServerOptions = {
    run: { module, transport: TransportKind.ipc },
    debug: { module, transport: TransportKind.ipc, options: { execArgv: ['--nolazy', '--inspect=6019'] } },
  };
  const initializationOptions: InitializationOptions = { helperPath: config.helperPath, maxRecords: config.maxRecords };
  const clientOptions: LanguageClientOptions = {
    documentSelector: [{ scheme: 'file', language: 'go' }],
    synchronize: { fileEvents: vscode.workspace.createFileSystemWatcher('**/*.go') },
    initializationOptions,
    outputChannel: output,
    middleware: {
      // VS Code shows call sites as end-of-line decorations (they carry their
      // own hover); other editors get the same text as inlay hints.
      provideInlayHints: () => [],
      // The call-site hover is the decoration's own; keep the handler hover.
      provideHover: (doc, pos, token, next) =>
        hasDecoration(doc.uri, pos.line + 1) ? undefined : next(doc, pos, token),
    },
  };
  return new LanguageClient('outboundLens', 'Outbound Lens', serverOptions, clientOptions);
}
