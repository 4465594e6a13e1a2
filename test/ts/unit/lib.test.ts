// scripts/lib.mjs's startAndWait: resolves once the pattern is on stderr,
// and what the process prints later does not disturb the caller's listeners.
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { test } from 'node:test';
import { repoRoot } from '../support/fixtures';

interface Lib {
  startAndWait(cmd: string, args: string[], pattern: RegExp): Promise<{ child: ChildProcess; match: RegExpMatchArray }>;
}
const load = async () => (await import(pathToFileURL(join(repoRoot, 'scripts', 'lib.mjs')).href)) as Lib;

test('startAndWait: an exit listener added after ready sees the exit, though stderr goes on', async () => {
  const { startAndWait } = await load();
  const script = 'echo "ready at 7" >&2; sleep 0.2; echo "ready again, then more" >&2; sleep 0.2; exit 3';
  const { child, match } = await startAndWait('sh', ['-c', script], /ready at (\d+)/);
  assert.equal(match[1], '7');
  const code = await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('the exit listener never ran')), 5000);
    child.once('exit', (c) => {
      clearTimeout(timer);
      resolve(c);
    });
  });
  assert.equal(code, 3);
});

test('startAndWait: a process that exits before the pattern rejects with its output', async () => {
  const { startAndWait } = await load();
  await assert.rejects(startAndWait('sh', ['-c', 'echo "no luck" >&2; exit 2'], /ready/), /exited \(2\)[^]*no luck/);
});
