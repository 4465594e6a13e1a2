// The system packages the npm scripts need, declared once. Each script asks
// for its own (`ensureSystem('bench')`): as root they are installed with apt,
// otherwise one line says what to install. `.ci/run` installs every suite's
// with `node scripts/prereqs.mjs --for ci`, and the README's requirements
// show this table (`node scripts/prereqs.mjs --readme` writes it; a unit
// test fails when the README's copy differs). Node built-ins only: this runs
// on a fresh clone before `npm ci`, and on a machine without Go.
//
//   node scripts/prereqs.mjs --for COMMAND   install what COMMAND needs (ci: everything .ci/run runs)
//   node scripts/prereqs.mjs --go            download Go into .cache/go when there is none
//   node scripts/prereqs.mjs --readme        write the README's table
import { spawnSync } from 'node:child_process';
import {
  accessSync,
  constants,
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { delimiter, dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { GO_TOOLCHAINS } from './toolchains.mjs';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const CODE_SERVER = ['test:e2e', 'bench:extension'];

/**
 * One row a package: `has` is the command (looked up on PATH) or the absolute
 * path that proves it is installed (a `*` path segment matches any one
 * directory: a version), `for` the npm scripts that need it (`go`: only where
 * Go itself must be downloaded), `why` what for.
 */
export const PREREQS = [
  { pkg: 'clang-14', has: 'clang-14', for: ['test'], why: 'compiles the BPF C to check the committed objects' },
  { pkg: 'llvm-14', has: 'llvm-strip-14', for: ['test'], why: 'bpf2go strips the compiled BPF objects' },
  { pkg: 'libbpf-dev', has: '/usr/include/bpf/bpf_helpers.h', for: ['test'], why: "the BPF C's libbpf headers" },
  { pkg: 'util-linux', has: 'setpriv', for: ['test', 'test:e2e'], why: 'runs the helper as an unprivileged user' },
  { pkg: 'gcc', has: 'gcc', for: ['test'], why: 'links the cgo builds of the sample in the probe tests' },
  {
    pkg: 'chromium',
    has: '/usr/bin/chromium',
    env: 'CHROMIUM_PATH',
    for: ['test', ...CODE_SERVER],
    why: 'the panel in headless Chromium; Playwright drives the workbench in it',
  },
  { pkg: 'sudo', has: 'sudo', for: ['test:e2e'], why: 'the terminal route: a sudoer types its password' },
  { pkg: 'libcap2-bin', has: 'setcap', for: ['test:e2e'], why: 'the capability grant (setcap, getcap)' },
  { pkg: 'wrk', has: 'wrk', for: ['bench'], why: 'the HTTP load' },
  {
    pkg: 'postgresql',
    has: ['/usr/lib/postgresql/*/bin/initdb', '/usr/lib/postgresql/*/bin/postgres'],
    for: ['test', 'test:matrix', 'demo', 'bench'],
    why: 'a real PostgreSQL server (any major version) for the database pool the sample opens',
  },
  {
    pkg: 'redis-server',
    has: 'redis-server',
    for: ['test', 'test:matrix', 'demo', 'bench'],
    why: 'a real Redis server for the cache pool the sample opens',
  },
  { pkg: 'build-essential', has: ['make', 'g++'], for: CODE_SERVER, why: "code-server's native modules build" },
  { pkg: 'python3', has: 'python3', for: CODE_SERVER, why: "node-gyp, for code-server's native modules" },
  { pkg: 'pkg-config', has: 'pkg-config', for: CODE_SERVER, why: "code-server's native modules build" },
  { pkg: 'libkrb5-dev', has: '/usr/include/krb5.h', for: CODE_SERVER, why: "code-server's native modules build" },
  { pkg: 'libx11-dev', has: '/usr/include/X11/Xlib.h', for: CODE_SERVER, why: "code-server's native modules build" },
  {
    pkg: 'libxkbfile-dev',
    has: '/usr/include/X11/extensions/XKBfile.h',
    for: CODE_SERVER,
    why: "code-server's native modules build",
  },
  {
    pkg: 'libsecret-1-dev',
    has: '/usr/include/libsecret-1/libsecret/secret.h',
    for: CODE_SERVER,
    why: "code-server's native modules build",
  },
  { pkg: 'ripgrep', has: 'rg', for: CODE_SERVER, why: "VS Code's search (instead of a download)" },
  { pkg: 'xvfb', has: 'Xvfb', for: ['test:electron'], why: 'a display for VS Code when there is none' },
  { pkg: 'xauth', has: 'xauth', for: ['test:electron'], why: 'a display for VS Code when there is none' },
  { pkg: 'unzip', has: 'unzip', for: ['go'], why: 'unpacks Go when there is none (into .cache/go)' },
];

/** The npm scripts `.ci/run` runs. */
export const CI = ['test', 'test:matrix', 'test:e2e'];

const isRoot = () => process.getuid?.() === 0;

function onPath(cmd) {
  return (process.env.PATH ?? '').split(delimiter).some((d) => {
    try {
      accessSync(join(d, cmd), constants.X_OK);
      return true;
    } catch {
      return false;
    }
  });
}

/** Whether the absolute path `p` exists; a `*` segment matches any directory entry. */
function pathExists(p) {
  const star = p.split('/').indexOf('*');
  if (star < 0) return existsSync(p);
  const parts = p.split('/');
  const dir = parts.slice(0, star).join('/') || '/';
  let names = [];
  try {
    names = readdirSync(dir);
  } catch {
    return false;
  }
  return names.some((n) => pathExists([...parts.slice(0, star), n, ...parts.slice(star + 1)].join('/')));
}

function installed(row) {
  if (row.env && process.env[row.env]) return existsSync(process.env[row.env]);
  return [row.has].flat().every((h) => (h.startsWith('/') ? pathExists(h) : onPath(h)));
}

/** The packages `commands` need that are not installed, each once. */
export function missing(commands, table = PREREQS) {
  const want = new Set(commands.flatMap((c) => (c === 'ci' ? CI : [c])));
  const rows = table.filter((r) => r.for.some((c) => want.has(c)) && !installed(r));
  return [...new Set(rows.map((r) => r.pkg))];
}

/** How a user runs `command`: npm test, npm run bench, … */
const npmCommand = (c) =>
  c === 'go' ? 'any, when Go is missing' : c === 'test' ? 'npm test' : c === 'ci' ? '.ci/run' : `npm run ${c}`;

/** The one line that says what to install, for a user who is not root. */
export function installHint(commands, pkgs) {
  const what = commands.map((c) => (c === 'go' ? 'downloading Go' : npmCommand(c))).join(', ');
  return `outbound-lens: ${what} needs ${pkgs.join(', ')}: sudo apt-get install -y --no-install-recommends ${pkgs.join(' ')}`;
}

/** apt-get update, then install `pkgs`; throws when apt-get fails. */
export function aptInstall(pkgs) {
  console.error(`outbound-lens: installing ${pkgs.join(' ')} (apt-get)`);
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  for (const args of [
    ['update', '-qq'],
    ['install', '-y', '-qq', '--no-install-recommends', ...pkgs],
  ]) {
    const r = spawnSync('apt-get', args, { stdio: 'inherit', env });
    if (r.status !== 0) throw new Error(`apt-get ${args.join(' ')} failed (${r.error?.message ?? `exit ${r.status}`})`);
  }
}

/**
 * Makes sure the system packages of `commands` (npm script names) are there:
 * installs them as root where apt exists, else prints what to install and
 * exits non-zero.
 */
export function ensureSystem(commands, table = PREREQS) {
  commands = [commands].flat();
  const pkgs = missing(commands, table);
  if (!pkgs.length) return;
  if (!isRoot() || !onPath('apt-get')) {
    console.error(installHint(commands, pkgs));
    process.exit(1);
  }
  aptInstall(pkgs);
  const still = missing(commands, table);
  if (still.length) {
    console.error(`outbound-lens: still missing after apt-get: ${still.join(', ')}`);
    process.exit(1);
  }
}

// ---- Go ----

/** Where a downloaded Go lives: the project's own cache, so no root is needed. */
export const goCache = join(root, '.cache', 'go');

/** The toolchain to download: the newest tested patch of the release bpf/go.mod asks for. */
export function buildToolchain() {
  const minor = readFileSync(join(root, 'bpf', 'go.mod'), 'utf8').match(/^go (1\.\d+)/m)[1];
  const tc = GO_TOOLCHAINS.find((t) => t.startsWith(`go${minor}.`));
  if (!tc) throw new Error(`scripts/toolchains.mjs has no go${minor} toolchain, which bpf/go.mod asks for`);
  return tc;
}

/** Puts a `go` on PATH (this process's, so children inherit it): the one there, else .cache/go's. */
export function goOnPath() {
  if (onPath('go')) return true;
  if (!existsSync(join(goCache, 'bin', 'go'))) return false;
  process.env.PATH = `${join(goCache, 'bin')}${delimiter}${process.env.PATH ?? ''}`;
  return true;
}

/** Downloads Go from the Go module proxy (a toolchain module, as GOTOOLCHAIN does) into .cache/go. */
async function downloadGo() {
  ensureSystem('go');
  const tc = buildToolchain();
  const arch = { x64: 'amd64', arm64: 'arm64' }[process.arch] ?? process.arch;
  const proxy =
    (process.env.GOPROXY ?? '').split(/[,|]/).find((p) => /^https?:\/\//.test(p)) ?? 'https://proxy.golang.org';
  const mod = `v0.0.1-${tc}.linux-${arch}`;
  const url = `${proxy.replace(/\/$/, '')}/golang.org/toolchain/@v/${mod}.zip`;
  console.error(`outbound-lens: Go is not installed; downloading ${tc} into ${goCache}`);
  const res = await fetch(url);
  if (!res.ok) throw new Error(`downloading ${url}: HTTP ${res.status}`);
  const tmp = `${goCache}.tmp`;
  rmSync(tmp, { recursive: true, force: true });
  mkdirSync(tmp, { recursive: true });
  writeFileSync(join(tmp, 'go.zip'), Buffer.from(await res.arrayBuffer()));
  const r = spawnSync('unzip', ['-q', join(tmp, 'go.zip'), '-d', tmp], { stdio: 'inherit' });
  if (r.status !== 0) throw new Error(`unzip ${url} failed`);
  rmSync(goCache, { recursive: true, force: true });
  renameSync(join(tmp, 'golang.org', `toolchain@${mod}`), goCache);
  rmSync(tmp, { recursive: true, force: true });
}

/** Makes sure `go` runs: the one on PATH, else one downloaded once into .cache/go. */
export async function ensureGo() {
  if (goOnPath()) return;
  await downloadGo();
  if (!goOnPath()) throw new Error(`no go in ${goCache} after the download`);
}

// ---- the README's copy ----

const BEGIN = '<!-- prerequisites: node scripts/prereqs.mjs --readme -->';
const END = '<!-- end of prerequisites -->';

/** The README table: one row a package, what proves it is there, the commands that need it, why. */
export function readmeTable(table = PREREQS) {
  const cmds = (r) => r.for.map((c) => (c === 'go' ? npmCommand(c) : `\`${npmCommand(c)}\``));
  const has = (r) => [r.has].flat().map((h) => `\`${h}\``);
  const rows = table.map((r) => `| \`${r.pkg}\` | ${has(r).join(', ')} | ${cmds(r).join(', ')} | ${r.why} |`);
  const head = ['| Debian package | installed when there is | needed by | why |', '| --- | --- | --- | --- |'];
  return [BEGIN, ...head, ...rows, END].join('\n');
}

/** The README's text with its prerequisites section replaced by `table`. */
export function withReadmeTable(readme, table = readmeTable()) {
  const a = readme.indexOf(BEGIN);
  const b = readme.indexOf(END);
  if (a < 0 || b < a) throw new Error(`README.md has no "${BEGIN}" … "${END}" section`);
  return readme.slice(0, a) + table + readme.slice(b + END.length);
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const arg = (name) => process.argv[process.argv.indexOf(name) + 1];
  try {
    if (process.argv.includes('--readme')) {
      const file = join(root, 'README.md');
      writeFileSync(file, withReadmeTable(readFileSync(file, 'utf8')));
    } else if (process.argv.includes('--go')) {
      await ensureGo();
    } else if (process.argv.includes('--for')) {
      const cmd = arg('--for');
      ensureSystem(cmd);
      if (cmd === 'ci') await ensureGo();
    } else {
      console.error('usage: node scripts/prereqs.mjs --for COMMAND | --go | --readme');
      process.exit(2);
    }
  } catch (e) {
    console.error(`outbound-lens: ${e.message}`);
    process.exit(1);
  }
}
