import { readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { TraceRecord } from '../../../src/shared/records';

export const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
export const fixturePath = join(repoRoot, 'test', 'fixtures', 'records.ndjson');

export function fixtureRecords(): TraceRecord[] {
  return readFileSync(fixturePath, 'utf8')
    .split('\n')
    .filter((l) => l.trim())
    .map((l) => JSON.parse(l) as TraceRecord);
}
