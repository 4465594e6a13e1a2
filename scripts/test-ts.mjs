// The TypeScript suites: bundle, type-check, unit + LSP + webview tests,
// then the end-to-end test with the real helper. Exits non-zero on any
// failure and prints a summary.
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { root, steps } from './lib.mjs';

const { step, results, summary } = steps();
const isRoot = process.getuid?.() === 0;
const tsx = join(root, 'node_modules', 'tsx', 'dist', 'cli.mjs');

function testFiles(dir, pred = () => true) {
  return readdirSync(join(root, dir))
    .filter((f) => f.endsWith('.test.ts') && pred(f))
    .map((f) => join(dir, f));
}

/** Chromium for the webview test: Debian's package, installed when missing and we may. */
function ensureChromium() {
  const path = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
  if (existsSync(path)) return true;
  if (!isRoot) {
    console.error(
      `Chromium is missing at ${path}: install it with 'sudo apt-get install -y chromium' (or set CHROMIUM_PATH)`,
    );
    return false;
  }
  console.log('installing chromium with apt-get');
  spawnSync('apt-get', ['update'], { stdio: 'inherit' });
  spawnSync('apt-get', ['install', '-y', 'chromium'], {
    stdio: 'inherit',
    env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' },
  });
  return existsSync(path);
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
if (ensureChromium()) {
  step('webview in headless Chromium', process.execPath, nodeTest(['test/ts/webview.test.ts']));
} else {
  results.push({ name: 'webview in headless Chromium (no Chromium)', ok: false, secs: '0.0' });
}
if (process.env.OL_SKIP_E2E !== '1') {
  step('e2e with the real helper', process.execPath, nodeTest(['test/ts/e2e-helper.test.ts']));
}

summary('TypeScript summary');
