// The bundled extension loads outside VS Code (with a stub 'vscode'),
// activates without throwing and registers every contributed command.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { PANEL_VIEW_TYPE } from '../../../src/extension/viewTypes';
import { repoRoot } from '../support/fixtures';
import { installVscodeStub } from '../support/vscodeStub.cjs';

test('dist/extension.js activates and registers its commands', async (t) => {
  const rec = installVscodeStub();
  const t0 = performance.now();
  const ext = require(join(repoRoot, 'dist', 'extension.js')) as { activate: (c: unknown) => Promise<void> };
  t.diagnostic(`loading dist/extension.js took ${(performance.now() - t0).toFixed(0)} ms`);
  const subscriptions: unknown[] = [];
  const context = {
    subscriptions,
    extensionPath: repoRoot,
    extensionUri: { fsPath: repoRoot, path: repoRoot, scheme: 'file' },
    asAbsolutePath: (p: string) => join(repoRoot, p),
  };
  // The language client cannot really start here; activation must not hang on it or throw.
  await Promise.race([ext.activate(context), new Promise((r) => setTimeout(r, 2000))]);
  const pkg = JSON.parse(readFileSync(join(repoRoot, 'package.json'), 'utf8'));
  const declared = pkg.contributes.commands.map((c: { command: string }) => c.command).sort();
  assert.deepEqual([...rec.commands.keys()].sort(), declared);
  assert.deepEqual(rec.serializers, [PANEL_VIEW_TYPE]);
  assert.ok(subscriptions.length >= declared.length);
});
