// The committed BPF objects must be what the committed C compiles to, so
// that building the helper needs only Go. Part of npm test, whose system
// packages (clang-14, llvm-14, libbpf-dev) it installs when missing.
import { spawnSync } from 'node:child_process';
import { cpSync, mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { requireGo, root } from './lib.mjs';
import { ensureSystem } from './prereqs.mjs';

const probeDir = join(root, 'bpf', 'probe');
ensureSystem('test');
requireGo();
const tmp = mkdtempSync(join(tmpdir(), 'ol-bpf-'));
try {
  cpSync(join(root, 'bpf'), join(tmp, 'bpf'), { recursive: true });
  const r = spawnSync('go', ['generate', './probe/'], { cwd: join(tmp, 'bpf'), stdio: 'inherit' });
  if (r.status !== 0) process.exit(1);
  const stale = readdirSync(probeDir)
    .filter((f) => /^probe_.*\.(o|go)$/.test(f))
    .filter((f) => !readFileSync(join(probeDir, f)).equals(readFileSync(join(tmp, 'bpf', 'probe', f))));
  if (stale.length) {
    console.error(`stale generated BPF files: ${stale.join(', ')}: run 'go generate ./probe/' in bpf/ and commit`);
    process.exit(1);
  }
  console.log('BPF objects match their C sources');
} finally {
  rmSync(tmp, { recursive: true, force: true });
}
