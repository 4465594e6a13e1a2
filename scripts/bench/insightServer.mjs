// Drives the insight server (dist/server.js) over stdio the way the
// extension does, for the benchmark and soak scripts: LSP initialize, then
// `outboundLens/*` notifications and requests. `heap()` asks the server for
// its V8 heap after a forced GC.
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { root } from '../lib.mjs';

const require = createRequire(import.meta.url);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** Preloaded into the server: on SIGUSR2, collect garbage and report memory on stderr (stdout is the LSP channel). */
const MEM_PRELOAD = `process.on('SIGUSR2', () => {
  for (let i = 0; i < 3; i++) global.gc?.();
  process.stderr.write('OLMEM ' + JSON.stringify(process.memoryUsage()) + '\\n');
});
`;

/** VmRSS and VmHWM of a process, in KiB. */
export function procStatus(pid) {
  const s = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kib = (k) => Number(new RegExp(`${k}:\\s+(\\d+)`).exec(s)?.[1] ?? NaN);
  return { rss: kib('VmRSS'), hwm: kib('VmHWM') };
}

/** Starts dist/server.js and initializes it; `maxRecords` as the extension would pass it. */
export async function startInsightServer({ maxRecords, dist = join(root, 'dist') } = {}) {
  const rpc = require('vscode-jsonrpc/node');
  const dir = mkdtempSync(join(tmpdir(), 'ol-insight-'));
  writeFileSync(join(dir, 'mem.cjs'), MEM_PRELOAD);
  const child = spawn(
    process.execPath,
    ['--expose-gc', '--require', join(dir, 'mem.cjs'), join(dist, 'server.js'), '--stdio'],
    { stdio: ['pipe', 'pipe', 'pipe'] },
  );
  let stderr = '';
  const memWaiters = [];
  child.stderr.setEncoding('utf8').on('data', (d) => {
    stderr += d;
    let m;
    while ((m = /OLMEM (\{.*\})\n/.exec(stderr))) {
      stderr = stderr.slice(m.index + m[0].length);
      memWaiters.shift()?.(JSON.parse(m[1]));
    }
  });
  const conn = rpc.createMessageConnection(
    new rpc.StreamMessageReader(child.stdout),
    new rpc.StreamMessageWriter(child.stdin),
  );
  conn.onRequest(() => null);
  conn.onNotification(() => {});
  conn.listen();
  await conn.sendRequest('initialize', {
    processId: process.pid,
    rootUri: null,
    workspaceFolders: null,
    capabilities: {},
    initializationOptions: maxRecords ? { maxRecords } : {},
  });
  await conn.sendNotification('initialized', {});
  return {
    child,
    conn,
    /** process.memoryUsage() of the server after a forced GC ({} if it does not answer in 5 s). */
    heap() {
      const p = new Promise((r) => memWaiters.push(r));
      child.kill('SIGUSR2');
      return Promise.race([p, sleep(5000).then(() => ({}))]);
    },
    async close() {
      await conn.sendRequest('shutdown').catch(() => {});
      await conn.sendNotification('exit').catch(() => {});
      conn.dispose();
      await Promise.race([new Promise((r) => (child.exitCode !== null ? r() : child.once('exit', r))), sleep(2000)]);
      if (child.exitCode === null) child.kill('SIGKILL');
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
