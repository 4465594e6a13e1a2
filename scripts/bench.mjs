// npm run bench: what tracing costs the traced service, measured in one run
// against an untraced baseline. Prints numbers; asserts nothing.
//   - /health throughput and latency under wrk, untraced vs traced (alternating runs)
//   - time from starting the helper to its `ready` record
//   - the helper's peak RSS, and events lost at the highest rate wrk drives
import { spawn, spawnSync } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildHelper, buildSample, isRoot, privileged, run, startAndWait } from './lib.mjs';
import { ensureSystem } from './prereqs.mjs';

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const DURATION = process.env.OL_BENCH_SECONDS ?? '8';
const ROUNDS = Number(process.env.OL_BENCH_ROUNDS ?? 3);

ensureSystem('bench');

function wrk(url, connections = 32) {
  const r = spawnSync('wrk', ['-t2', `-c${connections}`, `-d${DURATION}s`, '--latency', url], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`wrk failed: ${r.stderr}`);
  const rps = Number(r.stdout.match(/Requests\/sec:\s+([\d.]+)/)[1]);
  const pct = (p) => {
    const m = r.stdout.match(new RegExp(`\\s${p}%\\s+([\\d.]+)(us|ms|s)`));
    return m ? Number(m[1]) * { us: 1e-3, ms: 1, s: 1e3 }[m[2]] : NaN;
  };
  return { rps, p50: pct(50), p99: pct(99) };
}

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

// The helper writes to a file, not a pipe to this script, so the benchmark
// measures the helper and not how fast Node reads its output.
async function startHelper(helper, pid, outFile) {
  const argv = [...privileged(helper), 'trace', '--format', 'ndjson', '--pid', String(pid)];
  const out = openSync(outFile, 'w');
  const t0 = process.hrtime.bigint();
  const child = spawn(argv[0], argv.slice(1), { stdio: ['pipe', out, 'pipe'] });
  closeSync(out);
  let err = '';
  child.stderr.on('data', (d) => (err += d));
  let readyMs = null;
  for (let i = 0; readyMs === null; i++) {
    if (readFileSync(outFile, 'utf8').startsWith('{"type":"ready"'))
      readyMs = Number(process.hrtime.bigint() - t0) / 1e6;
    else if (child.exitCode !== null || i > 2000) throw new Error(`helper did not become ready:\n${err}`);
    else await sleep(2);
  }
  return {
    readyMs,
    peakRssKiB() {
      const pid = helperPid(child.pid);
      const m = readFileSync(`/proc/${pid}/status`, 'utf8').match(/VmHWM:\s+(\d+)/);
      return Number(m[1]);
    },
    cpuSeconds() {
      const pid = helperPid(child.pid);
      const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
      return (Number(f[11]) + Number(f[12])) / 100; // utime + stime, in clock ticks of 10 ms
    },
    async stop() {
      child.stdin.end();
      await new Promise((r) => (child.exitCode !== null ? r() : child.once('exit', r)));
      let last = null;
      let requests = 0;
      let outbound = 0;
      for (const line of readFileSync(outFile, 'utf8').split('\n')) {
        if (line.startsWith('{"type":"stats"')) last = JSON.parse(line);
        else if (line.startsWith('{"type":"request"')) requests++;
        else if (line.startsWith('{"type":"outbound"')) outbound++;
      }
      return { stats: last, requests, outbound };
    },
  };
}

// The kernel's own cost of one uprobe hit on this machine, without BPF: a
// Go loop calling a function, with and without a tracefs uprobe on it.
// Tracing costs about this much per probe hit, whatever the probe does.
function uprobeCostNs(dir) {
  if (!isRoot() || !existsSync('/sys/kernel/tracing/uprobe_events')) return null;
  const src = join(dir, 'uprobe-cost');
  mkdirSync(src, { recursive: true });
  writeFileSync(join(src, 'go.mod'), 'module uprobecost\n\ngo 1.21\n');
  writeFileSync(
    join(src, 'main.go'),
    `package main

import (
\t"fmt"
\t"time"
)

//go:noinline
func target(x int) int { return x + 1 }

func main() {
\tt0 := time.Now()
\ts := 0
\tfor i := 0; i < 200000; i++ {
\t\ts = target(s)
\t}
\tfmt.Println(float64(time.Since(t0).Nanoseconds())/200000, s)
}
`,
  );
  run('go', ['build', '-o', 'prog', '.'], { cwd: src, stdio: 'pipe', env: { ...process.env, CGO_ENABLED: '0' } });
  const bin = join(src, 'prog');
  const nm = spawnSync('go', ['tool', 'nm', bin], { encoding: 'utf8' }).stdout;
  const addr = BigInt('0x' + nm.match(/^\s*([0-9a-f]+) T main\.target$/m)[1]);
  const off = fileOffset(readFileSync(bin), addr);
  const measure = () => Number(spawnSync(bin, { encoding: 'utf8' }).stdout.split(' ')[0]);
  const plain = Math.min(measure(), measure(), measure());
  const events = '/sys/kernel/tracing/uprobe_events';
  writeFileSync(events, `p:ol_bench_cost ${bin}:0x${off.toString(16)}\n`, { flag: 'a' });
  try {
    writeFileSync('/sys/kernel/tracing/events/uprobes/ol_bench_cost/enable', '1');
    const probed = Math.min(measure(), measure(), measure());
    return probed - plain;
  } finally {
    writeFileSync('/sys/kernel/tracing/events/uprobes/ol_bench_cost/enable', '0');
    writeFileSync(events, '-:ol_bench_cost\n', { flag: 'a' });
  }
}

// Maps a virtual address to its file offset through the ELF program headers.
function fileOffset(elf, vaddr) {
  const phoff = elf.readBigUInt64LE(0x20);
  const phentsize = elf.readUInt16LE(0x36);
  const phnum = elf.readUInt16LE(0x38);
  for (let i = 0; i < phnum; i++) {
    const ph = Number(phoff) + i * phentsize;
    const [type, flags] = [elf.readUInt32LE(ph), elf.readUInt32LE(ph + 4)];
    const [offset, va, filesz] = [
      elf.readBigUInt64LE(ph + 8),
      elf.readBigUInt64LE(ph + 16),
      elf.readBigUInt64LE(ph + 32),
    ];
    if (type === 1 && flags & 1 && vaddr >= va && vaddr < va + filesz) return vaddr - va + offset;
  }
  throw new Error('address not in an executable segment');
}

// Under sudo the helper is sudo's child.
function helperPid(pid) {
  const comm = readFileSync(`/proc/${pid}/comm`, 'utf8').trim();
  if (comm !== 'sudo') return pid;
  const kids = readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/);
  return Number(kids[0]);
}

async function main() {
  const helper = buildHelper();
  const sample = buildSample();
  const down = '127.0.0.1:18091';
  const addr = '127.0.0.1:18090';
  const { child: downstream } = await startAndWait(
    sample.downstream,
    ['-addr', down, '-raw', '127.0.0.1:18092'],
    /listening on/,
  );
  const { child: service } = await startAndWait(
    sample.service,
    ['-addr', addr, '-downstream', `http://${down}`, '-raw', '127.0.0.1:18092'],
    /listening on/,
  );
  const cleanup = () => [downstream, service].forEach((c) => c.exitCode === null && c.kill('SIGTERM'));
  process.on('exit', cleanup);

  const dir = mkdtempSync(join(tmpdir(), 'ol-bench-'));
  console.log(
    `Outbound Lens benchmark: wrk -t2 -c32 -d${DURATION}s on the sample's GET /health, ${ROUNDS} rounds of untraced then traced`,
  );
  wrk(`http://${addr}/health`); // warm up
  const base = [];
  const traced = [];
  const ready = [];
  const rss = [];
  const cpu = [];
  let lost = 0;
  let events = 0;
  let seen = 0;
  for (let i = 0; i < ROUNDS; i++) {
    base.push(wrk(`http://${addr}/health`));
    const h = await startHelper(helper, service.pid, join(dir, `round${i}.ndjson`));
    ready.push(h.readyMs);
    const c0 = h.cpuSeconds();
    traced.push(wrk(`http://${addr}/health`));
    cpu.push((h.cpuSeconds() - c0) / Number(DURATION));
    rss.push(h.peakRssKiB());
    const { stats, requests } = await h.stop();
    lost += stats?.lost ?? 0;
    events += stats?.events ?? 0;
    seen += requests;
    console.log(
      `  round ${i + 1}: untraced ${base[i].rps.toFixed(0)} req/s, traced ${traced[i].rps.toFixed(0)} req/s, helper ${(cpu[i] * 100).toFixed(0)}% CPU, ready in ${h.readyMs.toFixed(0)} ms`,
    );
  }
  // The highest event rate: every request calls the downstream, 64 in flight.
  const h = await startHelper(helper, service.pid, join(dir, 'echo.ndjson'));
  const echo = wrk(`http://${addr}/echo`, 64);
  rss.push(h.peakRssKiB());
  const echoRun = await h.stop();
  const b = {
    rps: median(base.map((x) => x.rps)),
    p50: median(base.map((x) => x.p50)),
    p99: median(base.map((x) => x.p99)),
  };
  const t = {
    rps: median(traced.map((x) => x.rps)),
    p50: median(traced.map((x) => x.p50)),
    p99: median(traced.map((x) => x.p99)),
  };
  console.log('\nresults (medians)');
  console.log(`  throughput untraced        ${b.rps.toFixed(0)} req/s`);
  console.log(`  throughput traced          ${t.rps.toFixed(0)} req/s`);
  console.log(`  ratio traced/untraced      ${(t.rps / b.rps).toFixed(3)}   (target >= 0.97)`);
  console.log(
    `  p50 latency                ${b.p50.toFixed(3)} ms -> ${t.p50.toFixed(3)} ms (+${(t.p50 - b.p50).toFixed(3)} ms)`,
  );
  console.log(
    `  p99 latency                ${b.p99.toFixed(3)} ms -> ${t.p99.toFixed(3)} ms (+${(t.p99 - b.p99).toFixed(3)} ms)`,
  );
  console.log(`  helper CPU while traced    ${(median(cpu) * 100).toFixed(0)}% of one core`);
  console.log(
    `  helper start to ready      ${median(ready).toFixed(0)} ms (max ${Math.max(...ready).toFixed(0)} ms; target <= 1000)`,
  );
  console.log(`  helper peak RSS            ${(Math.max(...rss) / 1024).toFixed(1)} MiB`);
  console.log(`  events / requests traced   ${events} / ${seen} (/health)`);
  console.log(`  events lost on /health     ${lost}   (target 0)`);
  console.log(
    `  /echo traced, 64 in flight ${echo.rps.toFixed(0)} req/s: ${echoRun.requests} requests, ${echoRun.outbound} outbound records, ${echoRun.stats?.lost ?? '?'} events lost (target 0)`,
  );
  const cost = uprobeCostNs(dir);
  if (cost !== null) {
    const hits = 5; // ServeHTTP entry + RET, Gin entry + RET, newproc1 RET (net/http starts a goroutine per request)
    console.log(
      `  one uprobe hit, no BPF     ${(cost / 1000).toFixed(2)} us on this machine; /health takes ${hits} hits a request = ${((hits * cost) / 1000).toFixed(1)} us`,
    );
  }
  rmSync(dir, { recursive: true, force: true });
  cleanup();

  // The editor side (activation, palette to first row, panel frames, server memory), in its own process.
  if (process.env.OL_BENCH_SKIP_EXTENSION !== '1') {
    console.log('\n--- the extension: npm run bench:extension ---');
    const ext = spawnSync(process.execPath, [new URL('./bench-extension.mjs', import.meta.url).pathname], {
      stdio: 'inherit',
    });
    if (ext.status !== 0) console.log(`bench:extension exited with ${ext.status ?? ext.signal}`);
  }
}

main().catch((e) => {
  console.error(`bench failed: ${e.message}`);
  process.exit(1);
});
