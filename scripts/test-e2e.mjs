// npm run test:e2e — the whole flow as a user sees it, in a real VS Code
// workbench (code-server, a full VS Code, pinned) driven by Playwright in
// Chromium: install the project's VSIX, open sample/, trace it from the
// command palette (build-and-launch, then attach to a running pid), check
// the panel's rows against the downstream's ground truth, open a call site,
// check the code lens and the line decoration, stop from the status bar,
// and check the failure paths' notifications and the privilege routes.
// Needs root (BPF). Installs its own prerequisites (apt packages,
// code-server into .cache/) and builds the product once; then runs the test
// files under test/e2e/ (*.test.mjs: node:test, one workbench session per
// file, one test per scenario) one at a time, and prints node:test's
// summary. Each file ends everything it started, also on failure; on
// SIGINT/SIGTERM this script starts no further file and waits for the
// running one's cleanup. Exits non-zero on any failure.
//   OL_E2E_REUSE_VSIX=1     use the existing VSIX instead of `npm run package`
//   OL_E2E_README_SHOTS=1   copy the panel, code lens and decoration screenshots to media/screenshots/
//   OL_E2E_KEEP=1           keep the temporary profiles (their logs)
//   OL_E2E_ONLY=launch      run only the test files whose name contains it
//   OL_E2E_VERBOSE=1        echo the started processes' output
import { copyFileSync, existsSync, mkdirSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { run } from 'node:test';
import { spec } from 'node:test/reporters';
import { finished } from 'node:stream/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import { root } from './lib.mjs';

if (process.getuid?.() !== 0) {
  console.error('the workbench test attaches BPF programs: run it as root (sudo npm run test:e2e)');
  process.exit(1);
}
const { artifacts, product, wb } = await import('../test/e2e/session.mjs');
const t0 = Date.now();
product();
wb.log(`prerequisites and the product ready in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
process.env.OL_E2E_PRODUCT_READY = '1';

const dir = join(root, 'test', 'e2e');
const files = readdirSync(dir)
  .filter((f) => f.endsWith('.test.mjs') && f.includes(process.env.OL_E2E_ONLY ?? ''))
  .sort()
  .map((f) => join(dir, f));
const abort = new AbortController();
let failed = false;
const tests = run({ files, concurrency: 1, signal: abort.signal });
tests.on('test:fail', () => (failed = true));
const report = tests.compose(new spec());
report.pipe(process.stdout);

// Interrupted (Ctrl-C, a CI timeout): start no further file; aborting ends
// the running one with SIGTERM, and its cleanup removes the temporary
// account and profiles and stops what it started. Wait for that.
const testFileProcesses = () => wb.pidsWhere(() => true).filter((p) => wb.parentOf(p) === process.pid);
for (const sig of ['SIGINT', 'SIGTERM']) {
  process.on(sig, async () => {
    wb.log(`${sig}: stopping the test files`);
    abort.abort();
    for (let i = 0; i < 600 && testFileProcesses().length; i++) await sleep(100);
    process.exit(130);
  });
}
await finished(report); // the summary is printed

// The README's screenshots, when asked (they are committed: a test run leaves the checkout as it was).
if (process.env.OL_E2E_README_SHOTS === '1') {
  const shots = join(root, 'media', 'screenshots');
  mkdirSync(shots, { recursive: true });
  for (const name of ['panel', 'code-lens', 'decoration']) {
    const src = join(artifacts, `${name}.png`);
    if (existsSync(src)) copyFileSync(src, join(shots, `${name}.png`));
  }
}
wb.log(`screenshots: ${artifacts}`);
process.exitCode = failed ? 1 : 0;
