// scripts/prereqs.mjs: the README shows its table, a missing package is
// found, installed with apt-get as root (update first, non-interactive, no
// recommends) or named in one line otherwise.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { after, test } from 'node:test';
import { repoRoot } from '../support/fixtures';

interface Row {
  pkg: string;
  has: string | string[];
  for: string[];
  why: string;
}
interface Prereqs {
  PREREQS: Row[];
  CI: string[];
  missing(commands: string[], table?: Row[]): string[];
  readmeTable(table?: Row[]): string;
}

const url = pathToFileURL(join(repoRoot, 'scripts', 'prereqs.mjs')).href;
const load = async () => (await import(url)) as Prereqs;
const dir = mkdtempSync(join(tmpdir(), 'ol-prereqs-'));
after(() => rmSync(dir, { recursive: true, force: true }));

test("the README's prerequisites are scripts/prereqs.mjs's table", async () => {
  const { readmeTable } = await load();
  const readme = readFileSync(join(repoRoot, 'README.md'), 'utf8');
  assert.ok(readme.includes(readmeTable()), 'README.md is stale: run node scripts/prereqs.mjs --readme');
});

test('missing: the packages whose command or file is absent, for the commands asked, each once', async () => {
  const { missing, CI, PREREQS } = await load();
  const table: Row[] = [
    { pkg: 'gone', has: join(dir, 'nothing-here'), for: ['test'], why: '' },
    { pkg: 'gone', has: 'no-such-command-ol', for: ['bench'], why: '' },
    { pkg: 'here', has: process.execPath, for: ['test'], why: '' },
    { pkg: 'half', has: [process.execPath, 'no-such-command-ol'], for: ['test:e2e'], why: '' },
  ];
  assert.deepEqual(missing(['test'], table), ['gone']);
  assert.deepEqual(missing(['test', 'bench'], table), ['gone']);
  assert.deepEqual(missing(['demo'], table), []);
  assert.deepEqual(missing(['ci'], table), ['gone', 'half']);
  assert.ok(CI.includes('test:e2e'));
  // Every row names a package, how to see it, who needs it and why.
  for (const r of PREREQS) assert.ok(r.pkg && r.has && r.for.length && r.why, JSON.stringify(r));
});

test('missing: a `*` path segment matches any one directory, so any version proves the package', async () => {
  const { missing } = await load();
  const table: Row[] = [{ pkg: 'server', has: join(dir, 'lib', '*', 'bin', 'server'), for: ['demo'], why: '' }];
  assert.deepEqual(missing(['demo'], table), ['server']);
  // A client of some version is not the server.
  mkdirSync(join(dir, 'lib', '15', 'bin'), { recursive: true });
  writeFileSync(join(dir, 'lib', '15', 'bin', 'client'), '');
  assert.deepEqual(missing(['demo'], table), ['server']);
  mkdirSync(join(dir, 'lib', '17', 'bin'), { recursive: true });
  writeFileSync(join(dir, 'lib', '17', 'bin', 'server'), '');
  assert.deepEqual(missing(['demo'], table), []);
});

/** Runs ensureSystem in a child that believes it runs as `uid`, with `path` first on PATH. */
function ensureIn(uid: number, table: Row[], path: string) {
  const code = `process.getuid = () => ${uid};
    const m = await import(${JSON.stringify(url)});
    m.ensureSystem('demo', ${JSON.stringify(table)});
    console.log('ensured');`;
  return spawnSync(process.execPath, ['--input-type=module', '-e', code], {
    encoding: 'utf8',
    env: { ...process.env, PATH: `${path}:${process.env.PATH}`, DEBIAN_FRONTEND: '' },
  });
}

test('not root: one line names the packages to install, and a non-zero exit', () => {
  const table: Row[] = [{ pkg: 'fake-pkg', has: join(dir, 'fake-proof'), for: ['demo'], why: '' }];
  const r = ensureIn(1000, table, dir);
  assert.equal(r.status, 1, r.stdout + r.stderr);
  assert.equal(r.stdout, '');
  assert.equal(
    r.stderr,
    'outbound-lens: npm run demo needs fake-pkg: sudo apt-get install -y --no-install-recommends fake-pkg\n',
  );
});

test('root: apt-get update, then a non-interactive install without recommends, then it is there', () => {
  // An apt-get that logs its calls and "installs" by creating the proof file.
  const bin = join(dir, 'bin');
  const proof = join(dir, 'proof');
  const log = join(dir, 'apt.log');
  spawnSync('mkdir', ['-p', bin]);
  writeFileSync(
    join(bin, 'apt-get'),
    `#!/bin/sh\necho "$DEBIAN_FRONTEND $*" >> ${log}\n[ "$1" = install ] && touch ${proof}\nexit 0\n`,
  );
  chmodSync(join(bin, 'apt-get'), 0o755);
  const table: Row[] = [
    { pkg: 'fake-pkg', has: proof, for: ['demo'], why: '' },
    { pkg: 'other', has: process.execPath, for: ['demo'], why: '' },
  ];
  const r = ensureIn(0, table, bin);
  assert.equal(r.status, 0, r.stderr);
  assert.equal(r.stdout, 'ensured\n');
  assert.ok(existsSync(proof));
  assert.deepEqual(readFileSync(log, 'utf8').trim().split('\n'), [
    'noninteractive update -qq',
    'noninteractive install -y -qq --no-install-recommends fake-pkg',
  ]);
  // Installed: nothing more to do.
  assert.equal(ensureIn(0, table, bin).stdout, 'ensured\n');
  assert.equal(readFileSync(log, 'utf8').trim().split('\n').length, 2);

  // apt-get ran but the package is still missing: a clear failure.
  rmSync(proof);
  writeFileSync(join(bin, 'apt-get'), '#!/bin/sh\nexit 0\n');
  const r2 = ensureIn(0, table, bin);
  assert.equal(r2.status, 1);
  assert.match(r2.stderr, /still missing after apt-get: fake-pkg/);
});
