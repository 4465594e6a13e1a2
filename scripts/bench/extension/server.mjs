// Part 4: the insight server's memory (dist/server.js over stdio) with
// 100k / 200k records at two caps.
import { procStatus, startInsightServer } from '../insightServer.mjs';
import { DIST, PARTS, mib, note, notMeasured, say, track } from './common.mjs';

function makeRecords(n, from = 0) {
  // n records: requests and one outbound record each, as the helper emits them (outbound first).
  const recs = [];
  for (let i = from; recs.length < n; i++) {
    const t = 1_700_000_000_000_000_000 + i * 1_000_000;
    const line = 40 + (i % 5) * 12;
    recs.push({
      type: 'outbound',
      request: `r${i}`,
      pid: 4242,
      goid: 30 + (i % 500),
      proto: 'tcp',
      src: '127.0.0.1',
      sport: 10000 + (i % 50000),
      dst: '127.0.0.1',
      dport: 8081,
      reused: i % 3 !== 0,
      callSite: { func: `main.h${i % 5}`, file: '/home/dev/sample/main.go', line: line + 6 },
      tsNs: t + 500_000,
      via: 'http',
    });
    if (recs.length < n)
      recs.push({
        type: 'request',
        id: `r${i}`,
        pid: 4242,
        goid: 30 + (i % 500),
        method: 'GET',
        path: `/items/${i}`,
        route: '/items/:id',
        handler: { func: `main.h${i % 5}`, file: '/home/dev/sample/main.go', line },
        headers: { 'x-request-id': `req-${i}` },
        traceId: (i * 2654435761).toString(16).padStart(32, '0'),
        startNs: t,
        endNs: t + 2_000_000,
      });
  }
  return recs;
}

async function serverMemory(maxRecords, total) {
  const server = await startInsightServer({ maxRecords, dist: DIST });
  track(server.child);
  const { child, conn } = server;
  try {
    await conn.sendRequest('outboundLens/snapshot', { afterSeq: 1e12 });
    const baseHeap = (await server.heap()).heapUsed;
    const base = { ...procStatus(child.pid), heap: baseHeap };
    await conn.sendNotification('outboundLens/traceState', { state: 'attaching', pid: 4242 });
    await conn.sendNotification('outboundLens/records', { records: [{ type: 'ready', pid: 4242 }] });
    const t0 = performance.now();
    let peakRss = 0;
    for (let sent = 0; sent < total; sent += 1000) {
      await conn.sendNotification('outboundLens/records', {
        records: makeRecords(Math.min(1000, total - sent), sent / 2),
      });
      if (sent % 20000 === 0) {
        // Let the server keep up (the extension's batches come no faster than the helper writes them).
        await conn.sendRequest('outboundLens/snapshot', { afterSeq: 1e12 });
        peakRss = Math.max(peakRss, procStatus(child.pid).rss);
      }
    }
    const snap = await conn.sendRequest('outboundLens/snapshot', { afterSeq: 1e12 });
    const ingestMs = performance.now() - t0;
    const afterHeap = (await server.heap()).heapUsed;
    const after = { ...procStatus(child.pid), heap: afterHeap };
    const rows = (await conn.sendRequest('outboundLens/query', { afterSeq: 0, limit: 1e9 })).rows.length;
    return { maxRecords: maxRecords ?? 50000, total, base, after, ingestMs, dropped: snap.dropped, rows, peakRss };
  } finally {
    await server.close();
  }
}

/** Every cap and record count the report compares; results are pushed as they come. */
export async function serverMemoryRuns(results) {
  for (const [cap, total] of [
    [undefined, 100_000],
    [undefined, 200_000],
    [200_000, 100_000],
    [200_000, 200_000],
  ]) {
    const r = await serverMemory(cap, total);
    note(`server memory: cap ${r.maxRecords}, ${total} records: RSS ${mib(r.after.rss)}`);
    results.push(r);
  }
}

export function report(r, skipped) {
  if (PARTS.has('4')) {
    say(`\n4. insight server memory (dist/server.js over stdio; records = request + outbound, 1000 a notification)`);
    if (r.memory) {
      say(
        `    ${'maxRecords'.padEnd(11)} ${'records'.padStart(8)} ${'rows kept'.padStart(9)} ${'dropped'.padStart(8)}  ${'RSS before'.padStart(10)} ${'RSS after'.padStart(10)} ${'peak (HWM)'.padStart(10)}  ${'heap before'.padStart(11)} ${'heap after'.padStart(10)}  ingest`,
      );
      for (const m of r.memory) {
        say(
          `    ${String(m.maxRecords).padEnd(11)} ${String(m.total).padStart(8)} ${String(m.rows).padStart(9)} ${String(m.dropped).padStart(8)}  ${mib(m.base.rss).padStart(10)} ${mib(m.after.rss).padStart(10)} ${mib(m.after.hwm).padStart(10)}  ${(m.base.heap ? `${(m.base.heap / 2 ** 20).toFixed(1)} MiB` : '—').padStart(11)} ${(m.after.heap ? `${(m.after.heap / 2 ** 20).toFixed(1)} MiB` : '—').padStart(10)}  ${((m.total / m.ingestMs) * 1000).toFixed(0)} rec/s`,
        );
      }
      say(
        `    baseline = the server right after initialize; heap = V8 heapUsed after a forced GC (--expose-gc, read on SIGUSR2)`,
      );
      const [a, b, c] = r.memory;
      if (a && b)
        say(
          `    cap 50000: 200k vs 100k records → heap ×${(b.after.heap / a.after.heap).toFixed(2)}, RSS ×${(b.after.rss / a.after.rss).toFixed(2)} (bounded by the cap when ≈ 1)`,
        );
      if (a && c)
        say(
          `    100k records: cap 50000 (${a.rows} rows kept) vs cap 200000 (${c.rows} rows kept) → heap ×${(a.after.heap / c.after.heap).toFixed(2)}`,
        );
    } else notMeasured(skipped, 'memory');
  }
}
