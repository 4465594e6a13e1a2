// Serves the bundled panel (dist/webview.js + .css) in a page that stands
// in for VS Code's webview: a fake acquireVsCodeApi records postMessage
// calls and state, under the same kind of CSP the extension sets.
import { createServer, type Server } from 'node:http';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { AddressInfo } from 'node:net';
import { repoRoot } from './fixtures';

// A dark theme's variables, as VS Code injects them into webviews.
const THEME = `
  --vscode-font-family: system-ui, sans-serif; --vscode-font-size: 13px;
  --vscode-editor-font-family: monospace;
  --vscode-foreground: #cccccc; --vscode-editor-background: #1e1e1e; --vscode-descriptionForeground: #9d9d9d;
  --vscode-panel-border: #2b2b2b; --vscode-list-hoverBackground: #2a2d2e;
  --vscode-list-activeSelectionBackground: #04395e; --vscode-list-activeSelectionForeground: #ffffff;
  --vscode-focusBorder: #0078d4; --vscode-textLink-foreground: #4daafc; --vscode-textLink-activeForeground: #4daafc;
  --vscode-badge-background: #616161; --vscode-badge-foreground: #f8f8f8; --vscode-icon-foreground: #cccccc;
  --vscode-button-background: #0078d4; --vscode-button-foreground: #ffffff; --vscode-button-secondaryBackground: #313131;
  --vscode-button-secondaryForeground: #cccccc; --vscode-input-background: #313131; --vscode-input-foreground: #cccccc;
  --vscode-settings-textInputBackground: #313131; --vscode-settings-textInputForeground: #cccccc; --vscode-settings-textInputBorder: #3c3c3c;
  --vscode-dropdown-background: #313131; --vscode-dropdown-foreground: #cccccc; --vscode-dropdown-border: #3c3c3c;
  --vscode-sideBarSectionHeader-background: #252526;`;

export function harnessHtml(nonce: string, initialState?: unknown): string {
  return `<!DOCTYPE html>
<html lang="en"><head><meta charset="UTF-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'self' 'unsafe-inline'; font-src 'self'; img-src 'self'; script-src 'nonce-${nonce}'">
<link rel="stylesheet" href="/dist/webview.css">
<style>html { ${THEME} }</style>
</head><body>
<div id="app"></div>
<script nonce="${nonce}">
  window.__posted = [];
  window.__state = ${JSON.stringify(initialState ?? null)};
  window.acquireVsCodeApi = () => ({
    postMessage: (m) => window.__posted.push(m),
    getState: () => window.__state ?? undefined,
    setState: (s) => { window.__state = s; },
  });
</script>
<script nonce="${nonce}" src="/dist/webview.js"></script>
</body></html>`;
}

export async function serveHarness(): Promise<{ url: string; server: Server }> {
  const server = createServer((req, res) => {
    const u = new URL(req.url ?? '/', 'http://x');
    if (u.pathname === '/dist/webview.js' || u.pathname === '/dist/webview.css') {
      res.setHeader('content-type', u.pathname.endsWith('.js') ? 'text/javascript' : 'text/css');
      res.end(readFileSync(join(repoRoot, u.pathname)));
      return;
    }
    if (u.pathname === '/') {
      const state = u.searchParams.get('state');
      res.setHeader('content-type', 'text/html');
      res.end(harnessHtml('n0nce' + Math.random().toString(36).slice(2), state ? JSON.parse(state) : undefined));
      return;
    }
    res.statusCode = 404;
    res.end();
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/`, server };
}
