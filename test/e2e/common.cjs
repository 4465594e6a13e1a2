// Small pieces shared by the workbench test (ESM), the test:electron script
// and its suite, which runs inside VS Code's extension host (CommonJS).
'use strict';
const { readdirSync, readFileSync, readlinkSync } = require('node:fs');
const { basename } = require('node:path');

/** Headless Chromium as the tests and benchmarks run it (Debian's chromium, as root, no GPU). */
const CHROMIUM_ARGS = [
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

const { setTimeout: sleep } = require('node:timers/promises');

/** Polls fn until it returns something other than undefined/false/null. */
async function until(what, fn, ms = 20000, every = 200) {
  const t0 = Date.now();
  let last;
  while (Date.now() - t0 < ms) {
    try {
      const v = await fn();
      if (v !== undefined && v !== false && v !== null) return v;
    } catch (e) {
      last = e;
    }
    await sleep(every);
  }
  throw new Error(`timed out after ${ms} ms waiting for ${what}${last ? ` (last error: ${last.message})` : ''}`);
}

/** Pids of the processes for which pick(pid, executable path) is true; those gone or not ours to read are skipped. */
function pidsWhere(pick) {
  const out = [];
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      if (pick(Number(d), readlinkSync(`/proc/${d}/exe`).replace(/ \(deleted\)$/, ''))) out.push(Number(d));
    } catch {
      /* gone, or not ours to read */
    }
  }
  return out;
}

/**
 * Processes whose executable is the helper and that are tracing (argv[1]
 * 'trace', not `routes`/`ps`/`check`); with `pid`, only those given `--pid pid`.
 */
function helperTracePids(pid) {
  return pidsWhere((p, exe) => {
    if (basename(exe) !== 'outbound-lens-helper') return false;
    const argv = readFileSync(`/proc/${p}/cmdline`, 'utf8').split('\0');
    if (argv[1] !== 'trace') return false;
    const i = argv.indexOf('--pid');
    return pid === undefined || (i > 0 && argv[i + 1] === String(pid));
  });
}

module.exports = { CHROMIUM_ARGS, sleep, until, pidsWhere, helperTracePids };
