#!/usr/bin/env node
// Stands in for outbound-lens-helper in tests: replays the fixture records
// in awkward chunks, like the real helper's ndjson stream, and stops the
// way the real one does (stdin closed, SIGINT, target exit).
//   FAKE_MODE=stdin (default): stop when stdin closes
//   FAKE_MODE=exit: replay, then end with target-exited
//   FAKE_MODE=stubborn: ignore stdin and SIGINT (only SIGTERM/SIGKILL stop it)
//   FAKE_MODE=error: an error record and exit code 4
//   FAKE_LOST=N: the final stats record counts N lost events
import { readFileSync } from 'node:fs';
import { connect } from 'node:net';
import { dirname, join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';

const args = process.argv.slice(2);
const mode = process.env.FAKE_MODE ?? 'stdin';
const fixture = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'fixtures', 'records.ndjson');
const argOf = (name) => {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : undefined;
};
if (args[0] !== 'trace' || argOf('--format') !== 'ndjson') {
  process.stderr.write(`fake helper: unexpected args ${args.join(' ')}\n`);
  process.exit(2);
}
if (process.env.FAKE_ARGS_OUT) {
  (await import('node:fs')).writeFileSync(process.env.FAKE_ARGS_OUT, JSON.stringify(args));
}

let out = process.stdout;
const socketPath = argOf('--connect');
if (socketPath) {
  out = await new Promise((resolve) => {
    const c = connect(socketPath, () => resolve(c));
    c.on('error', (e) => {
      process.stderr.write(`fake helper: ${e.message}\n`);
      process.exit(5);
    });
  });
  out.write((process.env.FAKE_TOKEN ?? argOf('--token')) + '\n');
}

const write = (s) => new Promise((r) => out.write(s, r));
let ended = false;
async function end(reason, code = 0) {
  if (ended) return;
  ended = true;
  await write(JSON.stringify({ type: 'stats', events: 900, lost: Number(process.env.FAKE_LOST ?? 0) }) + '\n');
  await write(JSON.stringify({ type: 'end', reason, exitStatus: 0 }) + '\n');
  if (out !== process.stdout) out.end();
  process.exit(code);
}

if (mode === 'stubborn') {
  process.on('SIGINT', () => {});
} else {
  process.on('SIGINT', () => end('signal'));
}
process.on('SIGTERM', () => end('signal'));
if (mode === 'stdin') {
  process.stdin.on('end', () => end('stdin-closed'));
  process.stdin.on('close', () => end('stdin-closed'));
  process.stdin.resume();
} else if (mode === 'stubborn') {
  process.stdin.resume();
}

if (mode === 'error') {
  await write(JSON.stringify({ type: 'error', code: 'NOT_GO', message: 'pid 1 is not a Go program' }) + '\n');
  process.exit(3);
}

// Replay: split the text at odd places so lines cross chunk boundaries.
const text = readFileSync(fixture, 'utf8') + 'this line is not json\n';
for (let i = 0; i < text.length; i += 97) {
  await write(text.slice(i, i + 97));
  await sleep(2);
}
if (mode === 'exit') await end('target-exited');
setInterval(() => {}, 1000);
