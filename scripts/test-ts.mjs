// The TypeScript suites: bundle, type-check, unit + LSP + webview tests,
// then the end-to-end test with the real helper. Exits non-zero on any
// failure and prints a summary.
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { ensureNodeModules, root, steps } from './lib.mjs';
import { ensureSystem } from './prereqs.mjs';

ensureSystem('test');
ensureNodeModules();
const { step, summary } = steps();
const tsx = join(root, 'node_modules', 'tsx', 'dist', 'cli.mjs');

function testFiles(dir, pred = () => true) {
  return readdirSync(join(root, dir))
    .filter((f) => f.endsWith('.test.ts') && pred(f))
    .map((f) => join(dir, f));
}

const nodeTest = (files) => [tsx, '--test', '--test-reporter=spec', ...files];

step('bundle (esbuild)', process.execPath, [join(root, 'scripts', 'bundle.mjs')]);
step('type-check (tsc --noEmit)', process.execPath, [
  join(root, 'node_modules', 'typescript', 'bin', 'tsc'),
  '--noEmit',
  '-p',
  root,
]);
step('unit tests', process.execPath, nodeTest(testFiles('test/ts/unit')));
step('insight server over LSP', process.execPath, nodeTest(['test/ts/lsp.test.ts']));
step('webview in headless Chromium', process.execPath, nodeTest(['test/ts/webview.test.ts']));
if (process.env.OL_SKIP_E2E !== '1') {
  step('e2e with the real helper', process.execPath, nodeTest(['test/ts/e2e-helper.test.ts']));
}

summary('TypeScript summary');
