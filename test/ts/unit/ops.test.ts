// The names of outbound operations, as the panel, lenses and hovers show them.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  callFailed,
  failure,
  opKind,
  opName,
  opProtocol,
  remoteName,
  shorten,
  statusMatches,
  STATEMENT_CHARS,
} from '../../../src/shared/ops';
import type { OpRecord, OutboundRecord } from '../../../src/shared/records';

function out(op: OpRecord | undefined, via = 'write', dst = '127.0.0.1', dport = 5432): OutboundRecord {
  return {
    type: 'outbound',
    request: 'r1',
    pid: 1,
    goid: 2,
    proto: 'tcp',
    src: '127.0.0.1',
    sport: 40000,
    dst,
    dport,
    reused: true,
    callSite: null,
    tsNs: 1,
    via,
    ...(op ? { op } : {}),
  };
}

test('HTTP: method, host as the URL named it, and path', () => {
  const local = out(
    { protocol: 'http', method: 'GET', scheme: 'http', host: '127.0.0.1:18081', path: '/echo' },
    'http',
  );
  assert.equal(opName(local), 'GET 127.0.0.1:18081/echo');
  const stripe = out(
    { protocol: 'http', method: 'POST', scheme: 'https', host: 'api.stripe.com', path: '/v1/charges' },
    'http',
    '10.1.2.3',
    443,
  );
  assert.equal(opName(stripe), 'POST api.stripe.com/v1/charges');
  assert.equal(remoteName(stripe), 'api.stripe.com');
  assert.equal(opKind(stripe), 'POST /v1/charges');
  assert.equal(opProtocol(stripe), '');
  // An HTTP/1 request line seen at a write names no host: the tuple's remote stands in.
  const written = out({ protocol: 'http', method: 'PUT', path: '/items/7' }, 'write', '10.0.0.9', 8080);
  assert.equal(opName(written), 'PUT 10.0.0.9:8080/items/7');
  assert.equal(remoteName(written), '10.0.0.9:8080');
  const cut = out({ protocol: 'http', method: 'GET', host: 'h', path: '/a/very/long', truncated: true }, 'http');
  assert.equal(opName(cut), 'GET h/a/very/long…');
});

test('gRPC: the full method; the authority is the remote', () => {
  const o = out({ protocol: 'grpc', host: 'users:50051', path: '/pkg.Service/Method' }, 'grpc');
  assert.equal(opName(o), 'grpc /pkg.Service/Method');
  assert.equal(remoteName(o), 'users:50051');
  assert.equal(opKind(o), '/pkg.Service/Method');
  assert.equal(opProtocol(o), 'grpc');
});

test('SQL: the statement on one line, shortened; the verb alone without one', () => {
  const stmt = 'SELECT id, name,\n       email\n  FROM users WHERE id = $1 AND deleted_at IS NULL ORDER BY id';
  const o = out({ protocol: 'postgresql', verb: 'SELECT', statement: stmt });
  const name = opName(o);
  assert.ok(name.startsWith('SELECT id, name, email FROM users WHERE id = $1'), name);
  assert.ok(name.length <= STATEMENT_CHARS && name.endsWith('…'), name);
  assert.equal(
    opName(o, { full: true }),
    'SELECT id, name, email FROM users WHERE id = $1 AND deleted_at IS NULL ORDER BY id',
  );
  assert.equal(opName(o, { max: 200 }), opName(o, { full: true }));
  assert.equal(remoteName(o), '127.0.0.1:5432');
  assert.equal(opKind(o), 'SELECT');
  assert.equal(opProtocol(o), 'postgresql');
  // --no-statements: only the verb.
  assert.equal(opName(out({ protocol: 'mysql', verb: 'INSERT' }, 'write', '127.0.0.1', 3306)), 'INSERT');
  // A statement led by a comment still says its verb first.
  assert.equal(
    opName(out({ protocol: 'postgresql', verb: 'UPDATE', statement: '/* app */ UPDATE t SET a = 1' })),
    'UPDATE /* app */ UPDATE t SET a = 1',
  );
  // Cut by the probe: marked even when short enough here.
  assert.equal(
    opName(out({ protocol: 'postgresql', verb: 'SELECT', statement: 'SELECT 1', truncated: true })),
    'SELECT 1…',
  );
});

test('Redis: command and key; the command alone without a key', () => {
  const o = out({ protocol: 'redis', command: 'GET', key: 'session:42' }, 'write', '127.0.0.1', 6379);
  assert.equal(opName(o), 'redis GET session:42');
  assert.equal(opKind(o), 'GET');
  assert.equal(opProtocol(o), 'redis');
  assert.equal(opName(out({ protocol: 'redis', command: 'PING' })), 'redis PING');
  const long = 'k'.repeat(100);
  const named = opName(out({ protocol: 'redis', command: 'SET', key: long }));
  assert.equal(named.length, STATEMENT_CHARS);
  assert.ok(named.startsWith('redis SET kkk') && named.endsWith('…'));
  assert.equal(opName(out({ protocol: 'redis', command: 'SET', key: long }), { full: true }), `redis SET ${long}`);
});

test('connect, TLS and unrecognized bytes: the tuple', () => {
  assert.equal(opName(out(undefined, 'connect')), '127.0.0.1:40000 → 127.0.0.1:5432');
  assert.equal(opName(out({ protocol: 'tcp' })), '127.0.0.1:40000 → 127.0.0.1:5432');
  assert.equal(opName(out({ protocol: 'tls' }, 'write', '::1', 443)), 'tls 127.0.0.1:40000 → [::1]:443');
  for (const op of [undefined, { protocol: 'tcp' }, { protocol: 'tls' }]) assert.equal(opKind(out(op)), '');
  assert.equal(opProtocol(out(undefined)), '');
  assert.equal(opProtocol(out({ protocol: 'tcp' })), '');
  assert.equal(opProtocol(out({ protocol: 'tls' })), 'tls');
  assert.equal(remoteName(out(undefined, 'connect', '::1', 80)), '[::1]:80');
});

test('shorten keeps short text and cuts long text to the limit', () => {
  assert.equal(shorten('abc', 3), 'abc');
  assert.equal(shorten('abcdef', 4), 'abc…');
  assert.equal(shorten('ab   cdef', 4), 'ab…');
});

test('an HTTP call names its outcome; 5xx and no response are failures; status: tokens', () => {
  const call = (status?: number, failed?: boolean) =>
    out(
      {
        protocol: 'http',
        method: 'POST',
        scheme: 'https',
        host: 'api.stripe.com',
        path: '/v1/charges',
        status,
        failed,
      },
      'http',
    );
  assert.equal(opName(call(502)), 'POST api.stripe.com/v1/charges → 502');
  assert.equal(opName(call(undefined, true)), 'POST api.stripe.com/v1/charges → failed');
  assert.equal(opName(call()), 'POST api.stripe.com/v1/charges');
  assert.ok(callFailed(call(503)) && callFailed(call(undefined, true)));
  assert.ok(!callFailed(call(404)) && !callFailed(call(200)) && !callFailed(call()));
  assert.ok(statusMatches(call(503), '5xx') && !statusMatches(call(404), '5xx'));
  assert.ok(statusMatches(call(404), '4xx') && statusMatches(call(404), '404') && !statusMatches(call(404), '403'));
  assert.ok(statusMatches(call(undefined, true), 'failed') && statusMatches(call(500), 'failed'));
  assert.ok(!statusMatches(call(200), 'failed') && !statusMatches(call(), '2xx') && !statusMatches(call(200), 'x'));
});

test('a gRPC call names its status code; a code other than OK is a failure', () => {
  const grpc = (status?: number, failed?: boolean, durationNs?: number) =>
    out({ protocol: 'grpc', host: 'inventory:50051', path: '/inv.Stock/Get', status, failed, durationNs }, 'grpc');
  assert.equal(opName(grpc(5, true, 1e6)), 'grpc /inv.Stock/Get → NotFound');
  assert.equal(opName(grpc(undefined, false, 1e6)), 'grpc /inv.Stock/Get → OK');
  assert.equal(opName(grpc()), 'grpc /inv.Stock/Get');
  assert.equal(opName(grpc(99, true)), 'grpc /inv.Stock/Get → code 99');
  assert.ok(callFailed(grpc(14, true)) && !callFailed(grpc(undefined, false, 1e6)));
  assert.equal(failure(grpc(14, true)), 'Unavailable');
});

test('a connect that failed names the reason and counts as failed; a TLS exchange its server name', () => {
  const refused = out({ protocol: 'tcp', failed: true, error: 'connection refused' }, 'connect', '10.0.0.9', 443);
  assert.match(opName(refused), /→ 10\.0\.0\.9:443 → connection refused$/);
  assert.ok(callFailed(refused) && statusMatches(refused, 'failed'));
  const tls = out({ protocol: 'tls', serverName: 'api.test' }, 'write', '127.0.0.1', 8443);
  assert.match(opName(tls), /^tls api\.test \S+ → 127\.0\.0\.1:8443$/);
});
