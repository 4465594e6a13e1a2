// Activation only: register the commands and the panel serializer, and load
// the rest (dist/core.js) when first needed or, for the code lenses, right
// after activation without holding it up. Activated lazily (a command, a Go
// file, or a restored panel).
import * as vscode from 'vscode';
import type * as Core from './core';
import { PANEL_VIEW_TYPE } from './viewTypes';

export const COMMANDS = [
  'outboundLens.trace',
  'outboundLens.stop',
  'outboundLens.showPanel',
  'outboundLens.statusBarClick',
  'outboundLens.allowWithoutPassword',
];

let core: typeof Core | undefined;
// A separate bundle next to this one (scripts/bundle.mjs keeps it out of extension.js).
const load = (): typeof Core => (core ??= require('./core') as typeof Core);

export function activate(context: vscode.ExtensionContext): void {
  for (const id of COMMANDS) {
    context.subscriptions.push(
      vscode.commands.registerCommand(id, (...args: unknown[]) => load().run(context, id, args)),
    );
  }
  context.subscriptions.push(
    vscode.window.registerWebviewPanelSerializer(PANEL_VIEW_TYPE, {
      deserializeWebviewPanel: async (panel) => load().revivePanel(context, panel),
    }),
  );
  setImmediate(() => {
    try {
      void load().startClient(context);
    } catch (e) {
      // A broken install (dist/core.js missing): the commands will say so when run.
      console.error(`Outbound Lens: could not load the extension's core: ${(e as Error).message}`);
    }
  });
}

export async function deactivate(): Promise<void> {
  await core?.deactivate();
}
