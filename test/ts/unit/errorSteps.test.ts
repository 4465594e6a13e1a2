import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ALLOW_WITHOUT_PASSWORD, errorPrompt, TRACE_AS_ROOT } from '../../../src/extension/errorSteps';
import { decide, rootSetting, type PrivilegeFacts } from '../../../src/extension/privileges';
import { ErrorCode } from '../../../src/shared/records';

const notPermitted = {
  code: ErrorCode.NOT_PERMITTED,
  message: 'pid 42 (/srv/api) belongs to root (uid 0), and alice (uid 1000) may not trace it',
};

test('NOT_PERMITTED: the helper says whose process it is, the editor adds how to trace it anyway', () => {
  const p = errorPrompt(notPermitted);
  assert.match(p.text, /^Outbound Lens: NOT_PERMITTED: pid 42 .*belongs to root/);
  assert.match(p.text, /as root: sudo asks for your password/);
  assert.match(p.text, /run the service as yourself/);
  assert.deepEqual(p.actions, [TRACE_AS_ROOT]);
});

test('NO_PRIVILEGES offers the grant; a code without a next step is shown as it came', () => {
  assert.deepEqual(errorPrompt({ code: ErrorCode.NO_PRIVILEGES, message: 'm' }).actions, [ALLOW_WITHOUT_PASSWORD]);
  assert.deepEqual(errorPrompt({ code: ErrorCode.LOAD_FAILED, message: 'm' }), {
    text: 'Outbound Lens: LOAD_FAILED: m',
    actions: [],
  });
});

test('Trace as root goes through sudo even though the helper has capabilities', () => {
  const facts: PrivilegeFacts = {
    isRoot: false,
    helperCanTrace: true, // the grant that led to NOT_PERMITTED
    sudoNoPassword: false,
    sudoAvailable: true,
    pkexecAvailable: false,
    displayPresent: false,
    setting: 'auto',
  };
  assert.equal(decide(facts).method, 'direct', 'a plain trace runs the capability-granted helper');
  assert.equal(decide({ ...facts, setting: rootSetting('auto') }).method, 'terminal');
  assert.equal(decide({ ...facts, sudoNoPassword: true, setting: rootSetting('auto') }).method, 'sudo');
  assert.equal(decide({ ...facts, setting: rootSetting('root') }).method, 'terminal');
  assert.equal(rootSetting('pkexec'), 'pkexec');
  assert.equal(decide({ ...facts, sudoAvailable: false, setting: rootSetting('auto') }).method, 'none');
});
