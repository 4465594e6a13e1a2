// The helper's NDJSON records (contract v1). Field names match the helper's
// output exactly; fields may be added by newer helpers, so every type is open.

export interface SourceLocation {
  func: string;
  file: string;
  line: number;
  column?: number;
}

export interface ReadyRecord {
  type: 'ready';
  pid: number;
  exe?: string;
  goVersion?: string;
  probes?: string[];
  headers?: string[];
  offsets?: string;
}

export interface RequestRecord {
  type: 'request';
  id: string;
  pid: number;
  goid: number;
  method: string;
  path: string;
  route?: string;
  handler?: SourceLocation | null;
  headers?: Record<string, string>;
  traceId?: string;
  startNs: number;
  endNs: number;
}

export interface OutboundRecord {
  type: 'outbound';
  /** The inbound request's id, or null for a call no request caused. */
  request: string | null;
  pid: number;
  goid: number;
  proto: string;
  src: string;
  sport: number;
  dst: string;
  dport: number;
  reused: boolean;
  callSite?: SourceLocation | null;
  tsNs: number;
  via?: 'http' | 'connect' | string;
}

export interface StatsRecord {
  type: 'stats';
  events: number;
  lost: number;
  requests?: number;
  outbound?: number;
}

export interface ErrorRecord {
  type: 'error';
  code: string;
  message: string;
}

export interface EndRecord {
  type: 'end';
  reason: 'signal' | 'duration' | 'target-exited' | 'stdin-closed' | string;
  exitStatus?: number;
}

export type TraceRecord = ReadyRecord | RequestRecord | OutboundRecord | StatsRecord | ErrorRecord | EndRecord;

const KNOWN = new Set(['ready', 'request', 'outbound', 'stats', 'error', 'end']);

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
      if (!optString(r.src) || !optString(r.proto) || !optLoc(r.callSite)) return undefined;
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
