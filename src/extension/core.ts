// Everything behind the activation stub (main.ts): the context, commands,
// panel, decorations and the language client. Bundled apart (dist/core.js)
// and loaded on the first command, a restored panel, or right after
// activation in the background, so activating costs VS Code next to nothing.
import type * as vscode from 'vscode';
import * as commands from './commands';
import { Ctx } from './ctx';
import { Panel } from './panel';

type Handler = (...args: unknown[]) => unknown;

const factories: Record<string, (ctx: Ctx) => Handler> = {
  'outboundLens.trace': commands.trace,
  'outboundLens.stop': commands.stop,
  'outboundLens.showPanel': commands.showPanel,
  'outboundLens.statusBarClick': commands.statusBarClick,
  'outboundLens.allowWithoutPassword': commands.allowWithoutPassword,
};

let ctx: Ctx | undefined;
const handlers = new Map<string, Handler>();

function init(context: vscode.ExtensionContext): Ctx {
  if (!ctx) {
    ctx = new Ctx(context);
    context.subscriptions.push(ctx);
  }
  return ctx;
}

export function run(context: vscode.ExtensionContext, id: string, args: unknown[]): unknown {
  const c = init(context);
  let h = handlers.get(id);
  if (!h) {
    const factory = factories[id];
    if (!factory) throw new Error(`Outbound Lens: unknown command ${id}`);
    h = factory(c);
    handlers.set(id, h);
  }
  return h(...args);
}

export function revivePanel(context: vscode.ExtensionContext, panel: vscode.WebviewPanel): void {
  Panel.revive(init(context), panel);
}

/** The insight server serves code lenses on Go files: started once the extension is active. */
export async function startClient(context: vscode.ExtensionContext): Promise<void> {
  const c = init(context);
  await c.startClient().catch((e: Error) => c.output.error(`could not start the insight server: ${e.message}`));
}

export async function deactivate(): Promise<void> {
  await ctx?.controller.stop();
}
