// Activation only: build the context, register commands. Activated lazily
// (a command, a Go file, or a restored panel).
import * as vscode from 'vscode';
import * as commands from './commands';
import { Ctx } from './ctx';
import { registerPanelSerializer } from './panel';

let ctx: Ctx | undefined;

export async function activate(context: vscode.ExtensionContext): Promise<void> {
  const c = (ctx = new Ctx(context));
  context.subscriptions.push(c);
  const register = (id: string, factory: (ctx: Ctx) => (...args: unknown[]) => unknown) =>
    context.subscriptions.push(vscode.commands.registerCommand(id, factory(c)));
  register('outboundLens.trace', commands.trace);
  register('outboundLens.stop', commands.stop);
  register('outboundLens.showPanel', commands.showPanel);
  register('outboundLens.statusBarClick', commands.statusBarClick);
  register('outboundLens.allowWithoutPassword', commands.allowWithoutPassword);
  context.subscriptions.push(registerPanelSerializer(c));
  // The server serves code lenses on Go files; start it now (activation was by a Go file or a command).
  await c.startClient().catch((e: Error) => c.output.error(`could not start the insight server: ${e.message}`));
}

export async function deactivate(): Promise<void> {
  await ctx?.controller.stop();
}
