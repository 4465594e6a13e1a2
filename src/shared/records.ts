// The helper's NDJSON records (contract v1): the types and error codes are
// generated from their Go declaration (bpf/records) into records.gen.ts.
// Newer helpers may add fields, and TypeScript's types are open to them.
import { RECORD_TYPES, type OpRecord, type SourceLocation, type TraceRecord } from './records.gen';

export * from './records.gen';

const KNOWN = new Set<string>(RECORD_TYPES);

const isString = (v: unknown): v is string => typeof v === 'string';
const optString = (v: unknown) => v === undefined || isString(v);
/** A source location, or none: the store and the editor read its file, line and func. */
const optLoc = (v: unknown) =>
  v === undefined ||
  v === null ||
  (typeof v === 'object' &&
    isString((v as SourceLocation).func) &&
    isString((v as SourceLocation).file) &&
    typeof (v as SourceLocation).line === 'number');
/** A call path, or none: every frame a source location (the store counts each frame's line). */
const optPath = (v: unknown) =>
  v === undefined || v === null || (Array.isArray(v) && v.every((f) => f !== null && f !== undefined && optLoc(f)));
/** An op, or none: its names are strings (the panel and lenses print them), truncated a boolean. */
const OP_STRINGS = ['method', 'scheme', 'host', 'path', 'verb', 'statement', 'command', 'key'] as const;
const optOp = (v: unknown) =>
  v === undefined ||
  (typeof v === 'object' &&
    v !== null &&
    !Array.isArray(v) &&
    isString((v as OpRecord).protocol) &&
    OP_STRINGS.every((k) => optString((v as OpRecord)[k])) &&
    ((v as OpRecord).truncated === undefined || typeof (v as OpRecord).truncated === 'boolean'));
const optHeaders = (v: unknown) =>
  v === undefined || v === null || (typeof v === 'object' && !Array.isArray(v) && Object.values(v).every(isString));

/**
 * Checks the fields the rest of the code relies on, so a damaged or foreign
 * line is counted as malformed instead of reaching the store or the panel;
 * unknown types are rejected.
 */
export function asTraceRecord(v: unknown): TraceRecord | undefined {
  if (typeof v !== 'object' || v === null) return undefined;
  const r = v as Record<string, unknown>;
  if (typeof r.type !== 'string' || !KNOWN.has(r.type)) return undefined;
  switch (r.type) {
    case 'request':
      if (!isString(r.id) || !isString(r.method) || !isString(r.path)) return undefined;
      if (!optString(r.route) || !optString(r.traceId) || !optLoc(r.handler) || !optHeaders(r.headers))
        return undefined;
      break;
    case 'outbound':
      if (!isString(r.dst) || typeof r.dport !== 'number') return undefined;
      if (r.request !== null && !isString(r.request)) return undefined;
      if (!optString(r.src) || !optString(r.proto) || !optLoc(r.callSite) || !optOp(r.op)) return undefined;
      if (!optPath(r.callPath)) return undefined;
      break;
    case 'error':
      if (!isString(r.code)) return undefined;
      break;
  }
  return v as TraceRecord;
}

/** `dst:dport`, with IPv6 addresses bracketed. */
export function endpoint(host: string, port: number): string {
  return host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
}
