// npm run build: the helper for this machine (and the extension bundles, when present).
import { buildHelper, root, run, exists } from './lib.mjs';
import { join } from 'node:path';

const helper = buildHelper();
console.log(`helper: ${helper}`);
if (exists(join(root, 'scripts', 'build-ext.mjs')) && exists(join(root, 'node_modules'))) {
  run(process.execPath, [join(root, 'scripts', 'build-ext.mjs')]);
}
