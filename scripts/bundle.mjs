// Bundles the extension, the insight server and the panel with esbuild.
//   node scripts/bundle.mjs [--production] [--watch]
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { ensureNodeModules, root } from './lib.mjs';

ensureNodeModules();
const esbuild = await import('esbuild');
const production = process.argv.includes('--production');
const watch = process.argv.includes('--watch');

const common = {
  bundle: true,
  sourcemap: production ? false : 'linked',
  minify: production,
  logLevel: 'warning',
  legalComments: 'none',
  absWorkingDir: root,
};

const builds = [
  {
    ...common,
    // extension.js is only the activation stub; it requires ./core at run time.
    entryPoints: { extension: 'src/extension/main.ts', core: 'src/extension/core.ts' },
    outdir: 'dist',
    platform: 'node',
    format: 'cjs',
    target: 'node20',
    external: ['vscode', './core'],
  },
  {
    ...common,
    entryPoints: { server: 'src/server/main.ts' },
    outdir: 'dist',
    platform: 'node',
    format: 'cjs',
    target: 'node20',
  },
  {
    ...common,
    entryPoints: { webview: 'webview/main.ts' },
    outdir: 'dist',
    platform: 'browser',
    format: 'iife',
    target: 'chrome120',
    loader: { '.css': 'css' },
  },
];

rmSync(join(root, 'dist'), { recursive: true, force: true });
if (watch) {
  for (const b of builds) await (await esbuild.context(b)).watch();
  console.log('bundle: watching');
} else {
  const results = await Promise.all(builds.map((b) => esbuild.build({ ...b, metafile: true })));
  for (const r of results) {
    for (const [file, out] of Object.entries(r.metafile.outputs)) {
      if (!file.endsWith('.map')) console.log(`bundle: ${file} ${(out.bytes / 1024).toFixed(1)} KiB`);
    }
  }
}
