// npm run bench: what tracing costs the traced service, measured in one run
// against an untraced baseline. Prints numbers; asserts nothing.
//   - /health and /echo throughput under wrk, untraced vs traced (alternating
//     runs; the median of the rounds' ratios), and the CPU time tracing adds
//     to a request: the service's (the probes run in its threads) and the
//     helper's
//   - /health and /echo latency at a fixed rate below saturation, untraced vs
//     traced (alternating runs; scripts/latency, open loop), and the CPU
//     tracing takes at that rate
//   - time from starting the helper to its `ready` record
//   - the helper's peak RSS, and events lost at the highest rate wrk drives
//   - as root, GET /data/N (one PostgreSQL query and one Redis GET on pools
//     opened before the trace; servers started as nobody, scripts/lib.mjs)
//   - the same rounds traced by a peer tracer (scripts/peer.mjs) when it can be
//     built here, and a side-by-side table; OL_BENCH_PEER=0 leaves it out
import { spawn, spawnSync } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { buildHelper, buildSample, isRoot, privileged, run, startAndWait, startServers } from './lib.mjs';
import { PEER_NAME, PEER_READY, buildPeer } from './peer.mjs';
import { ensureSystem } from './prereqs.mjs';

const DURATION = process.env.OL_BENCH_SECONDS ?? '8';
const ROUNDS = Number(process.env.OL_BENCH_ROUNDS ?? 3);
// The latency rounds: a fixed rate far below saturation (the throughput
// rounds print what wrk drives through /health and /echo; /echo, the
// slower, serves some 10 000 req/s on a 2-core VM), where the untraced p99
// is a few hundred µs, so what tracing adds to a request shows instead of
// drowning in the queueing of a saturated service (p99 of 5-12 ms under wrk
// -c32). Much lower rates measure the wake-up of idle CPUs more than the
// service (500 req/s had a higher p50 and p99 than 2000). 8 connections:
// about 0.3 requests are in flight on average; 8 ride out a stall of a few ms.
const LATENCY_RATE = Number(process.env.OL_BENCH_RATE ?? 2000);
const LATENCY_CONNS = 8;

ensureSystem('bench');

// A wrk run; with pids, also the CPU seconds each of those processes spent
// during it (cpu[i] for pids[i]), and the machine's: busy (user, system,
// interrupts) and stolen by the hypervisor, in CPU seconds.
function wrk(url, connections = 32, pids = []) {
  const m0 = machineCpu();
  const { r, cpu } = spawnCounting(pids, 'wrk', ['-t2', `-c${connections}`, `-d${DURATION}s`, url]);
  const m1 = machineCpu();
  if (r.status !== 0) throw new Error(`wrk failed: ${r.stderr}`);
  const rps = Number(r.stdout.match(/Requests\/sec:\s+([\d.]+)/)[1]);
  const requests = Number(r.stdout.match(/(\d+) requests in/)[1]);
  return { rps, requests, cpu, busy: m1.busy - m0.busy, steal: m1.steal - m0.steal };
}

// spawnSync(cmd, args) as text; cpu[i] is the CPU seconds pids[i] spent
// meanwhile.
function spawnCounting(pids, cmd, args) {
  const c0 = pids.map(cpuSeconds);
  const r = spawnSync(cmd, args, { encoding: 'utf8' });
  return { r, cpu: pids.map((p, i) => cpuSeconds(p) - c0[i]) };
}

// The machine's CPU seconds since boot, from /proc/stat's first line:
// busy (user, nice, system, irq, softirq) and steal.
function machineCpu() {
  const f = readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/).slice(1).map(Number);
  const [user, nice, system, , , irq, softirq, steal] = f;
  return { busy: (user + nice + system + irq + softirq) / 100, steal: steal / 100 };
}

// Builds scripts/latency: GET requests at a fixed rate, open loop, each one's
// latency counted from its scheduled send time (so a stall of the service
// counts for every request it delays). Returns run(url) -> {p50, p99, ...} in µs.
function latencyRunner(dir) {
  const bin = join(dir, 'latency');
  run('go', ['build', '-o', bin, '.'], {
    cwd: new URL('./latency', import.meta.url).pathname,
    stdio: 'pipe',
    env: { ...process.env, CGO_ENABLED: '0' },
  });
  // With pids, out.cpu[i] is the CPU seconds pids[i] spent during the run.
  return (url, seconds = DURATION, pids = []) => {
    const args = ['-url', url, '-rate', String(LATENCY_RATE), '-conns', String(LATENCY_CONNS), '-seconds', seconds];
    const { r, cpu } = spawnCounting(pids, bin, args);
    if (r.status !== 0) throw new Error(`scripts/latency failed: ${r.stderr}`);
    const out = JSON.parse(r.stdout);
    if (!out.ok) throw new Error(`scripts/latency: no request to ${url} succeeded: ${out.last_error}`);
    return { ...out, cpu, requests: out.ok };
  };
}

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

// The helper writes to a file, not a pipe to this script, so the benchmark
// measures the helper and not how fast Node reads its output.
async function startHelper(helper, pid, outFile, extra = []) {
  const argv = [...privileged(helper), 'trace', '--format', 'ndjson', '--pid', String(pid), ...extra];
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
    pid: helperPid(child.pid),
    peakRssKiB: () => peakRssKiB(helperPid(child.pid)),
    async stop() {
      child.stdin.end();
      await new Promise((r) => (child.exitCode !== null ? r() : child.once('exit', r)));
      let last = null;
      let ready = null;
      let requests = 0;
      let outbound = 0;
      for (const line of readFileSync(outFile, 'utf8').split('\n')) {
        if (line.startsWith('{"type":"stats"')) last = JSON.parse(line);
        else if (line.startsWith('{"type":"request"')) requests++;
        else if (line.startsWith('{"type":"outbound"')) outbound++;
        else if (line.startsWith('{"type":"ready"')) ready = JSON.parse(line);
      }
      return { stats: last, ready, requests, outbound };
    },
  };
}

function peakRssKiB(pid) {
  return Number(readFileSync(`/proc/${pid}/status`, 'utf8').match(/VmHWM:\s+(\d+)/)[1]);
}

function cpuSeconds(pid) {
  const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
  return (Number(f[11]) + Number(f[12])) / 100; // utime + stime, in clock ticks of 10 ms
}

// The peer attached to the service by pid, its spans written as JSON lines
// (the console exporter) to a file, as the helper writes its records: it
// exports nowhere over the network, and the span count shows it traced.
// Ready when it logs that its probes are loaded and attached.
async function startPeer(bin, pid, outFile) {
  const out = openSync(outFile, 'w');
  const t0 = process.hrtime.bigint();
  const started = startAndWait(bin, ['-target-pid', String(pid)], PEER_READY, {
    timeoutMs: 120000,
    stdio: ['ignore', out, 'pipe'],
    env: { ...process.env, OTEL_TRACES_EXPORTER: 'console', OTEL_SERVICE_NAME: 'sample', OTEL_LOG_LEVEL: 'info' },
  });
  closeSync(out);
  const { child } = await started;
  const readyMs = Number(process.hrtime.bigint() - t0) / 1e6;
  return {
    readyMs,
    pid: child.pid,
    peakRssKiB: () => peakRssKiB(child.pid),
    async stop() {
      const gone = child.exitCode !== null || child.signalCode !== null;
      const exited = new Promise((r) => (gone ? r() : child.once('exit', r)));
      child.kill('SIGTERM'); // it flushes its span processor, then detaches
      const timer = setTimeout(() => child.kill('SIGKILL'), 15000);
      await exited;
      clearTimeout(timer);
      const spans = readFileSync(outFile); // may exceed the longest string
      const count = (s) => {
        let n = 0;
        for (let i = spans.indexOf(s); i >= 0; i = spans.indexOf(s, i + s.length)) n++;
        return n;
      };
      return { serverSpans: count('"SpanKind":2,'), clientSpans: count('"SpanKind":3,') };
    },
  };
}

// The kernel's own cost of one uprobe hit on this machine, per class of
// the probed instruction, without BPF: scripts/uprobe-cost times calls of
// tiny functions each starting with one instruction of a class, with and
// without a tracefs uprobe on that instruction. Returns {class: ns}.
function uprobeCostNs(dir) {
  if (!isRoot() || !existsSync('/sys/kernel/tracing/uprobe_events') || process.arch !== 'x64') return null;
  const bin = join(dir, 'uprobecost');
  run('go', ['build', '-o', bin, '.'], {
    cwd: new URL('./uprobe-cost', import.meta.url).pathname,
    stdio: 'pipe',
    env: { ...process.env, CGO_ENABLED: '0' },
  });
  const nm = spawnSync('go', ['tool', 'nm', bin], { encoding: 'utf8' }).stdout;
  const elf = readFileSync(bin);
  const events = '/sys/kernel/tracing/uprobe_events';
  const costs = {};
  for (const line of spawnSync(bin, ['list'], { encoding: 'utf8' }).stdout.trim().split('\n')) {
    const [cls, sym] = line.split(' ');
    const addr = BigInt('0x' + nm.match(new RegExp(`^\\s*([0-9a-f]+) T ${sym.replace(/[.*]/g, '\\$&')}$`, 'm'))[1]);
    const off = fileOffset(elf, addr);
    const measure = () => Number(spawnSync(bin, ['run', cls], { encoding: 'utf8' }).stdout);
    writeFileSync(events, `p:ol_bench_cost ${bin}:0x${off.toString(16)}\n`, { flag: 'a' });
    try {
      const diffs = [];
      for (let i = 0; i < 3; i++) {
        const plain = measure();
        writeFileSync('/sys/kernel/tracing/events/uprobes/ol_bench_cost/enable', '1');
        const probed = measure();
        writeFileSync('/sys/kernel/tracing/events/uprobes/ol_bench_cost/enable', '0');
        diffs.push(probed - plain);
      }
      costs[cls] = median(diffs);
    } finally {
      writeFileSync(events, '-:ol_bench_cost\n', { flag: 'a' });
    }
  }
  return costs;
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

// Microseconds of CPU per request the i-th process counted in a run spent.
function cpuPerRequest(run, i) {
  return (run.cpu[i] * 1e6) / run.requests;
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
  const peer = buildPeer();
  console.log(peer.bin ? `peer: ${PEER_NAME} (${peer.bin})` : `peer: not measured: ${peer.skip}`);
  const down = '127.0.0.1:18091';
  const addr = '127.0.0.1:18090';
  const { child: downstream } = await startAndWait(
    sample.downstream,
    ['-addr', down, '-raw', '127.0.0.1:18092'],
    /listening on/,
  );
  // PostgreSQL and Redis for /data, started as nobody: root only.
  let servers = null;
  let dataSkip = 'not root (the servers run as the user nobody)';
  if (isRoot()) {
    try {
      servers = await startServers('bench');
    } catch (e) {
      dataSkip = e.message;
    }
  }
  const dataArgs = servers ? ['-pg', servers.postgres.dsn, '-redis', servers.redis.addr] : [];
  const { child: service } = await startAndWait(
    sample.service,
    ['-addr', addr, '-downstream', `http://${down}`, '-raw', '127.0.0.1:18092', ...dataArgs],
    /listening on/,
  );
  const cleanup = () => [downstream, service].forEach((c) => c.exitCode === null && c.kill('SIGTERM'));
  process.on('exit', cleanup);

  const dir = mkdtempSync(join(tmpdir(), 'ol-bench-'));
  const latency = latencyRunner(dir);
  const health = `http://${addr}/health`;
  const echoUrl = `http://${addr}/echo`;
  const dataUrl = `http://${addr}/data/7`;
  const routes = [
    ['health', health, 0.85],
    ['echo', echoUrl, 0.9],
  ];
  if (servers) routes.push(['data', dataUrl, 0.97]);
  else console.log(`/data (PostgreSQL and Redis): not measured: ${dataSkip}`);
  console.log(
    `Outbound Lens benchmark: wrk -t2 -c32 -d${DURATION}s, ${ROUNDS} rounds of untraced, traced and empty programs (odd rounds in reverse), then the peer, on the sample's GET /health (no outbound call), GET /echo (one downstream call) and GET /data (PostgreSQL and Redis)`,
  );
  const runs = {};
  for (const [name, url] of routes) {
    wrk(url); // warm up
    runs[name] = { base: [], traced: [], empty: [], peer: [], cpu: [] };
  }
  const peerRuns = { ready: [], cpu: [], rss: [] };
  const ready = [];
  const rss = [];
  const cpu = [];
  let lost = 0;
  let events = 0;
  let seen = 0;
  let sites = [];
  // The service's CPU is counted in every run, the helper's in the traced
  // ones: what tracing costs a request in CPU time. On a saturated machine
  // that count moves with throughput too (more requests a second, less CPU
  // each), so it bounds what the probes cost no better than the ratios.
  const pids = [service.pid];
  for (let i = 0; i < ROUNDS; i++) {
    for (const [name, url] of routes) {
      const traced = async () => {
        const h = await startHelper(helper, service.pid, join(dir, `${name}${i}.ndjson`));
        ready.push(h.readyMs);
        const t = wrk(url, 32, [...pids, h.pid]);
        runs[name].traced.push(t);
        cpu.push(t.cpu[1] / Number(DURATION));
        runs[name].cpu.push(cpu.at(-1));
        rss.push(h.peakRssKiB());
        const { stats, requests, ready: r } = await h.stop();
        sites = r?.sites ?? sites;
        lost += stats?.lost ?? 0;
        events += stats?.events ?? 0;
        seen += requests;
        return h;
      };
      // The same probes with programs that return at once: what the probe
      // hits alone cost, the most any tracer probing these sites could keep.
      const empty = async () => {
        const e = await startHelper(helper, service.pid, join(dir, `${name}${i}-empty.ndjson`), ['--empty-programs']);
        runs[name].empty.push(wrk(url, 32, pids));
        await e.stop();
      };
      // Untraced, traced and empty programs, in turn; odd rounds in the
      // reverse order, so a machine growing busier or quieter through a
      // round weighs on neither side.
      let h;
      if (i % 2 === 0) {
        runs[name].base.push(wrk(url, 32, pids));
        h = await traced();
        await empty();
      } else {
        await empty();
        h = await traced();
        runs[name].base.push(wrk(url, 32, pids));
      }
      const [b, t, z] = [runs[name].base[i], runs[name].traced[i], runs[name].empty[i]];
      const steal = (100 * (b.steal + t.steal + z.steal)) / (b.busy + t.busy + z.busy + b.steal + t.steal + z.steal);
      console.log(
        `  round ${i + 1} ${name.padEnd(6)}: untraced ${b.rps.toFixed(0)} req/s, traced ${t.rps.toFixed(0)} req/s (${(t.rps / b.rps).toFixed(2)}), helper ${(cpu.at(-1) * 100).toFixed(0)}% CPU, ready in ${h.readyMs.toFixed(0)} ms; empty programs ${z.rps.toFixed(0)} req/s (${(z.rps / b.rps).toFixed(2)}); service CPU per request ${cpuPerRequest(b, 0).toFixed(1)} -> ${cpuPerRequest(t, 0).toFixed(1)} us, helper ${cpuPerRequest(t, 1).toFixed(1)} us; ${steal.toFixed(1)}% of the CPU stolen by the host`,
      );
      if (!peer.bin) continue;
      try {
        const p = await startPeer(peer.bin, service.pid, join(dir, `peer-${name}${i}.jsonl`));
        const pr = wrk(url, 32, [...pids, p.pid]);
        runs[name].peer.push(pr);
        peerRuns.cpu.push(pr.cpu[1] / Number(DURATION));
        peerRuns.rss.push(p.peakRssKiB());
        peerRuns.ready.push(p.readyMs);
        const spans = await p.stop();
        console.log(
          `  round ${i + 1} ${name.padEnd(6)}: peer ${pr.rps.toFixed(0)} req/s (${(pr.rps / b.rps).toFixed(2)}), peer ${(peerRuns.cpu.at(-1) * 100).toFixed(0)}% CPU, attached in ${p.readyMs.toFixed(0)} ms, ${spans.serverSpans} server + ${spans.clientSpans} client spans for ${pr.requests} requests`,
        );
      } catch (e) {
        peer.skip = `it failed in round ${i + 1} on /${name}: ${e.message}`;
        delete peer.bin;
        console.log(`  peer: not measured further: ${peer.skip}`);
      }
    }
  }

  // Latency at a fixed rate below saturation, untraced then traced (and by
  // the peer), alternating: the latency a request gains from tracing.
  const latencyRoutes = [
    ['health', health],
    ['echo', echoUrl],
  ];
  console.log(
    `\nlatency: ${LATENCY_RATE} req/s over ${LATENCY_CONNS} connections for ${DURATION}s (scripts/latency, open loop: from each request's scheduled send), ${ROUNDS} rounds of untraced then traced`,
  );
  const lat = {};
  for (const [name, url] of latencyRoutes) {
    latency(url, '2'); // warm up
    lat[name] = { base: [], traced: [], peer: [] };
  }
  // p50/p99, and how late the generator sent (p99): its own wake-up on an
  // idle machine, more when other processes hold the CPUs. Failed or unsent
  // requests (the service fell behind) are named.
  const us = (x) =>
    `${x.p50.toFixed(0)}/${x.p99.toFixed(0)} us (sent late ${x.lag_p99.toFixed(0)} us` +
    (x.errors ? `; ${x.errors} errors: ${x.last_error}` : '') +
    (x.unsent ? `; ${x.unsent} never sent` : '') +
    ')';
  for (let i = 0; i < ROUNDS; i++) {
    for (const [name, url] of latencyRoutes) {
      const b = latency(url, DURATION, pids);
      lat[name].base.push(b);
      const h = await startHelper(helper, service.pid, join(dir, `lat-${name}${i}.ndjson`));
      const t = latency(url, DURATION, [...pids, h.pid]);
      lat[name].traced.push(t);
      const { stats, requests } = await h.stop();
      lost += stats?.lost ?? 0;
      events += stats?.events ?? 0;
      seen += requests;
      console.log(
        `  round ${i + 1} ${name.padEnd(6)}: p50/p99 untraced ${us(b)}, traced ${us(t)}, ${requests} of ${t.sent} requests traced; service CPU per request ${cpuPerRequest(b, 0).toFixed(1)} -> ${cpuPerRequest(t, 0).toFixed(1)} us, helper ${cpuPerRequest(t, 1).toFixed(1)} us`,
      );
      if (!peer.bin) continue;
      try {
        const p = await startPeer(peer.bin, service.pid, join(dir, `lat-peer-${name}${i}.jsonl`));
        const pr = latency(url, DURATION, [...pids, p.pid]);
        lat[name].peer.push(pr);
        await p.stop();
        console.log(`  round ${i + 1} ${name.padEnd(6)}: p50/p99 peer ${us(pr)}`);
      } catch (e) {
        peer.skip = `it failed in latency round ${i + 1} on /${name}: ${e.message}`;
        delete peer.bin;
        console.log(`  peer: not measured further: ${peer.skip}`);
      }
    }
  }

  // The highest event rate: every request calls the downstream, 64 in flight.
  const h = await startHelper(helper, service.pid, join(dir, 'echo.ndjson'));
  const echo = wrk(echoUrl, 64);
  rss.push(h.peakRssKiB());
  const echoRun = await h.stop();

  // Probe hits per request, by program, with the kernel counting runs.
  const perRoute = {};
  for (const route of ['/health', '/echo', '/fanout', ...(servers ? ['/data/7'] : [])]) {
    const h = await startHelper(helper, service.pid, join(dir, `hits${route.slice(1).replaceAll('/', '-')}.ndjson`), [
      '--probe-stats',
    ]);
    spawnSync('wrk', ['-t1', '-c8', '-d3s', `http://${addr}${route}`], { encoding: 'utf8' });
    const r = await h.stop();
    perRoute[route] = { requests: r.requests, programs: r.stats?.programs ?? [] };
  }

  const med = (xs, k) => median(xs.map((x) => x[k]));
  const summary = (name) => {
    const { base, traced } = runs[name];
    return { b: { rps: med(base, 'rps') }, t: { rps: med(traced, 'rps') } };
  };
  // The median of each round's ratio (arm over untraced), the two runs of a
  // round minutes apart at most: the machine's slower swings weigh less
  // than in a ratio of medians taken across rounds.
  const ratio = (name, arm) => median(runs[name][arm].map((x, i) => x.rps / runs[name].base[i].rps));
  // What tracing costs a request in CPU time (µs), the median of the
  // rounds': the service's CPU per request traced less untraced, plus the
  // tracer's (the kernel runs the probes in the service's threads); and
  // the machine's busy CPU per untraced request, all processes.
  const costOf = (rounds, arm) =>
    median(
      rounds[arm].map(
        (x, i) => cpuPerRequest(x, 0) - cpuPerRequest(rounds.base[i], 0) + (x.cpu.length > 1 ? cpuPerRequest(x, 1) : 0),
      ),
    );
  const cpuCost = (name, arm) => costOf(runs[name], arm);
  // The same at the latency rounds' fixed rate, the same for every run:
  // what a request costs there does not move with the throughput tracing
  // leaves, as it does when wrk saturates the machine.
  const fixedRateCost = (name, arm) => costOf(lat[name], arm);
  const machinePerReq = (name) => median(runs[name].base.map((x) => (x.busy * 1e6) / x.requests));
  // Medians of the latency rounds, in µs; added p99 is traced's median less untraced's.
  const latencySummary = (name, of = 'traced') => {
    const { base } = lat[name];
    const b = { p50: med(base, 'p50'), p99: med(base, 'p99') };
    const t = { p50: med(lat[name][of], 'p50'), p99: med(lat[name][of], 'p99') };
    const added = t.p99 - b.p99;
    return { b, t, added: `${added >= 0 ? '+' : ''}${added.toFixed(0)} us` };
  };
  console.log('\nresults (medians)');
  for (const [name, , target] of routes) {
    const { b, t } = summary(name);
    console.log(`  /${name}${name === 'data' ? ' (one PostgreSQL query, one Redis GET)' : ''}`);
    console.log(`    throughput untraced      ${b.rps.toFixed(0)} req/s`);
    console.log(`    throughput traced        ${t.rps.toFixed(0)} req/s`);
    console.log(
      `    ratio traced/untraced    ${ratio(name, 'traced').toFixed(3)}   (target >= ${target}; the median of the rounds' ratios)`,
    );
    console.log(
      `    ratio, empty programs    ${ratio(name, 'empty').toFixed(3)}   (the probe hits alone, no BPF work, no helper)`,
    );
    const [m, c, ce] = [machinePerReq(name), cpuCost(name, 'traced'), cpuCost(name, 'empty')];
    const probes = median(runs[name].traced.map((x, i) => cpuPerRequest(x, 0) - cpuPerRequest(runs[name].base[i], 0)));
    const helperUs = median(runs[name].traced.map((x) => cpuPerRequest(x, 1)));
    console.log(
      `    CPU per request          ${m.toFixed(1)} us untraced (all processes); tracing adds ${c.toFixed(1)} us (the probes, in the service ${probes.toFixed(1)}; the helper ${helperUs.toFixed(1)}); empty programs add ${ce.toFixed(1)} us`,
    );
    console.log(
      `    ratio that CPU cost gives ${(m / (m + c)).toFixed(3)}   (untraced CPU / (untraced + added): the throughput a saturated machine would keep if the added CPU were all tracing cost)`,
    );
    if (lat[name]) {
      const l = latencySummary(name);
      console.log(
        `    latency at ${LATENCY_RATE} req/s   p50 ${l.b.p50.toFixed(0)} -> ${l.t.p50.toFixed(0)} us, p99 ${l.b.p99.toFixed(0)} -> ${l.t.p99.toFixed(0)} us (untraced -> traced)`,
      );
      console.log(`    p99 added                ${l.added}   (target <= 100 us)`);
      console.log(
        `    CPU at ${LATENCY_RATE} req/s         tracing took ${((fixedRateCost(name, 'traced') * LATENCY_RATE) / 1e4).toFixed(1)}% of one core: ${fixedRateCost(name, 'traced').toFixed(1)} us a request (the helper ${median(lat[name].traced.map((x) => cpuPerRequest(x, 1))).toFixed(1)}), against the service's own ${median(lat[name].base.map((x) => cpuPerRequest(x, 0))).toFixed(1)} us untraced`,
      );
      // On an idle machine the generator sends within about 100 us of each
      // scheduled time (p99); much later, other processes held the CPUs,
      // and their stalls, not the tracer, set both p99s.
      const late = median([...lat[name].base, ...lat[name].traced].map((x) => x.lag_p99));
      if (late > 250)
        console.log(
          `    (the generator itself sent ${late.toFixed(0)} us late at p99, the median of these runs: a busy machine; the p99s are its stalls)`,
        );
    }
    console.log(`    helper CPU while traced  ${(median(runs[name].cpu) * 100).toFixed(0)}% of one core`);
  }
  console.log(`  helper CPU while traced    ${(median(cpu) * 100).toFixed(0)}% of one core`);
  console.log(
    `  helper start to ready      ${median(ready).toFixed(0)} ms (max ${Math.max(...ready).toFixed(0)} ms; target <= 200)`,
  );
  console.log(`  helper peak RSS            ${(Math.max(...rss) / 1024).toFixed(1)} MiB (target <= 64)`);
  console.log(`  events / requests traced   ${events} / ${seen}`);
  console.log(`  events lost                ${lost}   (target 0)`);
  console.log(
    `  /echo traced, 64 in flight ${echo.rps.toFixed(0)} req/s: ${echoRun.requests} requests, ${echoRun.outbound} outbound records, ${echoRun.stats?.lost ?? '?'} events lost (target 0)`,
  );

  if (peer.bin) {
    const col = (s) => String(s).padStart(22);
    const row = (label, ours, theirs) => console.log(`  ${label.padEnd(30)}${col(ours)}${col(theirs)}`);
    console.log(`\nside by side (medians of the same rounds; wrk -t2 -c32 -d${DURATION}s, and the latency rounds)`);
    row('', 'Outbound Lens', PEER_NAME);
    for (const [name] of routes) {
      row(`/${name} traced/untraced`, ratio(name, 'traced').toFixed(3), ratio(name, 'peer').toFixed(3));
      row(
        `/${name} CPU added per request`,
        `${cpuCost(name, 'traced').toFixed(1)} us`,
        `${cpuCost(name, 'peer').toFixed(1)} us`,
      );
    }
    for (const [name] of latencyRoutes) {
      if (lat[name].peer.length < ROUNDS) continue;
      row(`/${name} p99 added, ${LATENCY_RATE} req/s`, latencySummary(name).added, latencySummary(name, 'peer').added);
      row(
        `/${name} CPU added, ${LATENCY_RATE} req/s`,
        `${fixedRateCost(name, 'traced').toFixed(1)} us`,
        `${fixedRateCost(name, 'peer').toFixed(1)} us`,
      );
    }
    row('command to probes attached', `${median(ready).toFixed(0)} ms`, `${median(peerRuns.ready).toFixed(0)} ms`);
    row('tracer CPU while traced', `${(median(cpu) * 100).toFixed(0)}%`, `${(median(peerRuns.cpu) * 100).toFixed(0)}%`);
    row(
      'tracer peak RSS',
      `${(Math.max(...rss) / 1024).toFixed(1)} MiB`,
      `${(Math.max(...peerRuns.rss) / 1024).toFixed(1)} MiB`,
    );
  } else console.log(`\npeer: not measured: ${peer.skip}`);

  console.log('\nprobe sites (from the ready record)');
  for (const s of sites) {
    console.log(
      `  ${s.role.padEnd(16)} ${s.insn.padEnd(5)} ${s.stepped ? 'STEPPED ' : 'emulated'} x${s.count}  ${s.func}  (${s.program})`,
    );
  }
  const cost = uprobeCostNs(dir);
  if (cost) {
    console.log(
      '\none uprobe hit on this machine, no BPF program, by the class of the probed instruction (median of 3)',
    );
    console.log(
      '  ' +
        Object.entries(cost)
          .map(([c, ns]) => `${c} ${(ns / 1000).toFixed(2)} us`)
          .join(', '),
    );
  }
  console.log('\nprobe hits per request (the kernel counting BPF runs, --probe-stats; wrk -c8 -d3s per route)');
  // The class of a program's sites on the request's path (else of all its
  // sites); a program with no uprobe site is a tracepoint.
  const classOf = (program) => {
    const mine = sites.filter((s) => s.program === program);
    const onPath = mine.filter((s) => s.requestPath);
    const cls = [...new Set((onPath.length ? onPath : mine).map((s) => s.insn))];
    if (!cls.length) return 'tracepoint';
    return cls.length === 1 ? cls[0] : cls.join('/');
  };
  for (const [route, { requests, programs }] of Object.entries(perRoute)) {
    let total = 0;
    const parts = [];
    for (const p of programs) {
      if (!p.runs || !requests) continue;
      const hits = p.runs / requests;
      const cls = classOf(p.program);
      // A tracepoint has no trap of its own; it runs for every process's
      // syscalls (wrk's too), so its runs per request count them all.
      const trap = cls === 'tracepoint' ? 0 : (cost?.[cls] ?? NaN);
      const perHit = trap + p.ns / p.runs;
      total += hits * perHit;
      parts.push(
        `${p.program} ${hits.toFixed(2)} x (${cls} ${(trap / 1000).toFixed(2)} + BPF ${(p.ns / p.runs / 1000).toFixed(2)} us)`,
      );
    }
    console.log(`  ${route.padEnd(8)} ${requests} requests: ${parts.join(', ')}`);
    console.log(`  ${''.padEnd(8)} = ${(total / 1000).toFixed(1)} us of probe cost per request`);
  }
  rmSync(dir, { recursive: true, force: true });
  cleanup();
  if (servers) await servers.stop();

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
