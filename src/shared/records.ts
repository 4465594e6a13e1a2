// The helper's NDJSON records (contract v1): the types and error codes are
// generated from their Go declaration (bpf/records) into records.gen.ts.
// Newer helpers may add fields, and TypeScript's types are open to them.
import { RECORD_TYPES, type TraceRecord } from './records.gen';

export * from './records.gen';

const KNOWN = new Set<string>(RECORD_TYPES);

/** Checks the few fields the rest of the code relies on; unknown types are rejected. */
export function asTraceRecord(v: unknown): TraceRecord | undefined {
  if (typeof v !== 'object' || v === null) return undefined;
  const r = v as Record<string, unknown>;
  if (typeof r.type !== 'string' || !KNOWN.has(r.type)) return undefined;
  switch (r.type) {
    case 'request':
      if (typeof r.id !== 'string' || typeof r.method !== 'string' || typeof r.path !== 'string') return undefined;
      break;
    case 'outbound':
      if (typeof r.dst !== 'string' || typeof r.dport !== 'number') return undefined;
      if (r.request !== null && typeof r.request !== 'string') return undefined;
      break;
    case 'error':
      if (typeof r.code !== 'string') return undefined;
      break;
  }
  return v as TraceRecord;
}

/** `dst:dport`, with IPv6 addresses bracketed. */
export function endpoint(host: string, port: number): string {
  return host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
}
