// One trace at a time; status goes attaching → tracing → stopped; the
// insight server gets the state changes and every record, in order.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { test } from 'node:test';
import type { NotificationType } from 'vscode-languageserver-protocol';
import { TraceController } from '../../../src/extension/traceController';
import { lostText, type TraceStatus } from '../../../src/shared/rows';
import { repoRoot } from '../support/fixtures';

const fake = join(repoRoot, 'test', 'ts', 'support', 'fake-helper.mjs');

test('status, notifications and one-trace-at-a-time', async () => {
  const sent: { method: string; params: unknown }[] = [];
  const c = new TraceController({
    sendNotification: <P>(type: NotificationType<P>, params: P) => sent.push({ method: type.method, params }),
  });
  const states: TraceStatus['state'][] = [];
  c.onStatus((s) => states.push(s.state));
  const { done, session } = c.start({ helperPath: fake, target: { pid: 99 }, method: 'direct' });
  assert.ok(c.active);
  assert.throws(() => c.start({ helperPath: fake, target: { pid: 98 }, method: 'direct' }), /already running/);
  while (c.status.requests < 4) await new Promise((r) => setTimeout(r, 10));
  assert.equal(c.status.state, 'tracing');
  assert.equal(c.status.pid, 41234, 'the pid from the ready record');
  await session.stop();
  await done;
  assert.ok(!c.active);
  assert.equal(c.status.state, 'stopped');
  assert.equal(c.status.message, 'trace ended (stdin-closed)');
  assert.deepEqual(
    states.filter((s, i) => states[i - 1] !== s),
    ['attaching', 'tracing', 'stopped'],
  );
  assert.equal(sent[0].method, 'outboundLens/traceState');
  assert.deepEqual(sent[0].params, { state: 'attaching', pid: 99 });
  assert.deepEqual(sent.at(-1), {
    method: 'outboundLens/traceState',
    params: { state: 'stopped', message: 'trace ended (stdin-closed)' },
  });
  const records = sent
    .filter((s) => s.method === 'outboundLens/records')
    .flatMap((s) => (s.params as { records: { type: string }[] }).records);
  assert.equal(records[0].type, 'ready');
  assert.equal(records.at(-1)!.type, 'end');
  assert.equal(records.length, 15); // 13 fixture records + stats + end
  // A second trace may start once the first has ended.
  const again = c.start({ helperPath: fake, target: { pid: 97 }, method: 'direct' });
  await again.session.stop();
});

test('a helper that cannot start leaves a message', async () => {
  const c = new TraceController({ sendNotification: () => undefined });
  const { done } = c.start({ helperPath: '/nonexistent/outbound-lens-helper', target: { pid: 1 }, method: 'direct' });
  await done;
  assert.equal(c.status.state, 'stopped');
  assert.match(c.status.message ?? '', /the helper stopped.*ENOENT|nonexistent/);
});

test('lost events from the stats record reach the status (the status bar shows them)', async () => {
  const c = new TraceController({ sendNotification: () => undefined });
  process.env.FAKE_LOST = '7'; // read by the fake helper when it starts
  const { done, session } = c.start({ helperPath: fake, target: { pid: 99 }, method: 'direct' });
  delete process.env.FAKE_LOST;
  try {
    while (c.status.requests < 4) await new Promise((r) => setTimeout(r, 10));
    assert.equal(c.status.lost, 0, 'the fixture stats record lost nothing');
  } finally {
    await session.stop();
    await done;
  }
  assert.equal(c.status.state, 'stopped');
  assert.equal(c.status.lost, 7);
  assert.equal(lostText(c.status), '7 events lost');
  assert.equal(lostText({ state: 'tracing', requests: 0, lost: 1 }), '1 event lost');
  assert.equal(lostText({ state: 'tracing', requests: 0 }), undefined);
});
