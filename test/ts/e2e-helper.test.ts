// End to end with the real helper: the extension's trace core (no VS Code
// UI) launches the sample service under tracing, feeds the insight server
// over LSP, and the server's code lens on the /echo handler reports the
// downstream the request really went to; the source port in the records
// is the one the downstream saw. Needs root (BPF); fails, never skips.
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { after, test } from 'node:test';
import { CodeLensRequest, DidOpenTextDocumentNotification, type CodeLens } from 'vscode-languageserver-protocol';
import { readFileSync } from 'node:fs';
import { TraceController } from '../../src/extension/traceController';
import type { TraceSession } from '../../src/extension/traceSession';
import { opName } from '../../src/shared/ops';
import { snapshotRequest, type RouteInfo } from '../../src/shared/protocol';
import { repoRoot } from './support/fixtures';
import { startServer, type ServerHandle } from './support/lspClient';

const HTTP = '127.0.0.1:18281';
const RAW = '127.0.0.1:18282';
const SERVICE = '127.0.0.1:18280';
const sampleMain = join(repoRoot, 'sample', 'main.go');

interface Lib {
  buildHelper(arch?: string): string;
  helperPath(arch?: string): string;
  buildSample(): { service: string; downstream: string };
  startAndWait(cmd: string, args: string[], pattern: RegExp, opts?: object): Promise<{ child: ChildProcess }>;
  run(cmd: string, args: string[], opts?: object): unknown;
}

const cleanups: (() => unknown)[] = [];
after(async () => {
  for (const c of cleanups.reverse()) await c();
});

async function until<T>(what: string, fn: () => Promise<T | undefined>, ms = 20000): Promise<T> {
  const t0 = Date.now();
  let last: unknown;
  while (Date.now() - t0 < ms) {
    try {
      const v = await fn();
      if (v !== undefined) return v;
    } catch (e) {
      last = e;
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`timed out waiting for ${what}${last ? `: ${(last as Error).message}` : ''}`);
}

test('e2e: real helper → trace core → insight server code lens on /echo', { timeout: 240000 }, async () => {
  assert.equal(
    process.getuid?.(),
    0,
    'the end-to-end test attaches BPF programs: run it as root (sudo node scripts/test-ts.mjs)',
  );

  const lib = (await import(pathToFileURL(join(repoRoot, 'scripts', 'lib.mjs')).href)) as Lib;
  const helper = lib.buildHelper();
  const { service, downstream } = lib.buildSample();
  assert.ok(existsSync(helper) && existsSync(service) && existsSync(downstream));

  const down = await lib.startAndWait(downstream, ['-addr', HTTP, '-raw', RAW], /listening on/);
  cleanups.push(() => down.child.kill('SIGKILL'));

  // The insight server, with the real helper for the route index of sample/.
  const server: ServerHandle = await startServer({ helperPath: helper }, join(repoRoot, 'sample'));
  cleanups.push(() => server.close());
  await server.connection.sendNotification(DidOpenTextDocumentNotification.type, {
    textDocument: {
      uri: pathToFileURL(sampleMain).href,
      languageId: 'go',
      version: 1,
      text: readFileSync(sampleMain, 'utf8'),
    },
  });

  // The /echo handler's line, from the helper's own route index.
  const routesOut = lib.run(helper, ['routes', '--dir', join(repoRoot, 'sample')], {
    stdio: ['ignore', 'pipe', 'inherit'],
    encoding: 'utf8',
  }) as { stdout: string };
  const routes = JSON.parse(routesOut.stdout) as RouteInfo[];
  const echo = routes.find((r) => r.path === '/echo');
  assert.ok(echo, `the helper's routes list /echo: ${routesOut.stdout}`);

  const lensesAt = async (line: number) => {
    const ls = ((await server.connection.sendRequest(CodeLensRequest.type, {
      textDocument: { uri: pathToFileURL(sampleMain).href },
    })) ?? []) as CodeLens[];
    return ls.find((l) => l.range.start.line === line - 1)?.command?.title;
  };
  // Before tracing: the route index alone gives the "Trace" lens.
  assert.equal(
    await until('route index', async () => (await lensesAt(echo.handler.line)) || undefined),
    'Trace outbound connections',
  );

  const controller = new TraceController(server.connection);
  const { session, done } = controller.start({
    helperPath: helper,
    method: 'direct',
    headers: ['x-test-id'],
    target: { launch: [service, '-addr', SERVICE, '-downstream', `http://${HTTP}`, '-raw', RAW] },
  });
  cleanups.push(() => (session as TraceSession).stop());
  await until(
    'the ready record',
    async () =>
      controller.status.state === 'tracing'
        ? true
        : controller.status.state === 'stopped'
          ? Promise.reject(new Error(controller.status.message))
          : undefined,
    60000,
  );
  await until('the sample to listen', async () => ((await fetch(`http://${SERVICE}/health`)).ok ? true : undefined));

  const res = await fetch(`http://${SERVICE}/echo`, { headers: { 'X-Test-Id': 'e2e-echo-1' } });
  assert.equal(res.status, 200, await res.text());

  // The lens on /echo names the downstream.
  const title = await until('a code lens with the downstream', async () => {
    const t = await lensesAt(echo.handler.line);
    return t?.includes(HTTP) ? t : undefined;
  });
  // It names what the handler asked there: echo() calls GET http://127.0.0.1:18281/echo.
  assert.match(title, /↗ 1 downstream · 127\.0\.0\.1:18281 GET \/echo ×\d+ · \d+ req · p50/);

  // The source port in the records is the one the downstream saw.
  const truth = (await (await fetch(`http://${HTTP}/truth`)).json()) as {
    testId: string;
    path: string;
    remotePort: number;
  }[];
  const seen = truth.find((t) => t.testId === 'e2e-echo-1' && t.path === '/echo');
  assert.ok(seen, `the downstream recorded the call: ${JSON.stringify(truth)}`);
  const snap = await server.connection.sendRequest(snapshotRequest, {});
  const row =
    snap.rows.find((r) => r.request?.path === '/echo' && r.request.headers?.['x-test-id'] === 'e2e-echo-1') ??
    snap.rows.find((r) => r.request?.path === '/echo');
  assert.ok(row, `an /echo row: ${JSON.stringify(snap.rows.map((r) => r.request?.path))}`);
  const out = row.outbound.find((o) => o.dport === 18281);
  assert.ok(out, `an outbound record to ${HTTP}: ${JSON.stringify(row.outbound)}`);
  assert.equal(out.sport, seen.remotePort, 'sport in the records = remotePort the downstream saw');
  // The record says what went out, as the panel names it.
  assert.equal(opName(out), `GET ${HTTP}/echo → 200`, JSON.stringify(out));

  // Stop: the helper ends, probes detached, the service it launched stopped.
  const r = await session.stop();
  assert.ok(['signal', 'stdin-closed'].includes(r.endReason ?? ''), `end reason ${r.endReason}; stderr: ${r.stderr}`);
  await done;
  assert.equal(controller.status.state, 'stopped');
  await assert.rejects(fetch(`http://${SERVICE}/health`), 'the launched service is stopped with the trace');
});

test(
  'e2e: the terminal route — the real helper connects back over the Unix socket with the token',
  { timeout: 120000 },
  async () => {
    assert.equal(process.getuid?.(), 0, 'the end-to-end test attaches BPF programs: run it as root');
    const lib = (await import(pathToFileURL(join(repoRoot, 'scripts', 'lib.mjs')).href)) as Lib;
    const helper = lib.helperPath();
    const { service, downstream } = {
      service: join(repoRoot, 'bin', 'sample', 'sample'),
      downstream: join(repoRoot, 'bin', 'sample', 'downstream'),
    };
    assert.ok(existsSync(helper) && existsSync(service), 'built by the first test');
    const down = await lib.startAndWait(
      downstream,
      ['-addr', '127.0.0.1:18285', '-raw', '127.0.0.1:18286'],
      /listening on/,
    );
    cleanups.push(() => down.child.kill('SIGKILL'));
    const server: ServerHandle = await startServer({});
    cleanups.push(() => server.close());

    const controller = new TraceController(server.connection);
    let shown: string[] = [];
    let terminal: ChildProcess | undefined;
    const { session, done } = controller.start({
      helperPath: helper,
      method: 'terminal',
      target: {
        launch: [
          service,
          '-addr',
          '127.0.0.1:18284',
          '-downstream',
          'http://127.0.0.1:18285',
          '-raw',
          '127.0.0.1:18286',
        ],
      },
      // Stands in for the integrated terminal where the user would type the sudo password: we are root already.
      openTerminal: (cmd, args) => {
        shown = [cmd, ...args];
        terminal = spawn(args[0], args.slice(1), { stdio: ['pipe', 'inherit', 'inherit'] });
        const t = terminal;
        return new Promise((resolve) => t.on('exit', (code) => resolve(code ?? undefined)));
      },
      stopTerminal: () => terminal?.kill('SIGINT'),
    });
    cleanups.push(() => session.stop());
    assert.equal(shown[0], 'sudo');
    await until(
      'the ready record over the socket',
      async () => (controller.status.state === 'tracing' ? true : undefined),
      60000,
    );
    await until('the sample to listen', async () =>
      (await fetch('http://127.0.0.1:18284/health')).ok ? true : undefined,
    );
    assert.equal((await fetch('http://127.0.0.1:18284/echo', { headers: { 'X-Test-Id': 'e2e-sock-1' } })).status, 200);
    const snap = await until('the /echo row', async () => {
      const s = await server.connection.sendRequest(snapshotRequest, {});
      return s.rows.some((r) => r.request?.path === '/echo' && r.outbound.length) ? s : undefined;
    });
    const row = snap.rows.find((r) => r.request?.path === '/echo')!;
    assert.equal(row.outbound[0].dport, 18285);
    const r = await session.stop();
    await done;
    assert.equal(r.endReason, 'signal');
  },
);
