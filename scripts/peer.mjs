// The peer tracer `npm run bench` measures side by side with Outbound Lens:
// OpenTelemetry Go auto-instrumentation (go.opentelemetry.io/auto), its CLI
// built from the module the Go module proxy serves. The module zip lacks the
// BPF objects, so `go generate` (bpf2go, clang 14) rebuilds them first. The
// binary is cached in .cache/peer/, one per version and architecture; none
// of the peer's source is kept in the repository.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { isRoot, requireGo, root } from './lib.mjs';
import { missing } from './prereqs.mjs';

export const PEER_MODULE = 'go.opentelemetry.io/auto';
export const PEER_VERSION = process.env.OL_BENCH_PEER_VERSION ?? 'v0.24.0';
export const PEER_NAME = `OTel Go auto ${PEER_VERSION}`;
/** The line its CLI logs once every probe is attached (cli/main.go, after inst.Load). */
export const PEER_READY = /instrumentation loaded successfully/;

const cacheDir = join(root, '.cache', 'peer');
const goArch = { x64: 'amd64', arm64: 'arm64' }[process.arch];
// What building the peer needs beyond Go; not installed for it (the peer is optional).
const PEER_PREREQS = [
  { pkg: 'clang-14', has: 'clang-14', for: ['peer'], why: "compiles the peer's BPF programs (bpf2go)" },
  { pkg: 'llvm-14', has: 'llvm-strip-14', for: ['peer'], why: "strips the peer's BPF objects (bpf2go)" },
];

function sh(cmd, args, opts = {}) {
  const r = spawnSync(cmd, args, { encoding: 'utf8', maxBuffer: 64 << 20, ...opts });
  if (r.status !== 0) {
    const out = r.error?.message ?? (r.stderr?.trim() || r.stdout?.trim() || '');
    const tail = out.split('\n').slice(-6).join('\n');
    throw new Error(`${cmd} ${args.join(' ')} failed (${r.status ?? r.signal}):\n${tail}`);
  }
  return r.stdout;
}

/**
 * The peer's binary, built once per version: {bin} or {skip: why it cannot
 * run here}. Also mounts securityfs when it is missing: without it the peer
 * cannot see the kernel's lockdown mode, assumes none, and fails to load its
 * programs that call bpf_probe_write_user.
 */
export function buildPeer() {
  if (process.env.OL_BENCH_PEER === '0') return { skip: 'OL_BENCH_PEER=0' };
  if (!isRoot()) return { skip: 'it needs root (its CLI loads BPF programs and ptraces the service); run as root' };
  if (!goArch) return { skip: `no build for ${process.arch}` };
  const lsm = readFileSync('/proc/mounts', 'utf8');
  if (!/ securityfs /.test(lsm) && existsSync('/sys/kernel/security')) {
    const r = spawnSync('mount', ['-t', 'securityfs', 'securityfs', '/sys/kernel/security'], { encoding: 'utf8' });
    if (r.status !== 0)
      return {
        skip: `securityfs is not mounted and mounting it failed (${r.stderr.trim()}): the peer needs it to see the kernel's lockdown mode`,
      };
  }
  const bin = join(cacheDir, `otel-go-instrumentation-${PEER_VERSION}-${goArch}`);
  if (existsSync(bin)) return { bin };
  const pkgs = missing(['peer'], PEER_PREREQS);
  if (pkgs.length) return { skip: `building it needs ${pkgs.join(', ')} (apt-get install ${pkgs.join(' ')})` };
  const src = join(cacheDir, `src-${PEER_VERSION}`);
  try {
    requireGo();
    console.log(`building the peer ${PEER_MODULE}@${PEER_VERSION} into .cache/peer (once per version; minutes)`);
    const dl = JSON.parse(sh('go', ['mod', 'download', '-json', `${PEER_MODULE}@${PEER_VERSION}`]));
    if (dl.Error) throw new Error(dl.Error);
    mkdirSync(cacheDir, { recursive: true });
    rmSync(src, { recursive: true, force: true });
    sh('cp', ['-r', dl.Dir, src]);
    sh('chmod', ['-R', 'u+w', src]);
    // The repository points its sdk module at a sibling directory the zip
    // does not hold; the required version from the proxy is the same code.
    if (/=>\s*\.\/sdk/.test(readFileSync(join(src, 'go.mod'), 'utf8')))
      sh('go', ['mod', 'edit', '-dropreplace', `${PEER_MODULE}/sdk`], { cwd: src });
    const include = join(src, 'internal', 'include');
    sh('go', ['generate', './internal/...'], {
      cwd: src,
      env: {
        ...process.env,
        BPF2GO_CC: 'clang-14',
        BPF2GO_STRIP: 'llvm-strip-14',
        BPF2GO_CFLAGS: `-I${join(include, 'libbpf')} -I${include}`,
      },
    });
    sh('go', ['build', '-mod=mod', '-trimpath', '-o', `${bin}.tmp`, './cli'], {
      cwd: src,
      env: { ...process.env, CGO_ENABLED: '0', GOARCH: goArch },
    });
    renameSync(`${bin}.tmp`, bin);
    return { bin };
  } catch (e) {
    return { skip: `building it failed: ${e.message}` };
  } finally {
    rmSync(src, { recursive: true, force: true });
  }
}
