import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { decide, privilegedCommand, SETCAP_CAPS, type PrivilegeFacts } from '../../../src/extension/privileges';
import { repoRoot } from '../support/fixtures';

const none: PrivilegeFacts = {
  isRoot: false,
  helperCanTrace: false,
  sudoNoPassword: false,
  sudoAvailable: true,
  pkexecAvailable: false,
  displayPresent: false,
  setting: 'auto',
};

test('auto: least painful first', () => {
  assert.equal(decide({ ...none, isRoot: true, sudoNoPassword: true }).method, 'direct');
  assert.equal(decide({ ...none, helperCanTrace: true, sudoNoPassword: true }).method, 'direct');
  assert.equal(decide({ ...none, sudoNoPassword: true, pkexecAvailable: true, displayPresent: true }).method, 'sudo');
  assert.equal(decide({ ...none, pkexecAvailable: true, displayPresent: true }).method, 'pkexec');
  assert.equal(
    decide({ ...none, pkexecAvailable: true, displayPresent: false }).method,
    'terminal',
    'no polkit prompt over SSH',
  );
  assert.equal(decide({ ...none, displayPresent: true }).method, 'terminal');
  assert.equal(decide(none).method, 'terminal');
});

test('the setting overrides the ladder', () => {
  assert.equal(decide({ ...none, setting: 'root' }).method, 'direct');
  assert.equal(decide({ ...none, isRoot: true, setting: 'terminal' }).method, 'terminal');
  assert.equal(decide({ ...none, isRoot: true, setting: 'pkexec' }).method, 'pkexec');
  assert.equal(decide({ ...none, setting: 'sudo', sudoNoPassword: true }).method, 'sudo');
  assert.equal(
    decide({ ...none, setting: 'sudo' }).method,
    'terminal',
    'sudo that needs a password asks in a terminal',
  );
});

test('without sudo, the routes that run it are no way at all', () => {
  const noSudo = { ...none, sudoAvailable: false };
  assert.equal(decide(noSudo).method, 'none');
  assert.equal(decide({ ...noSudo, setting: 'terminal' }).method, 'none');
  assert.equal(decide({ ...noSudo, setting: 'sudo' }).method, 'none');
  assert.equal(decide({ ...noSudo, isRoot: true }).method, 'direct');
  assert.equal(decide({ ...noSudo, helperCanTrace: true }).method, 'direct');
  assert.equal(decide({ ...noSudo, pkexecAvailable: true, displayPresent: true }).method, 'pkexec');
  assert.match(decide(noSudo).reason, /sudo is not installed/);
});

test('every decision says why', () => {
  for (const isRoot of [true, false])
    for (const sudoNoPassword of [true, false])
      for (const setting of ['auto', 'root', 'sudo', 'pkexec', 'terminal'] as const)
        assert.ok(decide({ ...none, isRoot, sudoNoPassword, setting }).reason.length > 0);
});

test('command lines per method', () => {
  assert.deepEqual(privilegedCommand('direct', '/h', ['trace']), ['/h', ['trace']]);
  assert.deepEqual(privilegedCommand('sudo', '/h', ['trace']), ['sudo', ['-n', '/h', 'trace']]);
  assert.deepEqual(privilegedCommand('pkexec', '/h', ['trace']), ['pkexec', ['/h', 'trace']]);
  assert.deepEqual(privilegedCommand('terminal', '/h', ['trace']), ['sudo', ['/h', 'trace']]);
});

test('the setcap grant the extension offers is the one the helper names', () => {
  const caps = readFileSync(join(repoRoot, 'bpf', 'cmd', 'outbound-lens-helper', 'caps.go'), 'utf8');
  assert.equal(/const SetcapCaps = "([^"]+)"/.exec(caps)?.[1], SETCAP_CAPS);
  assert.match(SETCAP_CAPS, /\+p$/, 'permitted only: with +ep the helper may not run at all');
});
