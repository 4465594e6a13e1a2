// The terminal route's Unix socket under hostile clients, with real
// sockets: a wrong token, a client that says nothing, a 10 MB first line,
// a second connection. Each is dropped; the helper with the token still
// gets in and its records flow.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { spawn } from 'node:child_process';
import { connect, type Socket } from 'node:net';
import { join } from 'node:path';
import { openSocketChannel } from '../../../src/extension/socketChannel';
import { TraceSession } from '../../../src/extension/traceSession';
import type { TraceRecord } from '../../../src/shared/records';

const fake = join(__dirname, '..', 'support', 'fake-helper.mjs');

function opened(path: string): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const c = connect(path, () => resolve(c));
    c.on('error', reject);
  });
}

/** Resolves when the server has dropped the connection, with what it sent back. */
function dropped(c: Socket): Promise<string> {
  let got = '';
  c.on('data', (d) => (got += d.toString()));
  c.on('error', () => undefined); // EPIPE / ECONNRESET while writing: the server hung up
  return new Promise((resolve) => c.on('close', () => resolve(got)));
}

test('hostile clients are dropped and the helper with the token still gets in, in the middle of a trace', async () => {
  const records: TraceRecord[] = [];
  let child: ReturnType<typeof spawn> | undefined;
  let silent: Socket | undefined;
  let socketPath = '';
  const s = new TraceSession({
    helperPath: fake,
    target: { pid: 7 },
    method: 'terminal',
    onRecords: (rs) => records.push(...rs),
    // Before the helper runs, three others connect to the same socket.
    openTerminal: async (_cmd, args) => {
      socketPath = args[args.indexOf('--connect') + 1];
      const wrong = await opened(socketPath);
      wrong.write('0'.repeat(48) + '\n{"type":"request","id":"r1","method":"GET","path":"/forged"}\n');
      assert.equal(await dropped(wrong), '', 'a wrong token is dropped');
      const huge = await opened(socketPath);
      const hugeGone = dropped(huge);
      const t0 = Date.now();
      huge.write(Buffer.alloc(10 << 20, 'a'));
      assert.equal(await hugeGone, '', 'a 10 MB first line is dropped');
      assert.ok(Date.now() - t0 < 2000, `a 10 MB first line was read for ${Date.now() - t0} ms before the drop`);
      silent = await opened(socketPath); // says nothing and stays connected
      child = spawn(process.execPath, args, { stdio: ['pipe', 'ignore', 'inherit'] });
      return new Promise<number | undefined>((r) => child!.on('exit', (code) => r(code ?? undefined)));
    },
    stopTerminal: () => child?.kill('SIGINT'),
  });
  const t0 = Date.now();
  while (!records.some((r) => r.type === 'stats')) {
    assert.ok(Date.now() - t0 < 10000, 'the helper with the token never got its records through');
    await new Promise((r) => setTimeout(r, 20));
  }
  assert.equal(records.filter((r) => r.type === 'request').length, 4);
  assert.ok(!records.some((r) => r.type === 'request' && r.path === '/forged'), "the impostor's record got in");
  // A second connection after the helper's finds no socket.
  await assert.rejects(opened(socketPath), /ENOENT|ECONNREFUSED/);
  const r = await s.stop();
  assert.equal(r.endReason, 'signal');
  silent?.destroy();
});

test('a client that connects and says nothing is dropped after the first-line timeout', async () => {
  const ch = openSocketChannel(5000, 200);
  let c: Socket | undefined;
  for (let i = 0; !c && i < 100; i++) c = await opened(ch.path).catch(() => new Promise((r) => setTimeout(r, 10)));
  const t0 = Date.now();
  await dropped(c!);
  assert.ok(Date.now() - t0 < 2000, `dropped after ${Date.now() - t0} ms`);
  // The channel still waits for the helper.
  const good = await opened(ch.path);
  good.write(`${ch.token}\n`);
  await ch.accepted;
  good.destroy();
  ch.close();
});
