// The correlation store: rows for the panel (bounded by maxRecords) and
// cumulative aggregates per handler and per line of the outbound calls' call
// paths (bounded by the number of handlers and lines, which the code fixes;
// remotes, operations, failures and callees per line are capped too).
//
// A request record arrives when the request ENDS, so its outbound records
// usually come first: they wait in `pending` until the request shows up.
import {
  endpoint,
  type OutboundRecord,
  type RequestRecord,
  type SourceLocation,
  type TraceRecord,
} from '../shared/records';
import { callFailed, failure, opKind, opName, opProtocol, remoteName, tuple } from '../shared/ops';
import type { Row, TraceStatus } from '../shared/rows';

const DURATIONS_KEPT = 2048;
/** Call durations kept per remote of a handler, for its p50 and p95. */
export const CALL_DURATIONS_KEPT = 512;
const RECENT_KEPT = 8;
/** Distinct remotes kept per handler, and operations per remote; the rest are counted together. */
export const REMOTES_KEPT = 32;
export const OPS_KEPT = 32;
/** Failure outcomes (ops.failure: a 5xx status, a gRPC code, a connect's reason, no response) kept per remote; the rest are counted together. */
export const FAILURES_KEPT = 8;
/** How many frames of a record's call path count: the helper writes at most 8. */
export const CALL_PATH_KEPT = 8;
/** The next frames inward (the callees a line's calls went through) kept per line. */
export const CALLEES_KEPT = 8;
/** Where the remotes and operations past those limits are counted. */
export const OTHER = '(other)';

export interface EndpointCount {
  endpoint: string;
  count: number;
  fresh: number;
  reused: number;
}

/** One kind of operation at a remote: `GET /echo`, `postgresql SELECT`, `redis GET`, `grpc /pkg.S/M`. */
export interface OpCount {
  /** postgresql, redis, grpc, tls, …; '' for HTTP (the method says it) and for no named operation */
  protocol: string;
  /** the method and path, the full gRPC method, the verb, the command; '' for none */
  kind: string;
  /** a connect, or bytes no protocol was recognized in: counted at the remote, not named */
  unnamed: boolean;
  count: number;
}

/** What a handler's requests did at one remote (remoteName: the URL's host, else dst:dport). */
export interface RemoteCount {
  remote: string;
  count: number;
  fresh: number;
  reused: number;
  /** calls that went wrong (ops.callFailed) */
  failed: number;
  /** those calls by outcome (ops.failure: `502`, `Unavailable`, `connection refused`, `failed`); at most FAILURES_KEPT and OTHER */
  failures: Map<string, number>;
  /** the durations of the last CALL_DURATIONS_KEPT calls that have one (HTTP and gRPC calls), in ms: a ring */
  durationsMs: number[];
  durationsNext: number;
  /** by protocol and kind */
  ops: Map<string, OpCount>;
}

export interface HandlerAgg {
  func: string;
  file: string;
  line: number;
  routes: Set<string>; // routeLabel: "GET /users/:id", "GET /users/{id}"
  requests: number;
  durationsMs: number[]; // ring of the last DURATIONS_KEPT
  durationsNext: number;
  endpoints: Map<string, EndpointCount>;
  /** by remoteName, at most REMOTES_KEPT and OTHER */
  remotes: Map<string, RemoteCount>;
}

export interface RecentUse extends Pick<OutboundRecord, 'proto' | 'src' | 'sport' | 'dst' | 'dport' | 'reused'> {
  requestKey: string | null;
  traceId?: string;
  path?: string;
  method?: string;
  /** what it did (opName), when an operation was named */
  op?: string;
}

/** A callee a line's calls went through: the next frame inward on their call paths. */
export interface CalleeCount {
  func: string;
  file: string;
  line: number;
  count: number;
}

/**
 * What the outbound calls made at one line of the service did: the line
 * that makes them (the innermost frame, callSite), or any line further out
 * on their call paths (a handler's line that calls a helper which calls
 * out). A record counts once at each distinct line of its path.
 */
export interface CallSiteAgg {
  func: string;
  file: string;
  line: number;
  count: number;
  /** the calls made at this very line (it was their innermost frame) */
  direct: number;
  /** by remoteName, at most REMOTES_KEPT and OTHER */
  remotes: Map<string, RemoteCount>;
  /** the calls made through a callee, by its frame (file:line), at most CALLEES_KEPT and OTHER */
  callees: Map<string, CalleeCount>;
  recent: RecentUse[];
}

interface Entry {
  seq: number;
  row: Row;
}

/** What a log slot before logStart holds: nothing (those slots are never read). */
const DROPPED = { seq: 0, row: undefined } as unknown as Entry;

export class Store {
  private maxRecords: number;
  private seq = 0;
  private epoch = 0;
  /** Rows by key; `log` keeps them in seq order with stale entries skipped. */
  private rows = new Map<string, Row>();
  private log: Entry[] = [];
  private logStart = 0;
  private recordsHeld = 0;
  /** Outbound records whose request has not ended yet, by request key. */
  private pending = new Map<string, { outbound: OutboundRecord[]; recent: RecentUse[] }>();
  private pendingCount = 0;
  private bgCounter = 0;

  dropped = 0;
  malformed = 0;
  readonly handlers = new Map<string, HandlerAgg>();
  readonly callSites = new Map<string, CallSiteAgg>();
  /**
   * The handler of a request that has a route but no handler from the probe
   * (a ServeMux pattern, a chi route): from the route index. Set by the server.
   */
  handlerOf?: (method: string, route: string) => SourceLocation | undefined;
  status: TraceStatus = { state: 'idle', requests: 0 };
  lastError?: { code: string; message: string };

  constructor(maxRecords = 50000) {
    this.maxRecords = Math.max(1, maxRecords);
  }

  get currentSeq(): number {
    return this.seq;
  }

  get heldRecords(): number {
    return this.recordsHeld + this.pendingCount;
  }

  setMaxRecords(n: number): void {
    this.maxRecords = Math.max(1, n);
    this.enforceCap();
  }

  /** A new trace: request ids restart, so keys get a new prefix. Aggregates are kept. */
  beginTrace(pid?: number): void {
    this.flushPending();
    this.epoch++;
    this.status = { state: 'attaching', pid, requests: this.status.requests };
    this.lastError = undefined;
  }

  /** Forgets everything (rows and aggregates). */
  reset(): void {
    this.rows.clear();
    this.log = [];
    this.logStart = 0;
    this.recordsHeld = 0;
    this.pending.clear();
    this.pendingCount = 0;
    this.handlers.clear();
    this.callSites.clear();
    this.dropped = 0;
    this.status = { ...this.status, requests: 0 };
  }

  ingest(records: Iterable<TraceRecord>): void {
    for (const r of records) this.ingestOne(r);
    this.enforceCap();
  }

  private ingestOne(r: TraceRecord): void {
    switch (r.type) {
      case 'ready':
        this.status = { ...this.status, state: 'tracing', pid: r.pid, exe: r.exe, message: undefined };
        break;
      case 'outbound':
        this.addOutbound(r);
        break;
      case 'request':
        this.addRequest(r);
        break;
      case 'stats':
        this.status = { ...this.status, lost: r.lost ?? 0 };
        break;
      case 'error':
        this.lastError = { code: r.code, message: r.message };
        this.status = { ...this.status, message: `${r.code}: ${r.message}` };
        break;
      case 'end':
        this.flushPending();
        this.status = { ...this.status, state: 'stopped', message: this.status.message ?? `trace ended (${r.reason})` };
        break;
    }
  }

  private key(id: string): string {
    return `${this.epoch}:${id}`;
  }

  private addOutbound(o: OutboundRecord): void {
    const use: RecentUse = {
      proto: o.proto,
      src: o.src,
      sport: o.sport,
      dst: o.dst,
      dport: o.dport,
      reused: o.reused,
      requestKey: o.request === null ? null : this.key(o.request),
    };
    const name = opName(o, { max: 120 });
    if (name !== tuple(o)) use.op = name;
    this.countCallPath(o, use);

    if (o.request === null) {
      const key = `${this.epoch}:bg${++this.bgCounter}`;
      this.putRow({ key, seq: 0, kind: 'background', outbound: [o] }, 1);
      return;
    }
    const key = this.key(o.request);
    const row = this.rows.get(key);
    if (row?.request) {
      // Late outbound (a goroutine the handler left running): extend the row.
      row.outbound.push(o);
      use.traceId = row.request.traceId;
      use.path = row.request.path;
      use.method = row.request.method;
      this.countHandlerEndpoint(row.request, o);
      this.putRow(row, 1);
      return;
    }
    let p = this.pending.get(key);
    if (!p) this.pending.set(key, (p = { outbound: [], recent: [] }));
    p.outbound.push(o);
    p.recent.push(use);
    this.pendingCount++;
  }

  private addRequest(r: RequestRecord): void {
    if (!r.handler && r.route && this.handlerOf) {
      const handler = this.handlerOf(r.method, r.route);
      if (handler) r = { ...r, handler };
    }
    const key = this.key(r.id);
    const p = this.pending.get(key);
    const outbound = p?.outbound ?? [];
    if (p) {
      this.pending.delete(key);
      this.pendingCount -= p.outbound.length;
      for (const u of p.recent) {
        u.traceId = r.traceId;
        u.path = r.path;
        u.method = r.method;
      }
    }
    this.status = { ...this.status, requests: this.status.requests + 1 };
    if (r.handler) {
      const h = this.handlerAgg(r.handler);
      h.requests++;
      if (r.route) h.routes.add(routeLabel(r.method, r.route));
      const ms = (r.endNs - r.startNs) / 1e6;
      if (Number.isFinite(ms) && ms >= 0) {
        if (h.durationsMs.length < DURATIONS_KEPT) h.durationsMs.push(ms);
        else h.durationsMs[h.durationsNext] = ms;
        h.durationsNext = (h.durationsNext + 1) % DURATIONS_KEPT;
      }
      for (const o of outbound) this.countHandlerEndpoint(r, o);
    }
    this.putRow({ key, seq: 0, kind: 'request', request: r, outbound }, 1 + outbound.length);
  }

  /** Pending outbound records whose request never ended become rows of their own. */
  private flushPending(): void {
    for (const [key, p] of this.pending) {
      this.putRow({ key, seq: 0, kind: 'unfinished', outbound: p.outbound }, p.outbound.length);
    }
    this.pending.clear();
    this.pendingCount = 0;
  }

  private handlerAgg(h: SourceLocation): HandlerAgg {
    const k = `${h.file}:${h.line}`;
    let a = this.handlers.get(k);
    if (!a) {
      a = {
        func: h.func,
        file: h.file,
        line: h.line,
        routes: new Set(),
        requests: 0,
        durationsMs: [],
        durationsNext: 0,
        endpoints: new Map(),
        remotes: new Map(),
      };
      this.handlers.set(k, a);
    }
    return a;
  }

  private countHandlerEndpoint(r: RequestRecord, o: OutboundRecord): void {
    if (!r.handler) return;
    const h = this.handlerAgg(r.handler);
    bump(h.endpoints, o);
    countRemote(h.remotes, o);
  }

  /**
   * Counts a record at every distinct line of its call path (its call site
   * alone when it has no path): once per line, however often recursion
   * repeats it.
   */
  private countCallPath(o: OutboundRecord, use: RecentUse): void {
    const frames = o.callPath?.length ? o.callPath.slice(0, CALL_PATH_KEPT) : o.callSite ? [o.callSite] : [];
    const seen = new Set<string>();
    for (let i = 0; i < frames.length; i++) {
      const f = frames[i];
      const k = `${f.file}:${f.line}`;
      if (seen.has(k)) continue;
      seen.add(k);
      let a = this.callSites.get(k);
      if (!a) {
        a = {
          func: f.func,
          file: f.file,
          line: f.line,
          count: 0,
          direct: 0,
          remotes: new Map(),
          callees: new Map(),
          recent: [],
        };
        this.callSites.set(k, a);
      }
      a.count++;
      if (i === 0) a.direct++;
      else countCallee(a.callees, frames[i - 1]);
      countRemote(a.remotes, o);
      a.recent.push(use);
      if (a.recent.length > RECENT_KEPT) a.recent.shift();
    }
  }

  /** Adds or re-adds a row (with `added` more records held) and gives it the next seq. */
  private putRow(row: Row, added: number): void {
    row.seq = ++this.seq;
    this.rows.set(row.key, row);
    this.log.push({ seq: row.seq, row });
    this.recordsHeld += added;
  }

  /** Drops the oldest rows until the records held fit in maxRecords. */
  private enforceCap(): void {
    while (this.recordsHeld + this.pendingCount > this.maxRecords && this.logStart < this.log.length) {
      const e = this.log[this.logStart];
      // Entries before logStart are never read again: let the dropped row go now, not at the next compaction.
      this.log[this.logStart++] = DROPPED;
      if (e.row.seq !== e.seq || this.rows.get(e.row.key) !== e.row) continue; // stale entry
      this.rows.delete(e.row.key);
      const n = (e.row.request ? 1 : 0) + e.row.outbound.length;
      this.recordsHeld -= n;
      this.dropped += n;
    }
    // Pending records alone over the cap (requests that never end): drop the oldest.
    while (this.pendingCount > this.maxRecords) {
      const first = this.pending.keys().next();
      if (first.done) break;
      const p = this.pending.get(first.value)!;
      this.pending.delete(first.value);
      this.pendingCount -= p.outbound.length;
      this.dropped += p.outbound.length;
    }
    this.compactLog();
  }

  private compactLog(): void {
    if (this.logStart > 1024 && this.logStart * 2 > this.log.length) {
      this.log = this.log.slice(this.logStart).filter((e) => e.row.seq === e.seq && this.rows.get(e.row.key) === e.row);
      this.logStart = 0;
    }
  }

  /** Rows changed after `afterSeq`, oldest first, at most `limit` (the newest ones). */
  rowsAfter(afterSeq = 0, limit = Infinity): Row[] {
    let lo = this.logStart;
    let hi = this.log.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.log[mid].seq <= afterSeq) lo = mid + 1;
      else hi = mid;
    }
    const out: Row[] = [];
    for (let i = this.log.length - 1; i >= lo && out.length < limit; i--) {
      const e = this.log[i];
      if (e.row.seq === e.seq && this.rows.get(e.row.key) === e.row) out.push(e.row);
    }
    return out.reverse();
  }

  rowsByKeys(keys: string[]): Row[] {
    return keys.map((k) => this.rows.get(k)).filter((r): r is Row => r !== undefined);
  }

  get rowCount(): number {
    return this.rows.size;
  }
}

function bump(m: Map<string, EndpointCount>, o: OutboundRecord): void {
  const ep = endpoint(o.dst, o.dport);
  let c = m.get(ep);
  if (!c) m.set(ep, (c = { endpoint: ep, count: 0, fresh: 0, reused: 0 }));
  c.count++;
  if (o.reused) c.reused++;
  else c.fresh++;
}

/** Counts a record at its remote and, there, its operation; past the limits under OTHER. */
function countRemote(m: Map<string, RemoteCount>, o: OutboundRecord): void {
  let name = remoteName(o);
  if (!m.has(name) && m.size >= REMOTES_KEPT) name = OTHER;
  let c = m.get(name);
  if (!c)
    m.set(
      name,
      (c = {
        remote: name,
        count: 0,
        fresh: 0,
        reused: 0,
        failed: 0,
        failures: new Map(),
        durationsMs: [],
        durationsNext: 0,
        ops: new Map(),
      }),
    );
  c.count++;
  if (o.reused) c.reused++;
  else c.fresh++;
  if (callFailed(o)) {
    c.failed++;
    let outcome = failure(o);
    if (!c.failures.has(outcome) && c.failures.size >= FAILURES_KEPT) outcome = OTHER;
    c.failures.set(outcome, (c.failures.get(outcome) ?? 0) + 1);
  }
  const ns = o.op?.durationNs;
  if (typeof ns === 'number' && Number.isFinite(ns) && ns > 0) {
    if (c.durationsMs.length < CALL_DURATIONS_KEPT) c.durationsMs.push(ns / 1e6);
    else c.durationsMs[c.durationsNext] = ns / 1e6;
    c.durationsNext = (c.durationsNext + 1) % CALL_DURATIONS_KEPT;
  }
  const protocol = opProtocol(o);
  const kind = opKind(o);
  const unnamed = !kind && !protocol;
  let key = unnamed ? (o.via === 'connect' ? 'connect' : '') : `${protocol}\t${kind}`;
  if (!c.ops.has(key) && c.ops.size >= OPS_KEPT) key = OTHER;
  let op = c.ops.get(key);
  if (!op) {
    op =
      key === OTHER
        ? { protocol: '', kind: OTHER, unnamed: false, count: 0 }
        : { protocol, kind: unnamed ? key : kind, unnamed, count: 0 };
    c.ops.set(key, op);
  }
  op.count++;
}

/** Counts a call at the callee it went through; past CALLEES_KEPT under OTHER. */
function countCallee(m: Map<string, CalleeCount>, f: SourceLocation): void {
  let k = `${f.file}:${f.line}`;
  if (!m.has(k) && m.size >= CALLEES_KEPT) k = OTHER;
  let c = m.get(k);
  if (!c) m.set(k, (c = k === OTHER ? { func: OTHER, file: '', line: 0, count: 0 } : { ...pick(f), count: 0 }));
  c.count++;
}

function pick(f: SourceLocation): SourceLocation {
  return { func: f.func, file: f.file, line: f.line };
}

/**
 * A request's route as shown beside its method: a ServeMux pattern that
 * names a method ("GET /users/{id}") as it is, any other route after the
 * request's method ("GET /users/:id", "GET /items/").
 */
export function routeLabel(method: string, route: string): string {
  return /\s/.test(route) ? route : `${method} ${route}`;
}

/** The median of the kept durations, in ms; undefined when there are none. */
export function p50(values: readonly number[]): number | undefined {
  if (values.length === 0) return undefined;
  const s = [...values].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 ? s[mid] : (s[mid - 1] + s[mid]) / 2;
}

/** The 95th percentile (nearest rank) of the kept durations; undefined when there are none. */
export function p95(values: readonly number[]): number | undefined {
  if (values.length === 0) return undefined;
  const s = [...values].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.ceil(0.95 * s.length) - 1)];
}
