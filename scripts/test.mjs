// npm test: every suite, in order of cost. Installs what it needs (npm
// deps, Go toolchains for the quick subset) and prints one summary line.
import { spawnSync } from 'node:child_process';
import { existsSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { root, isRoot, requireGo } from './lib.mjs';
import { QUICK_TOOLCHAINS } from './toolchains.mjs';

const results = [];

function step(name, cmd, args, opts = {}) {
  console.log(`\n=== ${name}\n$ ${[cmd, ...args].join(' ')}`);
  const t0 = Date.now();
  const r = spawnSync(cmd, args, { stdio: 'inherit', cwd: root, ...opts, env: { ...process.env, ...opts.env } });
  const ok = r.status === 0;
  results.push({ name, ok, secs: ((Date.now() - t0) / 1000).toFixed(1) });
  if (!ok) console.error(`--- ${name} FAILED (${r.error?.message ?? `exit ${r.status ?? r.signal}`})`);
  return ok;
}

function asRoot(cmd, args) {
  return isRoot() ? [cmd, args] : ['sudo', ['-E', 'env', `PATH=${process.env.PATH}`, cmd, ...args]];
}

requireGo();
const only = process.env.OL_TEST_ONLY?.split(',');
const want = (s) => !only || only.includes(s);

if (want('go')) {
  step('gofmt', 'sh', [
    '-c',
    'out=$(gofmt -l bpf test/probe sample); [ -z "$out" ] || { echo "not gofmt-ed: $out"; exit 1; }',
  ]);
  step('go vet', 'sh', [
    '-c',
    'cd bpf && go vet ./... && cd ../test/probe && go vet ./... && cd ../../sample && go vet ./...',
  ]);
  step('BPF objects are current', process.execPath, [join(root, 'scripts', 'check-bpf.mjs')]);
  step('helper unit tests', 'go', ['test', './...'], { cwd: join(root, 'bpf') });
  step(
    'fuzz binary inspection (20 s)',
    'go',
    ['test', '-run=^$', '-fuzz=FuzzInspect', '-fuzztime=20s', '-fuzzminimizetime=5s', './inspect/'],
    { cwd: join(root, 'bpf') },
  );
}
if (want('ts') && existsSync(join(root, 'scripts', 'test-ts.mjs'))) {
  const stamp = join(root, 'node_modules', '.package-lock.json');
  if (!existsSync(stamp) || statSync(stamp).mtimeMs < statSync(join(root, 'package-lock.json')).mtimeMs) {
    step('npm ci', 'npm', ['ci', '--no-audit', '--no-fund']);
  }
  step('prettier', 'npm', ['run', '--silent', 'format:check']);
  step('extension, server and webview tests', process.execPath, [join(root, 'scripts', 'test-ts.mjs')]);
}
if (want('probe')) {
  const [cmd, args] = asRoot('go', ['test', '-count=1', '-timeout', '20m', '-v', './...']);
  step(`probe integration (real BPF; Go ${QUICK_TOOLCHAINS.join(', ')})`, cmd, args, {
    cwd: join(root, 'test', 'probe'),
    env: { OL_GO_TOOLCHAINS: QUICK_TOOLCHAINS.join(',') },
  });
}

console.log('\n=== summary');
for (const r of results) console.log(`${r.ok ? 'ok  ' : 'FAIL'}  ${r.name}  (${r.secs}s)`);
const failed = results.filter((r) => !r.ok).length;
console.log(`${results.length - failed} passed, ${failed} failed`);
process.exit(failed ? 1 : 0);
