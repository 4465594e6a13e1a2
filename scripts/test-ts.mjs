// The TypeScript suites: bundle, type-check, unit + LSP + webview tests,
// then the end-to-end test with the real helper. Exits non-zero on any
// failure and prints a summary.
import { spawnSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { ensureNodeModules, root } from './lib.mjs';
import { ensureSystem } from './prereqs.mjs';

ensureSystem('test');
ensureNodeModules();
const results = [];
const tsx = join(root, 'node_modules', 'tsx', 'dist', 'cli.mjs');

function step(name, cmd, args, opts = {}) {
  console.log(`\n=== ${name}\n$ ${[cmd, ...args].join(' ')}`);
  const t0 = Date.now();
  const r = spawnSync(cmd, args, { cwd: root, stdio: 'inherit', ...opts, env: { ...process.env, ...opts.env } });
  const ok = r.status === 0;
  results.push({ name, ok, secs: ((Date.now() - t0) / 1000).toFixed(1) });
  if (!ok) console.error(`--- ${name} FAILED (${r.error?.message ?? `exit ${r.status ?? r.signal}`})`);
  return ok;
}

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

console.log('\n=== TypeScript summary');
for (const r of results) console.log(`${r.ok ? 'ok  ' : 'FAIL'}  ${r.name}  (${r.secs}s)`);
const failed = results.filter((r) => !r.ok).length;
console.log(`${results.length - failed} passed, ${failed} failed`);
process.exit(failed ? 1 : 0);
