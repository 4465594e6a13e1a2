// npm test: every suite, in order of cost. Installs what it needs (system
// packages, Go, node modules, Go toolchains for the quick subset) and prints
// one summary line.
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { root, isRoot, requireGo, ensureNodeModules, steps } from './lib.mjs';
import { ensureSystem } from './prereqs.mjs';
import { QUICK_TOOLCHAINS } from './toolchains.mjs';

const { step, summary } = steps();

function asRoot(cmd, args) {
  return isRoot() ? [cmd, args] : ['sudo', ['-E', 'env', `PATH=${process.env.PATH}`, cmd, ...args]];
}

ensureSystem('test');
requireGo();
const only = process.env.OL_TEST_ONLY?.split(',');
const want = (s) => !only || only.includes(s);

if (want('go')) {
  step('gofmt', 'sh', [
    '-c',
    'out=$(gofmt -l bpf test/probe sample scripts/latency scripts/uprobe-cost); [ -z "$out" ] || { echo "not gofmt-ed: $out"; exit 1; }',
  ]);
  step('go vet', 'sh', [
    '-c',
    'cd bpf && go vet ./... && cd ../test/probe && go vet ./... && cd ../../sample && go vet ./... && cd ../scripts/latency && go vet ./... && cd ../uprobe-cost && go vet ./...',
  ]);
  step('BPF objects are current', process.execPath, [join(root, 'scripts', 'check-bpf.mjs')]);
  // -count=1: go test's cache does not see the README and TypeScript files, outside the bpf module.
  step('record contract copies are current', 'go', ['test', '-count=1', './records/gen'], { cwd: join(root, 'bpf') });
  step('helper unit tests', 'go', ['test', './...'], { cwd: join(root, 'bpf') });
  // Budgets in executions, not seconds: a -fuzztime duration races the
  // workers' stop in Go's fuzzing coordinator before Go 1.27 (go.dev/issue/75804)
  // and fails with "context deadline exceeded" on a busy machine.
  step(
    'fuzz binary inspection (15 000 inputs, about 30 s)',
    'go',
    ['test', '-run=^$', '-fuzz=FuzzInspect', '-fuzztime=15000x', '-fuzzminimizetime=1x', './inspect/'],
    { cwd: join(root, 'bpf') },
  );
  step(
    'fuzz reading what went out (80 000 inputs, about 10 s)',
    'go',
    ['test', '-run=^$', '-fuzz=FuzzWriteOp', '-fuzztime=80000x', '-fuzzminimizetime=1x', './tracer/'],
    { cwd: join(root, 'bpf') },
  );
}
if (want('ts') && existsSync(join(root, 'scripts', 'test-ts.mjs'))) {
  ensureNodeModules();
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

summary('summary');
