// npm run package: both helpers, production bundles, then a VSIX with
// @vscode/vsce (dependencies are bundled, so --no-dependencies).
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { buildHelper, ensureNodeModules, root, run } from './lib.mjs';

ensureNodeModules();
const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'));
buildHelper('x64');
buildHelper('arm64');
run(process.execPath, [join(root, 'scripts', 'bundle.mjs'), '--production'], { cwd: root });
const out = join(root, `${pkg.name}-${pkg.version}.vsix`);
const vsce = join(root, 'node_modules', '@vscode', 'vsce', 'vsce');
run(
  process.execPath,
  [vsce, 'package', '--no-dependencies', '--allow-missing-repository', '--no-rewrite-relative-links', '-o', out],
  { cwd: root },
);
const ls = spawnSync(process.execPath, [vsce, 'ls', '--no-dependencies', '--allow-missing-repository'], {
  cwd: root,
  encoding: 'utf8',
});
console.log(ls.stdout);
console.log(`package: ${out}`);
