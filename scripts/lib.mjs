// Shared steps for the npm scripts: install what they need (Go, node
// modules), build the helper and the sample, run things as root when tracing
// needs it. Node built-ins only, so these work on a fresh clone before
// `npm ci`.
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, statSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { goOnPath } from './prereqs.mjs';

export const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const goArch = { x64: 'amd64', arm64: 'arm64' };

export function helperPath(arch = process.arch) {
  return join(root, 'bin', `linux-${arch}`, 'outbound-lens-helper');
}

export function run(cmd, args, opts = {}) {
  const r = spawnSync(cmd, args, { stdio: 'inherit', ...opts });
  if (r.error) throw new Error(`${cmd}: ${r.error.message}`);
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} exited with ${r.status ?? r.signal}`);
  return r;
}

/** Puts `go` on PATH; on a machine without Go, downloads it once into .cache/go. */
export function requireGo() {
  if (!goOnPath()) run(process.execPath, [join(root, 'scripts', 'prereqs.mjs'), '--go']);
  const r = goOnPath() && spawnSync('go', ['version'], { encoding: 'utf8' });
  if (!r || r.error || r.status !== 0) {
    throw new Error(
      'Go is needed to build the helper: install Go >= 1.24 (https://go.dev/doc/install) and make sure `go` is on PATH',
    );
  }
}

/** `npm ci` when node_modules is missing or older than package-lock.json. */
export function ensureNodeModules() {
  const stamp = join(root, 'node_modules', '.package-lock.json');
  if (existsSync(stamp) && statSync(stamp).mtimeMs >= statSync(join(root, 'package-lock.json')).mtimeMs) return;
  console.error('outbound-lens: installing node modules (npm ci)');
  run('npm', ['ci', '--no-audit', '--no-fund'], { cwd: root });
}

/** Builds the helper (Go's build cache makes this quick when nothing changed). */
export function buildHelper(arch = process.arch) {
  requireGo();
  const out = helperPath(arch);
  mkdirSync(dirname(out), { recursive: true });
  run('go', ['build', '-trimpath', '-o', out, './cmd/outbound-lens-helper'], {
    cwd: join(root, 'bpf'),
    env: { ...process.env, CGO_ENABLED: '0', GOARCH: goArch[arch] ?? arch, GOOS: 'linux' },
  });
  return out;
}

/** Builds the sample service and its downstream into bin/sample. */
export function buildSample() {
  requireGo();
  const dir = join(root, 'bin', 'sample');
  mkdirSync(dir, { recursive: true });
  run('go', ['build', '-o', dir + '/', '.', './downstream'], { cwd: join(root, 'sample') });
  return { service: join(dir, 'sample'), downstream: join(dir, 'downstream') };
}

/** Builds the command that starts throwaway PostgreSQL and Redis (test/probe/cmd/servers) into bin/servers. */
export function buildServers() {
  requireGo();
  const out = join(root, 'bin', 'servers');
  run('go', ['build', '-o', out, './cmd/servers'], { cwd: join(root, 'test', 'probe') });
  return out;
}

/**
 * Starts throwaway PostgreSQL and Redis (bin/servers: as the user nobody when
 * root, in temporary directories; packages installed for `npmCommand` when
 * missing). Resolves with the ready line (`postgres.dsn`, `redis.addr`, …)
 * and stop(), which stops both, removes their directories, and resolves with
 * what they saw when `truth` (the statements and commands, one object each,
 * `type` postgres or redis).
 */
export async function startServers(npmCommand, { truth = false, timeoutMs = 120000 } = {}) {
  const bin = buildServers();
  const child = spawn(bin, ['-for', npmCommand, ...(truth ? ['-truth'] : [])], {
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  const lines = [];
  const closed = new Promise((r) => child.once('close', (code, signal) => r(code ?? signal)));
  await new Promise((resolveReady, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGTERM');
      reject(new Error(`${bin} was not ready within ${timeoutMs} ms`));
    }, timeoutMs);
    closed.then((code) => {
      clearTimeout(timer);
      reject(new Error(`${bin} exited (${code}) before it was ready`));
    });
    createInterface({ input: child.stdout }).on('line', (l) => {
      lines.push(JSON.parse(l));
      clearTimeout(timer);
      resolveReady();
    });
  });
  if (lines[0].type !== 'ready') throw new Error(`${bin}: ${JSON.stringify(lines[0])}`);
  return {
    ...lines[0],
    child,
    async stop() {
      child.stdin.end();
      const code = await closed;
      if (code !== 0) throw new Error(`${bin} exited with ${code} while stopping`);
      return lines.filter((l) => l.type === 'postgres' || l.type === 'redis');
    },
  };
}

export const isRoot = () => process.getuid?.() === 0;

/** The command prefix that runs the helper with tracing privileges. */
export function privileged(cmd) {
  if (isRoot()) return [cmd];
  const r = spawnSync('getcap', [cmd], { encoding: 'utf8' });
  if (r.status === 0 && /cap_bpf/.test(r.stdout)) return [cmd];
  console.error('outbound-lens: tracing needs root; running the helper with sudo');
  return ['sudo', '--preserve-env=SUDO_UID,SUDO_GID', cmd];
}

/** Starts a process and resolves once `pattern` appears on its stderr. */
export function startAndWait(cmd, args, pattern, { timeoutMs = 20000, echo = false, ...opts } = {}) {
  const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'], ...opts });
  return new Promise((resolveStart, reject) => {
    let seen = '';
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`${cmd} did not print ${pattern} within ${timeoutMs} ms:\n${seen}`));
    }, timeoutMs);
    const onExit = (code) => {
      clearTimeout(timer);
      reject(new Error(`${cmd} exited (${code ?? child.signalCode}) before it was ready:\n${seen}`));
    };
    child.once('exit', onExit);
    child.stderr.setEncoding('utf8');
    let ready = false;
    child.stderr.on('data', (d) => {
      if (echo) process.stderr.write(d);
      if (ready) return; // and leave alone the exit listeners the caller adds
      seen += d;
      const m = seen.match(pattern);
      if (m) {
        ready = true;
        clearTimeout(timer);
        child.removeListener('exit', onExit);
        resolveStart({ child, match: m });
      }
    });
  });
}

export function exists(p) {
  return existsSync(p);
}

/**
 * A test script's steps: step() runs a command (output shown, from the
 * repository root) and records whether it passed and how long it took;
 * summary() prints the record and exits, non-zero when a step failed.
 */
export function steps() {
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
  function summary(title) {
    console.log(`\n=== ${title}`);
    for (const r of results) console.log(`${r.ok ? 'ok  ' : 'FAIL'}  ${r.name}  (${r.secs}s)`);
    const failed = results.filter((r) => !r.ok).length;
    console.log(`${results.length - failed} passed, ${failed} failed`);
    process.exit(failed ? 1 : 0);
  }
  return { step, results, summary };
}
