import type { Row } from './rows';

/** Rows back to the helper's records, in the order they arrived: outbound first, then their request. */
export function toNdjson(rows: Row[]): string {
  const lines: string[] = [];
  for (const r of rows) {
    for (const o of r.outbound) lines.push(JSON.stringify(o));
    if (r.request) lines.push(JSON.stringify(r.request));
  }
  return lines.length ? lines.join('\n') + '\n' : '';
}
