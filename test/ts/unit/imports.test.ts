// The project's modules import each other without cycles, and the context
// imports no view. The graph is esbuild's (its metafile, from the entry
// points scripts/bundle.mjs bundles), with type-only imports kept: two
// modules that know each other's types are as tangled as two that call
// each other.
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { test } from 'node:test';
import * as esbuild from 'esbuild';
import { repoRoot } from '../support/fixtures';

/** Turns `import type` / `export type … from` / `{ type X }` into plain imports, which verbatimModuleSyntax keeps. */
const keepTypeImports: esbuild.Plugin = {
  name: 'keep-type-imports',
  setup(build) {
    build.onLoad({ filter: /\.ts$/ }, async (args) => ({
      loader: 'ts',
      contents: (await readFile(args.path, 'utf8')).replace(
        /\b(import|export)(\s+type\b)?(\s*\{[^}]*\}|\s+\*[^'";=]*?|\s+\w+[^'";=]*?)\s*from(?=\s*['"])/g,
        (_m, kw: string, _type, what: string) => `${kw} ${what.replace(/([{,]\s*)type\s+/g, '$1').trim()} from`,
      ),
    }));
  },
};

async function importGraph(): Promise<Map<string, string[]>> {
  const r = await esbuild.build({
    absWorkingDir: repoRoot,
    entryPoints: ['src/extension/main.ts', 'src/extension/core.ts', 'src/server/main.ts', 'webview/main.ts'],
    bundle: true,
    write: false,
    metafile: true,
    outdir: 'out',
    platform: 'node',
    packages: 'external',
    external: ['vscode'],
    loader: { '.css': 'css' },
    tsconfigRaw: { compilerOptions: { verbatimModuleSyntax: true } },
    plugins: [keepTypeImports],
    logLevel: 'silent',
  });
  const graph = new Map<string, string[]>();
  for (const [file, input] of Object.entries(r.metafile.inputs)) {
    graph.set(
      file,
      input.imports.filter((i) => !i.external && i.kind !== 'import-rule' && i.kind !== 'url-token').map((i) => i.path),
    );
  }
  return graph;
}

/** Every cycle's first appearance in a depth-first walk, as the chain of files that closes it. */
function cycles(graph: Map<string, string[]>): string[][] {
  const found: string[][] = [];
  const state = new Map<string, 'open' | 'done'>();
  const path: string[] = [];
  const visit = (f: string) => {
    state.set(f, 'open');
    path.push(f);
    for (const to of graph.get(f) ?? []) {
      if (state.get(to) === 'open') found.push([...path.slice(path.indexOf(to)), to]);
      else if (!state.has(to)) visit(to);
    }
    path.pop();
    state.set(f, 'done');
  };
  for (const f of graph.keys()) if (!state.has(f)) visit(f);
  return found;
}

test('no import cycles among the extension, server and webview modules', async () => {
  const graph = await importGraph();
  // The walk saw the whole tree, not an empty build.
  assert.ok(
    graph.has('src/extension/ctx.ts') && graph.has('src/extension/panel.ts') && graph.size >= 30,
    [...graph.keys()].join(' '),
  );
  assert.deepEqual(
    cycles(graph).map((c) => c.join(' → ')),
    [],
  );
});

test('the context imports no view: the panel subscribes to its events', async () => {
  const graph = await importGraph();
  assert.ok(!graph.get('src/extension/ctx.ts')?.includes('src/extension/panel.ts'));
  // The panel knows the context's type only: seeing that edge proves type-only imports count.
  assert.ok(graph.get('src/extension/panel.ts')?.includes('src/extension/ctx.ts'));
});
