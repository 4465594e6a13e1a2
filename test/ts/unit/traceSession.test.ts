// The trace session against a stand-in helper (a Node script replaying the
// fixture): spawning, parsing, batching, stopping, and the terminal route's
// Unix socket with its one-time token.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { chmodSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { test } from 'node:test';
import { openSocketChannel } from '../../../src/extension/socketChannel';
import { helperTraceArgs, invalidEnv, TraceSession, writeEnvFile } from '../../../src/extension/traceSession';
import type { TraceRecord } from '../../../src/shared/records';
import { repoRoot } from '../support/fixtures';

const fake = join(repoRoot, 'test', 'ts', 'support', 'fake-helper.mjs');
chmodSync(fake, 0o755);

function collect() {
  const records: TraceRecord[] = [];
  const batches: number[] = [];
  return { records, batches, onRecords: (b: TraceRecord[]) => (records.push(...b), batches.push(b.length)) };
}

async function until(cond: () => boolean, ms = 5000): Promise<void> {
  const t0 = Date.now();
  while (!cond()) {
    if (Date.now() - t0 > ms) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 10));
  }
}

test('helper arguments: pid, launch, headers, statements, connect', () => {
  assert.deepEqual(helperTraceArgs({ pid: 42 }, { headers: ['x-request-id'] }), [
    'trace',
    '--format',
    'ndjson',
    '--header',
    'x-request-id',
    '--pid',
    '42',
  ]);
  assert.deepEqual(helperTraceArgs({ launch: ['/bin/svc', '-addr', ':1'] }, {}, { path: '/tmp/s', token: 't' }), [
    'trace',
    '--format',
    'ndjson',
    '--connect',
    '/tmp/s',
    '--token',
    't',
    '--',
    '/bin/svc',
    '-addr',
    ':1',
  ]);
  assert.deepEqual(
    helperTraceArgs(
      { launch: ['/tmp/b/svc', '-v'], cwd: '/home/dev/svc', env: { DSN: 'secret' } },
      {},
      undefined,
      '/tmp/e/env',
    ),
    ['trace', '--format', 'ndjson', '--cwd', '/home/dev/svc', '--env-file', '/tmp/e/env', '--', '/tmp/b/svc', '-v'],
  );
});

test('captureStatements false becomes --no-statements; true or unset adds nothing', () => {
  assert.deepEqual(helperTraceArgs({ pid: 7 }, { headers: ['x-a'], statements: false }), [
    'trace',
    '--format',
    'ndjson',
    '--header',
    'x-a',
    '--no-statements',
    '--pid',
    '7',
  ]);
  assert.deepEqual(helperTraceArgs({ pid: 7 }, { statements: true }), helperTraceArgs({ pid: 7 }));
  assert.ok(!helperTraceArgs({ pid: 7 }, { statements: true }).includes('--no-statements'));
});

test('the session hands captureStatements to the helper it starts', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'ol-args-'));
  process.env.FAKE_MODE = 'exit';
  try {
    for (const captureStatements of [false, true, undefined]) {
      process.env.FAKE_ARGS_OUT = join(dir, `args-${captureStatements}`);
      const s = new TraceSession({
        helperPath: fake,
        target: { launch: ['/bin/true'] },
        method: 'direct',
        headers: ['x-request-id'],
        captureStatements,
        onRecords: () => undefined,
      });
      await s.done;
      const args: string[] = JSON.parse(readFileSync(process.env.FAKE_ARGS_OUT, 'utf8'));
      assert.equal(
        args.includes('--no-statements'),
        captureStatements === false,
        `captureStatements ${captureStatements}`,
      );
      assert.equal(args[args.indexOf('--header') + 1], 'x-request-id');
    }
  } finally {
    delete process.env.FAKE_MODE;
    delete process.env.FAKE_ARGS_OUT;
    rmSync(dir, { recursive: true, force: true });
  }
});

test('the launch environment goes to a private file, never to the arguments', () => {
  assert.equal(writeEnvFile({}), undefined);
  assert.equal(writeEnvFile(undefined), undefined);
  const file = writeEnvFile({ APP_ENV: 'dev', DSN: 'postgres://u:p@h/db?a=b c' })!;
  try {
    assert.equal(readFileSync(file, 'utf8'), 'APP_ENV=dev\nDSN=postgres://u:p@h/db?a=b c\n');
    assert.equal(statSync(file).mode & 0o777, 0o600);
    assert.equal(statSync(dirname(file)).mode & 0o777, 0o700);
  } finally {
    rmSync(dirname(file), { recursive: true, force: true });
  }
  assert.match(invalidEnv({ 'A B': '1' }) ?? '', /name without "=" or spaces/);
  assert.match(invalidEnv({ A: 'line1\nline2' }) ?? '', /one-line value/);
  assert.equal(invalidEnv({ A: '', B: 'x=y' }), undefined);
  assert.throws(() => writeEnvFile({ 'X=Y': '1' }), /name without/);
  assert.ok(!helperTraceArgs({ launch: ['/bin/svc'], env: { DSN: 'secret' } }).some((a) => a.includes('secret')));
});

test('stream parsed in order; stop closes stdin and the helper ends', async () => {
  const c = collect();
  const s = new TraceSession({
    helperPath: fake,
    target: { pid: 1 },
    method: 'direct',
    onRecords: c.onRecords,
    batchMs: 20,
  });
  await until(() => c.records.some((r) => r.type === 'stats'));
  assert.equal(c.records[0].type, 'ready');
  assert.equal(c.records.filter((r) => r.type === 'request').length, 4);
  assert.equal(c.records.filter((r) => r.type === 'outbound').length, 7);
  assert.ok(c.batches.length < c.records.length, 'records arrive in batches');
  const r = await s.stop();
  assert.equal(r.endReason, 'stdin-closed');
  assert.equal(r.exitCode, 0);
  assert.equal(r.malformed, 1, 'the junk line is counted');
  assert.equal(c.records[c.records.length - 1].type, 'end');
  assert.ok(!s.running);
});

test('target exit ends the session by itself', async () => {
  process.env.FAKE_MODE = 'exit';
  try {
    const c = collect();
    const s = new TraceSession({
      helperPath: fake,
      target: { launch: ['/bin/true'] },
      method: 'direct',
      onRecords: c.onRecords,
    });
    const r = await s.done;
    assert.equal(r.endReason, 'target-exited');
    assert.equal(c.records.filter((x) => x.type === 'request').length, 4);
  } finally {
    delete process.env.FAKE_MODE;
  }
});

test('a helper ignoring stdin and SIGINT is ended with SIGTERM', async () => {
  process.env.FAKE_MODE = 'stubborn';
  try {
    const c = collect();
    const s = new TraceSession({
      helperPath: fake,
      target: { pid: 1 },
      method: 'direct',
      onRecords: c.onRecords,
      killGraceMs: 300,
    });
    await until(() => c.records.some((r) => r.type === 'stats'));
    const t0 = Date.now();
    const r = await s.stop();
    assert.equal(r.endReason, 'signal');
    assert.ok(Date.now() - t0 >= 250, 'waited for the grace period before SIGTERM');
  } finally {
    delete process.env.FAKE_MODE;
  }
});

test('an error record is reported with the exit code', async () => {
  process.env.FAKE_MODE = 'error';
  try {
    const c = collect();
    const r = await new TraceSession({ helperPath: fake, target: { pid: 1 }, method: 'direct', onRecords: c.onRecords })
      .done;
    assert.deepEqual(r.error, { code: 'NOT_GO', message: 'pid 1 is not a Go program' });
    assert.equal(r.exitCode, 3);
  } finally {
    delete process.env.FAKE_MODE;
  }
});

test('a missing helper ends the session with a message, not a crash', async () => {
  const c = collect();
  const r = await new TraceSession({
    helperPath: '/nonexistent/helper',
    target: { pid: 1 },
    method: 'direct',
    onRecords: c.onRecords,
  }).done;
  assert.notEqual(r.exitCode, 0);
  assert.match(r.stderr, /ENOENT|nonexistent/);
});

test('socket channel: private directory, wrong token refused, right token accepted', async () => {
  const ch = openSocketChannel(5000);
  await until(() => {
    try {
      return statSync(ch.path).isSocket() && (statSync(ch.path).mode & 0o777) === 0o600;
    } catch {
      return false;
    }
  });
  assert.equal(statSync(dirname(ch.path)).mode & 0o777, 0o700);
  assert.equal(statSync(ch.path).mode & 0o777, 0o600);
  // An impostor is disconnected.
  const bad = connect(ch.path);
  bad.write('not-the-token\n');
  await new Promise<void>((r) => bad.on('close', () => r()));
  // The helper with the token gets through; records follow on the same connection.
  const good = connect(ch.path);
  good.write(`${ch.token}\n{"type":"ready","pid":1}\n`);
  const { rest } = await ch.accepted;
  assert.match(rest.toString(), /"ready"/);
  assert.throws(() => statSync(ch.path), 'the socket is removed once the helper is in');
  good.destroy();
  ch.close();
});

/** Stands in for a terminal's end: its process's exit code. */
function exitOf(child: ReturnType<typeof spawn>): Promise<number | undefined> {
  return new Promise((resolve) => child.on('exit', (code) => resolve(code ?? undefined)));
}

test('terminal route: sudo ending before the helper connects is an error that says so', async () => {
  const c = collect();
  const s = new TraceSession({
    helperPath: fake,
    target: { pid: 7 },
    method: 'terminal',
    onRecords: c.onRecords,
    // A mistyped password: sudo exits 1 and the helper never runs.
    openTerminal: () => exitOf(spawn(process.execPath, ['-e', 'process.exit(1)'])),
  });
  const r = await s.done;
  assert.deepEqual(r.error, {
    code: 'SUDO_FAILED',
    message: 'sudo in the terminal ended with exit code 1 before the helper started',
  });
  assert.equal(c.records.length, 0);
});

test('terminal route: stopped while sudo waits for the password: no error', async () => {
  let child: ReturnType<typeof spawn> | undefined;
  const s = new TraceSession({
    helperPath: fake,
    target: { pid: 7 },
    method: 'terminal',
    onRecords: () => undefined,
    openTerminal: () => exitOf((child = spawn(process.execPath, ['-e', 'setTimeout(() => {}, 60000)']))),
    stopTerminal: () => child?.kill('SIGINT'),
  });
  await new Promise((r) => setTimeout(r, 100));
  const r = await s.stop();
  assert.equal(r.error, undefined);
});

test('terminal route: the command runs elsewhere and streams back over the socket', async () => {
  const c = collect();
  let child: ReturnType<typeof spawn> | undefined;
  let shown: string[] = [];
  const s = new TraceSession({
    helperPath: fake,
    target: { pid: 7 },
    method: 'terminal',
    onRecords: c.onRecords,
    // Stands in for the integrated terminal: runs the command minus "sudo".
    openTerminal: (cmd, args) => {
      shown = [cmd, ...args];
      child = spawn(process.execPath, [args[0], ...args.slice(1)], { stdio: ['pipe', 'ignore', 'inherit'] });
      return exitOf(child);
    },
    stopTerminal: () => child?.kill('SIGINT'),
  });
  await until(() => c.records.some((r) => r.type === 'stats'));
  assert.equal(shown[0], 'sudo');
  assert.ok(shown.includes('--connect') && shown.includes('--token'));
  assert.equal(c.records.filter((r) => r.type === 'request').length, 4);
  const r = await s.stop();
  assert.equal(r.endReason, 'signal');
});

test('terminal route: a wrong token never gets its records in', async () => {
  process.env.FAKE_TOKEN = 'guess';
  const dir = mkdtempSync(join(tmpdir(), 'ol-test-'));
  try {
    const c = collect();
    let child: ReturnType<typeof spawn> | undefined;
    const s = new TraceSession({
      helperPath: fake,
      target: { pid: 7 },
      method: 'terminal',
      onRecords: c.onRecords,
      openTerminal: (_cmd, args) => {
        child = spawn(process.execPath, args, { stdio: 'ignore', env: { ...process.env } });
        return exitOf(child);
      },
      stopTerminal: () => child?.kill('SIGKILL'),
    });
    await new Promise<void>((r) => child!.on('exit', () => r()));
    assert.equal(c.records.length, 0);
    await s.stop();
  } finally {
    delete process.env.FAKE_TOKEN;
    void dir;
    void readFileSync;
  }
});
