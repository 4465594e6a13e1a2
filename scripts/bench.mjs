// npm run bench: what tracing costs the traced service, measured in one run
// against an untraced baseline. Prints numbers; asserts nothing.
//   - /health throughput and latency under wrk, untraced vs traced (alternating runs)
//   - time from starting the helper to its `ready` record
//   - the helper's peak RSS, and events lost at the highest rate wrk drives
import { spawn, spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { buildHelper, buildSample, privileged, startAndWait } from './lib.mjs';

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const DURATION = process.env.OL_BENCH_SECONDS ?? '8';
const ROUNDS = Number(process.env.OL_BENCH_ROUNDS ?? 3);

if (spawnSync('wrk', ['--version']).error) {
  console.error('wrk is needed for the benchmark: apt-get install -y wrk');
  process.exit(1);
}

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

async function startHelper(helper, pid) {
  const argv = [...privileged(helper), 'trace', '--format', 'ndjson', '--pid', String(pid)];
  const t0 = process.hrtime.bigint();
  const child = spawn(argv[0], argv.slice(1), { stdio: ['pipe', 'pipe', 'pipe'] });
  let buf = '';
  let last = null;
  let readyMs = null;
  let requests = 0;
  child.stdout.setEncoding('utf8');
  child.stdout.on('data', (d) => {
    buf += d;
    let i;
    while ((i = buf.indexOf('\n')) >= 0) {
      const line = buf.slice(0, i);
      buf = buf.slice(i + 1);
      if (line.startsWith('{"type":"ready"')) readyMs = Number(process.hrtime.bigint() - t0) / 1e6;
      else if (line.startsWith('{"type":"stats"')) last = JSON.parse(line);
      else if (line.startsWith('{"type":"request"')) requests++;
    }
  });
  let err = '';
  child.stderr.on('data', (d) => (err += d));
  for (let i = 0; readyMs === null; i++) {
    if (child.exitCode !== null || i > 200) throw new Error(`helper did not become ready:\n${err}`);
    await sleep(25);
  }
  return {
    readyMs,
    peakRssKiB() {
      const pid = helperPid(child.pid);
      const m = readFileSync(`/proc/${pid}/status`, 'utf8').match(/VmHWM:\s+(\d+)/);
      return Number(m[1]);
    },
    async stop() {
      child.stdin.end();
      await new Promise((r) => (child.exitCode !== null ? r() : child.once('exit', r)));
      return { stats: last, requests };
    },
  };
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
  const { child: downstream } = await startAndWait(sample.downstream, ['-addr', down, '-raw', '127.0.0.1:18092'], /listening on/);
  const { child: service } = await startAndWait(sample.service, ['-addr', addr, '-downstream', `http://${down}`, '-raw', '127.0.0.1:18092'], /listening on/);
  const cleanup = () => [downstream, service].forEach((c) => c.exitCode === null && c.kill('SIGTERM'));
  process.on('exit', cleanup);

  console.log(`Outbound Lens benchmark: wrk -t2 -c32 -d${DURATION}s on the sample's GET /health, ${ROUNDS} rounds of untraced then traced`);
  wrk(`http://${addr}/health`); // warm up
  const base = [];
  const traced = [];
  const ready = [];
  const rss = [];
  let lost = 0;
  let events = 0;
  let seen = 0;
  for (let i = 0; i < ROUNDS; i++) {
    base.push(wrk(`http://${addr}/health`));
    const h = await startHelper(helper, service.pid);
    ready.push(h.readyMs);
    traced.push(wrk(`http://${addr}/health`));
    rss.push(h.peakRssKiB());
    const { stats, requests } = await h.stop();
    lost += stats?.lost ?? 0;
    events += stats?.events ?? 0;
    seen += requests;
    console.log(`  round ${i + 1}: untraced ${base[i].rps.toFixed(0)} req/s, traced ${traced[i].rps.toFixed(0)} req/s, ready in ${h.readyMs.toFixed(0)} ms`);
  }
  const b = { rps: median(base.map((x) => x.rps)), p50: median(base.map((x) => x.p50)), p99: median(base.map((x) => x.p99)) };
  const t = { rps: median(traced.map((x) => x.rps)), p50: median(traced.map((x) => x.p50)), p99: median(traced.map((x) => x.p99)) };
  console.log('\nresults (medians)');
  console.log(`  throughput untraced        ${b.rps.toFixed(0)} req/s`);
  console.log(`  throughput traced          ${t.rps.toFixed(0)} req/s`);
  console.log(`  ratio traced/untraced      ${(t.rps / b.rps).toFixed(3)}   (target >= 0.97)`);
  console.log(`  p50 latency                ${b.p50.toFixed(3)} ms -> ${t.p50.toFixed(3)} ms (+${(t.p50 - b.p50).toFixed(3)} ms)`);
  console.log(`  p99 latency                ${b.p99.toFixed(3)} ms -> ${t.p99.toFixed(3)} ms (+${(t.p99 - b.p99).toFixed(3)} ms)`);
  console.log(`  helper start to ready      ${median(ready).toFixed(0)} ms (max ${Math.max(...ready).toFixed(0)} ms; target <= 1000)`);
  console.log(`  helper peak RSS            ${(Math.max(...rss) / 1024).toFixed(1)} MiB`);
  console.log(`  events / requests traced   ${events} / ${seen}`);
  console.log(`  events lost                ${lost}   (target 0)`);
  cleanup();
}

main().catch((e) => {
  console.error(`bench failed: ${e.message}`);
  process.exit(1);
});
