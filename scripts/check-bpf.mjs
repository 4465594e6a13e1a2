// The committed BPF objects must be what the committed C compiles to, so
// that building the helper needs only Go. Needs clang-14 (CI installs it).
import { spawnSync } from 'node:child_process';
import { cpSync, mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { root } from './lib.mjs';

const probeDir = join(root, 'bpf', 'probe');
if (spawnSync('clang-14', ['--version']).status !== 0) {
  console.error(
    'clang-14 is not installed, so the BPF objects cannot be rebuilt to compare (apt-get install clang-14 libbpf-dev)',
  );
  process.exit(1);
}
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
