// The workbench (code-server, as the end-to-end test runs it) that parts 1
// and 2 share: one code-server, one browser, one window after another.
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { root } from '../../lib.mjs';
import { workbenchActivation } from './activation.mjs';
import { VSIX, note } from './common.mjs';
import { paletteToFirstRow } from './firstRow.mjs';

/** The workbench driver, or why this machine cannot run it. */
export async function loadWorkbench() {
  const wb = await import('../../../test/e2e/workbench.mjs');
  wb.ensureCodeServer();
  if (!existsSync(wb.codeServerBin))
    return { why: `code-server is not installed (${wb.codeServerBin}); npm run test:e2e installs it` };
  if (!existsSync(join(wb.cacheDir, 'node_modules', 'code-server', 'lib', 'vscode', 'node_modules')))
    return {
      why: 'code-server is not fully installed (lib/vscode/node_modules missing); npm run test:e2e installs it',
    };
  if (!existsSync(wb.CHROMIUM)) return { why: `Chromium not found at ${wb.CHROMIUM}` };
  return { wb };
}

/** Parts 1 and 2 in one workbench; their runs go into results.workbench and results.firstRow as they come. */
export async function part1and2(wb, want1, want2, results) {
  const sampleDir = join(root, 'sample');
  const dirs = wb.prepareProfile(VSIX);
  const cs = await wb.startCodeServer(dirs);
  const browser = await wb.launchBrowser();
  try {
    const session = await wb.openWorkbench(browser, cs.url, sampleDir);
    note(`workbench up at ${cs.url}`);
    if (want1) await workbenchActivation(wb, browser, cs.url, sampleDir, session, (results.workbench = []));
    if (want2) await paletteToFirstRow(wb, session.page, (results.firstRow = []));
  } finally {
    await browser.close().catch(() => {});
    await wb.killAll();
    wb.removeProfiles();
  }
}
