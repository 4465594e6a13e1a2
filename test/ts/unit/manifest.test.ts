// package.json's contributions agree with the code: every command the code
// registers or puts in a code lens is declared, every setting read exists.
import assert from 'node:assert/strict';
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { PANEL_VIEW_TYPE } from '../../../src/extension/viewTypes';
import { repoRoot } from '../support/fixtures';

const pkg = JSON.parse(readFileSync(join(repoRoot, 'package.json'), 'utf8'));
const src = (dir: string) =>
  readdirSync(join(repoRoot, dir))
    .filter((f) => f.endsWith('.ts'))
    .map((f) => readFileSync(join(repoRoot, dir, f), 'utf8'))
    .join('\n');
const code = src('src/extension') + src('src/server');

test('commands used in code are contributed, and the other way round', () => {
  const declared = new Set<string>(pkg.contributes.commands.map((c: { command: string }) => c.command));
  const used = new Set(
    [...code.matchAll(/(?:command: |command = |executeCommand\()'(outboundLens\.[a-zA-Z]+)'/g)].map((m) => m[1]),
  );
  assert.ok(used.size >= 4, `found ${[...used]}`);
  for (const c of used) assert.ok(declared.has(c), `${c} is used but not in contributes.commands`);
  // main.ts registers COMMANDS at activation; core.ts maps each to its handler.
  const main = readFileSync(join(repoRoot, 'src/extension/main.ts'), 'utf8');
  const list = /COMMANDS = \[([^\]]*)\]/.exec(main)?.[1] ?? '';
  const registered = new Set([...list.matchAll(/'(outboundLens\.[a-zA-Z]+)'/g)].map((m) => m[1]));
  const handled = new Set([...code.matchAll(/'(outboundLens\.[a-zA-Z]+)': commands\./g)].map((m) => m[1]));
  for (const c of declared) {
    assert.ok(registered.has(c), `${c} is contributed but never registered`);
    assert.ok(handled.has(c), `${c} is contributed but has no handler in core.ts`);
  }
  for (const c of registered) assert.ok(declared.has(c), `${c} is registered but not contributed`);
});

test('settings read in code are contributed with the documented defaults', () => {
  const props = pkg.contributes.configuration.properties;
  // Every c.get('key') in config.ts, under the section of the getConfiguration before it.
  const config = readFileSync(join(repoRoot, 'src', 'extension', 'config.ts'), 'utf8');
  const read: string[] = [];
  for (const part of config.split(/getConfiguration\(/).slice(1)) {
    const section = /^'([\w.]+)'/.exec(part)?.[1];
    for (const m of part.matchAll(/\.get<.*?>\('(\w+)'\)/g)) read.push(`${section}.${m[1]}`);
  }
  assert.ok(read.length >= 7, `settings read: ${read.join(', ')}`);
  for (const key of read) assert.ok(props[key], `${key} is read but not contributed`);
  for (const key of Object.keys(props)) assert.ok(read.includes(key), `${key} is contributed but never read`);
  assert.equal(props['outboundLens.maxRecords'].default, 50000);
  assert.deepEqual(props['outboundLens.privilegeMethod'].enum, ['auto', 'root', 'sudo', 'pkexec', 'terminal']);
});

test('activation is lazy and the entry point is the bundle', () => {
  assert.equal(pkg.main, './dist/extension.js');
  assert.ok(pkg.activationEvents.includes('onLanguage:go'));
  assert.ok(!pkg.activationEvents.includes('*'));
});

test("a restored panel activates the extension: package.json names the code's view type", () => {
  const panels = pkg.activationEvents.filter((e: string) => e.startsWith('onWebviewPanel:'));
  assert.deepEqual(panels, [`onWebviewPanel:${PANEL_VIEW_TYPE}`]);
});

test('the original npm scripts are unchanged', () => {
  assert.deepEqual(
    ['build', 'demo', 'trace', 'test', 'test:matrix', 'bench'].map((s) => pkg.scripts[s]),
    [
      'node scripts/build.mjs',
      'node scripts/demo.mjs',
      'node scripts/trace.mjs',
      'node scripts/test.mjs',
      'node scripts/test-matrix.mjs',
      'node scripts/bench.mjs',
    ],
  );
});
