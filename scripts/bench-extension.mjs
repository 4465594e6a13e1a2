// npm run bench:extension: what the editor side costs, measured. Prints
// numbers (medians over several runs, with a baseline from the same run where
// one makes sense); asserts nothing. Four parts, each skipped with its reason
// when this machine cannot run it:
//   1. extension activation: load dist/extension.js and run activate(), in a
//      real VS Code (code-server) and, as baseline, in plain Node with a stub
//      'vscode' module
//   2. palette command → first row in the panel, attaching to a running
//      sample by pid, in the workbench (root: BPF)
//   3. panel frame times with 100,000 rows streamed in, while scrolling and
//      while filtering (headless Chromium, the bundled webview)
//   4. insight server memory with 100k / 200k records at two caps
// Environment: OL_BENCH_EXT_PARTS=1,2,3,4 (which parts), OL_BENCH_EXT_RUNS=5,
// OL_BENCH_NO_PACKAGE=1 (use the existing VSIX and dist/ instead of `npm run package`),
// OL_BENCH_DEBUG=1 (screenshots in the temp dir when a workbench step retries).
// `npm run bench` runs this at its end (OL_BENCH_SKIP_EXTENSION=1 there skips it).
// Each part is a module in scripts/bench/extension/; this file runs them and prints their reports.
import { existsSync } from 'node:fs';
import { ensureNodeModules, isRoot } from './lib.mjs';
import { ensureSystem } from './prereqs.mjs';
import * as activation from './bench/extension/activation.mjs';
import { CHROMIUM, PARTS, RUNS, endChildren, ensureProduct, note, say } from './bench/extension/common.mjs';
import * as firstRow from './bench/extension/firstRow.mjs';
import * as panel from './bench/extension/panel.mjs';
import * as server from './bench/extension/server.mjs';
import { loadWorkbench, part1and2 } from './bench/extension/workbench.mjs';

async function main() {
  const T0 = Date.now();
  say(`Outbound Lens extension benchmark (${RUNS} runs where runs repeat; numbers are noisy on a busy machine)`);
  ensureSystem('bench:extension');
  ensureNodeModules();
  const product = ensureProduct();
  const results = {};
  const skipped = {};
  const partial = {};

  // ---- 1 and 2: the workbench ----
  const want1 = PARTS.has('1');
  const want2 = PARTS.has('2');
  if (want1 && !product.dist) {
    try {
      results.stub = await activation.stubActivation(RUNS);
    } catch (e) {
      skipped.stub = e.message;
    }
  } else if (want1) skipped.stub = product.dist;
  if (want1 || want2) {
    let why = product.vsix;
    let wb;
    if (!why) ({ wb, why } = await loadWorkbench());
    const why2 =
      why ?? (isRoot() ? null : 'not root: attaching BPF programs needs root (sudo npm run bench:extension)');
    if (want1 && why) skipped.workbench = why;
    if (want2 && why2) skipped.firstRow = why2;
    if (wb && ((want1 && !why) || (want2 && !why2))) {
      try {
        await part1and2(wb, want1 && !why, want2 && !why2, results);
      } catch (e) {
        note(`workbench: ${e.stack ?? e.message}`);
        const failed = `failed: ${e.message.split('\n')[0]}`;
        for (const k of ['workbench', 'firstRow']) {
          if (!results[k]) continue;
          if (!results[k].length) {
            delete results[k];
            skipped[k] = failed;
          } else partial[k] = `${results[k].length} of ${RUNS} runs, then ${failed}`;
        }
        if (want1 && !why && !results.workbench) skipped.workbench = failed;
        if (want2 && !why2 && !results.firstRow) skipped.firstRow = failed;
      }
    }
  }

  // ---- 3: panel frames ----
  if (PARTS.has('3')) {
    if (product.dist) skipped.panel = product.dist;
    else if (!existsSync(CHROMIUM))
      skipped.panel = `Chromium not found at ${CHROMIUM} (apt-get install -y chromium, or set CHROMIUM_PATH)`;
    else {
      try {
        results.panel = await panel.panelFrames();
      } catch (e) {
        note(`panel: ${e.stack ?? e.message}`);
        skipped.panel = `failed: ${e.message.split('\n')[0]}`;
      }
    }
  }

  // ---- 4: server memory ----
  if (PARTS.has('4')) {
    if (product.dist) skipped.memory = product.dist;
    else {
      try {
        await server.serverMemoryRuns((results.memory = []));
      } catch (e) {
        note(`memory: ${e.stack ?? e.message}`);
        skipped.memory = `failed: ${e.message.split('\n')[0]}`;
      }
    }
  }

  activation.report(results, skipped, partial);
  firstRow.report(results, skipped, partial);
  panel.report(results, skipped);
  server.report(results, skipped);
  say(`\n(bench:extension took ${((Date.now() - T0) / 1000).toFixed(0)} s)`);
}

const onSignal = async () => {
  await endChildren();
  process.exit(130);
};
process.on('SIGINT', onSignal);
process.on('SIGTERM', onSignal);
try {
  await main();
} catch (e) {
  console.error(`bench:extension failed: ${e.stack ?? e.message}`);
  process.exitCode = 1;
} finally {
  await endChildren();
}
