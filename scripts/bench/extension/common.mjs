// What the parts of the extension benchmark share: the settings read from
// the environment, the product under test, the statistics and the output,
// and the child processes to end on the way out.
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { root } from '../../lib.mjs';

const require = createRequire(import.meta.url);
export const PARTS = new Set((process.env.OL_BENCH_EXT_PARTS ?? '1,2,3,4').split(',').map((s) => s.trim()));
export const RUNS = Math.max(1, Number(process.env.OL_BENCH_EXT_RUNS ?? 5));
export const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
export const BROWSER_ARGS = require('../../../test/e2e/common.cjs').CHROMIUM_ARGS;
const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'));
export const EXT_ID = `${pkg.publisher}.${pkg.name}`;
export const VSIX = join(root, `${pkg.name}-${pkg.version}.vsix`);
export const DIST = join(root, 'dist');

export const sorted = (xs) => [...xs].sort((a, b) => a - b);
export const median = (xs) => {
  const s = sorted(xs);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};
export const pct = (xs, p) => {
  const s = sorted(xs);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1))];
};
export const ms = (x, d = 1) => (x === undefined || x === null || Number.isNaN(x) ? '—' : `${x.toFixed(d)} ms`);
export const mib = (kib) => `${(kib / 1024).toFixed(1)} MiB`;
export const say = (...a) => console.log(...a);
export const note = (...a) => console.error(`[bench-ext ${new Date().toISOString().slice(11, 19)}]`, ...a);

/** Every child process this script starts, ended on the way out. */
const children = new Set();
export function track(child) {
  children.add(child);
  child.once('exit', () => children.delete(child));
  return child;
}
export async function endChildren() {
  for (const c of [...children]) {
    if (c.exitCode !== null || c.signalCode !== null) continue;
    try {
      if (c.spawnargs && c.__group) process.kill(-c.pid, 'SIGTERM');
      else c.kill('SIGTERM');
    } catch {
      /* gone */
    }
    const done = await Promise.race([new Promise((r) => c.once('exit', () => r(true))), sleep(3000).then(() => false)]);
    if (!done) {
      try {
        if (c.__group) process.kill(-c.pid, 'SIGKILL');
        else c.kill('SIGKILL');
      } catch {
        /* gone */
      }
    }
  }
}

export function ensureProduct() {
  const have = () =>
    ['extension.js', 'core.js', 'server.js', 'webview.js', 'webview.css'].every((f) => existsSync(join(DIST, f)));
  if (process.env.OL_BENCH_NO_PACKAGE === '1') {
    return {
      dist: have() ? null : 'dist/ is missing (OL_BENCH_NO_PACKAGE=1; run npm run package)',
      vsix: existsSync(VSIX) ? null : `${VSIX} is missing (OL_BENCH_NO_PACKAGE=1; run npm run package)`,
    };
  }
  note('npm run package (production bundles and the VSIX)');
  const r = spawnSync('npm', ['run', 'package', '--silent'], {
    cwd: root,
    stdio: ['ignore', 'pipe', 'pipe'],
    encoding: 'utf8',
  });
  if (r.status !== 0) {
    const why = `npm run package failed (exit ${r.status}): ${(r.stderr || r.stdout).trim().split('\n').slice(-3).join(' / ')}`;
    return { dist: have() ? null : why, vsix: why };
  }
  return {
    dist: have() ? null : 'npm run package did not produce dist/',
    vsix: existsSync(VSIX) ? null : `no ${VSIX}`,
  };
}

/** Prints why a part was not measured. */
export const notMeasured = (skipped, k) => say(`  not measured: ${skipped[k]}`);
