// npm run demo: build the sample Gin service and its downstream stand-in,
// launch the service under tracing, send a few requests, print what the
// helper saw next to what the downstream saw. As root, also start throwaway
// PostgreSQL and Redis servers, give the sample their pools (-pg, -redis),
// send /db and /cache requests, and print what those servers saw.
import { spawn } from 'node:child_process';
import { setTimeout as sleep } from 'node:timers/promises';
import { buildHelper, buildSample, isRoot, privileged, startAndWait, startServers } from './lib.mjs';
import { ensureSystem } from './prereqs.mjs';

async function main() {
  const helper = buildHelper();
  const sample = buildSample();
  const downstreamAddr = '127.0.0.1:18081';
  const rawAddr = '127.0.0.1:18082';
  const serviceAddr = '127.0.0.1:18080';

  const { child: downstream } = await startAndWait(
    sample.downstream,
    ['-addr', downstreamAddr, '-raw', rawAddr],
    /listening on/,
  );
  const children = [downstream];
  const cleanup = () => children.forEach((c) => c.exitCode === null && c.kill('SIGTERM'));
  process.on('exit', cleanup);

  // The servers run as the user nobody, which only root can switch to (and
  // only root installs them when they are missing).
  let servers = null;
  if (isRoot()) {
    ensureSystem('demo');
    servers = await startServers('demo', { truth: true });
    children.push(servers.child);
  } else {
    console.error(
      'outbound-lens: not root: skipping PostgreSQL and Redis (/db, /cache), which the demo starts as the user nobody',
    );
  }

  const argv = [
    ...privileged(helper),
    'trace',
    '--format',
    'text',
    '--header',
    'x-request-id',
    '--',
    sample.service,
    '-addr',
    serviceAddr,
    '-downstream',
    `http://${downstreamAddr}`,
    '-raw',
    rawAddr,
    ...(servers ? ['-pg', servers.postgres.dsn, '-redis', servers.redis.addr] : []),
  ];
  console.log(`$ ${argv.join(' ')}\n`);
  const tracer = spawn(argv[0], argv.slice(1), { stdio: ['pipe', 'pipe', 'pipe'] });
  children.push(tracer);
  let lines = '';
  tracer.stdout.setEncoding('utf8');
  tracer.stdout.on('data', (d) => {
    lines += d;
    process.stdout.write(d);
  });
  let diag = '';
  tracer.stderr.setEncoding('utf8');
  tracer.stderr.on('data', (d) => (diag += d));
  const exited = new Promise((r) => tracer.once('exit', (code) => r(code)));
  for (let i = 0; !/listening on/.test(diag); i++) {
    if (tracer.exitCode !== null || i > 300) throw new Error(`the helper did not start the service:\n${diag}`);
    await sleep(100);
  }

  const paths = ['/echo', '/users/42', '/fanout', '/twice', '/dial', '/echo', '/api/v1/orders'];
  if (servers) paths.push('/db/1', '/cache/1', '/db/2', '/cache/2', '/echo');
  for (const p of paths) {
    const method = p.startsWith('/api') ? 'POST' : 'GET';
    const res = await fetch(`http://${serviceAddr}${p}`, { method, headers: { 'x-request-id': `demo-${p}` } });
    await res.text();
  }
  await sleep(500);
  const truth = await (await fetch(`http://${downstreamAddr}/truth`)).json();
  tracer.stdin.end(); // the helper stops when its stdin closes, and stops the service it launched
  const code = await exited;
  if (!(await exitedWithin(tracer, 0))) tracer.kill('SIGTERM');
  const seen = servers ? await servers.stop() : [];

  console.log('\nWhat the downstream saw (its view of the same connections):');
  for (const t of truth)
    console.log(`  ${t.kind.padEnd(4)} ${String(t.path ?? '').padEnd(12)} from client port ${t.remotePort}`);
  if (servers) {
    console.log('\nWhat PostgreSQL and Redis saw of the /db and /cache requests:');
    for (const t of seen) {
      if (t.type === 'postgres' && t.statement.includes('ol-req-'))
        console.log(`  sql   ${t.statement.padEnd(19)} from client port ${t.port}`);
      if (t.type === 'redis' && t.key.startsWith('ol-req-'))
        console.log(`  redis ${`${t.command} ${t.key}`.padEnd(19)} from client port ${t.port}`);
    }
  }
  const echo = lines
    .split('\n')
    .find((l) => l.startsWith('/echo ') && /127\.0\.0\.1:\d+ -> 127\.0\.0\.1:18081/.test(l));
  if (!echo) {
    console.error(`\nno /echo line with a real tuple was traced:\n${diag}`);
    process.exit(1);
  }
  const sport = Number(echo.match(/127\.0\.0\.1:(\d+) ->/)[1]);
  if (!truth.some((t) => t.path === '/echo' && t.remotePort === sport)) {
    console.error(`\nthe traced /echo source port ${sport} is not one the downstream saw`);
    process.exit(1);
  }
  console.log(`\n/echo went out from 127.0.0.1:${sport}, the port the downstream saw. Helper exit code ${code}.`);
  cleanup();
}

async function exitedWithin(child, ms) {
  if (child.exitCode !== null) return true;
  await sleep(ms);
  return child.exitCode !== null;
}

main().catch((e) => {
  console.error(`demo failed: ${e.message}`);
  process.exit(1);
});
