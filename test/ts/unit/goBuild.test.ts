// Build-and-launch's `go build`: a checkout git cannot read still builds
// (without the VCS stamp), and a failure says what went wrong, without the
// module download noise; no Go on PATH says so.
import assert from 'node:assert/strict';
import execa from 'execa';
import { existsSync, mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { test } from 'node:test';
import { buildErrors, goBuild, mainPackages, packageArg } from '../../../src/extension/goBuild';

function module(files: Record<string, string>): string {
  const dir = mkdtempSync(join(tmpdir(), 'ol-gobuild-'));
  writeFileSync(join(dir, 'go.mod'), 'module example.com/svc\n\ngo 1.21\n');
  for (const [name, text] of Object.entries(files)) {
    mkdirSync(dirname(join(dir, name)), { recursive: true });
    writeFileSync(join(dir, name), text);
  }
  return dir;
}

test('a checkout git cannot read builds without the VCS stamp', async () => {
  // A .git whose HEAD is garbage: git exits 128, as it does in another user's
  // clone ("dubious ownership"), and a plain `go build` fails on it.
  const dir = module({ 'main.go': 'package main\n\nfunc main() {}\n' });
  mkdirSync(join(dir, '.git'));
  writeFileSync(join(dir, '.git', 'HEAD'), 'garbage\n');
  // Without the user's go env file, which may already turn stamping off.
  const env = { ...process.env, GOENV: 'off', GOFLAGS: '' };
  const plain = await execa('go', ['build', '-o', join(dir, 'plain'), '.'], {
    cwd: dir,
    env,
    reject: false,
    all: true,
  });
  assert.match(String(plain.all), /error obtaining VCS status/, 'the checkout breaks a plain go build');
  const out = join(dir, 'svc');
  assert.deepEqual(await goBuild(dir, out, '.', env), { ok: true });
  assert.ok(existsSync(out));
});

test('a compile error is reported by its own lines', async () => {
  const dir = module({ 'main.go': 'package main\n\nfunc main() { undefinedThing() }\n' });
  const r = await goBuild(dir, join(dir, 'svc'));
  assert.equal(r.ok, false);
  assert.match(!r.ok ? r.detail : '', /main\.go:3:\d+: undefined: undefinedThing/);
});

test('no go on PATH says so and shows the PATH', async () => {
  const dir = module({ 'main.go': 'package main\n\nfunc main() {}\n' });
  const r = await goBuild(dir, join(dir, 'svc'), '.', { PATH: '/nonexistent-bin' });
  assert.equal(r.ok, false);
  const detail = !r.ok ? r.detail : '';
  assert.match(detail, /could not run `go`/);
  assert.match(detail, /PATH=\/nonexistent-bin/);
});

test('module download progress is left out of the error', () => {
  const out = [
    'go: downloading github.com/gin-gonic/gin v1.9.1',
    'go: finding module for package example.com/x',
    '',
    'main.go:5:2: no required module provides package example.com/x',
  ].join('\n');
  assert.equal(buildErrors(out), 'main.go:5:2: no required module provides package example.com/x');
  assert.ok(buildErrors('x'.repeat(2000)).length <= 501);
});

test('main packages: the folder’s own first, then by path; libraries left out', async () => {
  const main = 'package main\n\nfunc main() {}\n';
  const dir = module({
    'main.go': main,
    'cmd/worker/main.go': main,
    'cmd/api/main.go': main,
    'internal/store/store.go': 'package store\n',
  });
  assert.deepEqual(await mainPackages(dir), { ok: true, packages: ['.', './cmd/api', './cmd/worker'] });
  const out = join(dir, 'api');
  assert.deepEqual(await goBuild(dir, out, packageArg(dir, 'cmd/api')), { ok: true });
  assert.ok(existsSync(out));
  assert.equal(packageArg(dir, 'cmd/api'), './cmd/api');
  assert.equal(packageArg(dir, './cmd/worker'), './cmd/worker');
  assert.equal(packageArg(dir, 'example.com/svc/cmd/api'), 'example.com/svc/cmd/api');
  assert.equal(packageArg(dir, '/abs/dir'), '/abs/dir');
  const none = module({ 'lib.go': 'package lib\n' });
  assert.deepEqual(await mainPackages(none), { ok: true, packages: [] });
  const notModule = mkdtempSync(join(tmpdir(), 'ol-gobuild-'));
  const r = await mainPackages(notModule, { ...process.env, GOENV: 'off', GO111MODULE: 'on' });
  assert.equal(r.ok, false);
  assert.match(!r.ok ? r.detail : '', /does not contain main module/);
});
