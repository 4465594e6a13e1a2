// Part 1's baseline, run by activation.mjs in a fresh Node process per run:
// load dist/extension.js against the stub 'vscode' module the unit tests
// use, call activate(), and print the times as one JSON line.
//   node activate-stub.cjs <repository root> <dist directory>
'use strict';
const { join } = require('node:path');
const [root, dist] = process.argv.slice(2);
const { installVscodeStub, anything, uri } = require('../../../test/ts/support/vscodeStub.cjs');
const rec = installVscodeStub();
const context = {
  subscriptions: [],
  extensionPath: root,
  extensionUri: uri(root),
  asAbsolutePath: (p) => join(root, p),
  globalState: anything('globalState'),
  workspaceState: anything('workspaceState'),
  secrets: anything('secrets'),
  environmentVariableCollection: anything('environmentVariableCollection'),
  logUri: uri('/tmp'),
  storageUri: undefined,
  globalStorageUri: uri('/tmp'),
  extensionMode: 1,
};
(async () => {
  const t0 = performance.now();
  const ext = require(join(dist, 'extension.js'));
  const t1 = performance.now();
  const p = ext.activate(context);
  const t2 = performance.now();
  const outcome = await Promise.race([
    Promise.resolve(p).then(
      () => 'resolved',
      (e) => 'rejected: ' + e.message,
    ),
    new Promise((r) => setTimeout(() => r('timeout'), 3000)),
  ]);
  const t3 = performance.now();
  // The rest of the extension (dist/core.js), which activate() leaves to load right after it, in the background.
  let core = null;
  try {
    const t4 = performance.now();
    require(join(dist, 'core.js'));
    core = performance.now() - t4;
  } catch {}
  process.stdout.write(
    JSON.stringify({
      load: t1 - t0,
      call: t2 - t1,
      resolved: outcome === 'resolved' ? t3 - t2 : null,
      outcome,
      commands: rec.commands.size,
      core,
    }) + '\n',
  );
  process.exit(0);
})();
