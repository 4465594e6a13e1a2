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
  reason: 'signal' | 'duration' | 'target-exited' | 'target-exec' | 'stdin-closed' | 'connection-closed' | string;
  exitStatus?: number;
}

export type TraceRecord = ReadyRecord | RequestRecord | OutboundRecord | StatsRecord | ErrorRecord | EndRecord;

const KNOWN = new Set(['ready', 'request', 'outbound', 'stats', 'error', 'end']);

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
