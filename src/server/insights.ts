// Turns the store's aggregates into what an editor shows: code lenses on
// handlers, the end-of-line text on call sites, and hovers. Pure functions
// of the store and the route index, so any LSP editor gets the same text.
import type { RouteInfo } from '../shared/protocol';
import type { SourceLocation } from '../shared/records';
import {
  p50,
  p95,
  routeLabel,
  type CallSiteAgg,
  type HandlerAgg,
  type OpCount,
  type RemoteCount,
  type Store,
} from './store';

export interface HandlerLens {
  line: number; // 1-based, the handler function's first line
  func: string;
  title: string;
  /** true when the lens should start a trace rather than show the panel. */
  startsTrace: boolean;
  route?: string;
}

export interface CallSiteHint {
  line: number; // 1-based
  text: string;
  hover: string;
}

/**
 * Finds a handler's aggregate: by file+line, then by function name, then by
 * method+route (the same function may be seen under a different path when
 * the service was built elsewhere).
 */
export function findHandler(store: Store, route: RouteInfo): HandlerAgg | undefined {
  const exact = store.handlers.get(`${route.handler.file}:${route.handler.line}`);
  if (exact) return exact;
  let byRoute: HandlerAgg | undefined;
  for (const h of store.handlers.values()) {
    if (h.func === route.handler.func && sameFileName(h.file, route.handler.file)) return h;
    if (!byRoute && [...h.routes].some((label) => labelNames(label, route))) byRoute = h;
  }
  return byRoute;
}

/** Whether a handler aggregate's route label (routeLabel) is this index route's. */
function labelNames(label: string, route: RouteInfo): boolean {
  if (!route.pattern) return label === `${route.method} ${route.path}`;
  // A pattern without a method is labelled with each request's method.
  return /\s/.test(route.pattern) ? label === route.pattern : label.slice(label.indexOf(' ') + 1) === route.pattern;
}

/** How an index route reads on its lens: its ServeMux pattern, or method and path. */
export function indexRouteLabel(r: RouteInfo): string {
  return r.pattern ? routeLabel(r.method, r.pattern) : `${r.method} ${r.path}`;
}

/** Whether a request's recorded method and route name this index route. */
export function routeMatches(r: RouteInfo, method: string, route: string): boolean {
  if (r.pattern) return r.pattern === route;
  return r.path === route && (r.method === method || r.method === 'ANY');
}

/**
 * The handler the route index gives a request's route (a ServeMux pattern or
 * a chi route, for which the probe reports no handler): only when one
 * handler matches.
 */
export function handlerFromIndex(routes: RouteInfo[], method: string, route: string): SourceLocation | undefined {
  let found: RouteInfo | undefined;
  for (const r of routes) {
    if (!routeMatches(r, method, route)) continue;
    if (found && (found.handler.file !== r.handler.file || found.handler.line !== r.handler.line)) return undefined;
    found = r;
  }
  return found && { func: found.handler.func ?? '', file: found.handler.file, line: found.handler.line };
}

function sameFileName(a: string, b: string): boolean {
  return a === b || a.endsWith('/' + baseName(b)) || b.endsWith('/' + baseName(a));
}

export function baseName(p: string): string {
  const i = p.lastIndexOf('/');
  return i < 0 ? p : p.slice(i + 1);
}

/** Same file, allowing for a build elsewhere: exact path, or same trailing path segments. */
export function sameFile(recorded: string, local: string): boolean {
  if (recorded === local) return true;
  const a = recorded.split('/');
  const b = local.split('/');
  // At least the file name and its directory must agree.
  let n = 0;
  while (n < a.length && n < b.length && a[a.length - 1 - n] === b[b.length - 1 - n]) n++;
  return n >= 2;
}

export function formatMs(ms: number): string {
  if (ms < 1) return `${ms.toFixed(2)} ms`;
  if (ms < 10) return `${ms.toFixed(1)} ms`;
  return `${Math.round(ms)} ms`;
}

function sortedRemotes(m: Map<string, RemoteCount>): RemoteCount[] {
  return [...m.values()].sort((a, b) => b.count - a.count || a.remote.localeCompare(b.remote));
}

function sortedOps(r: RemoteCount): OpCount[] {
  return [...r.ops.values()].sort(
    (a, b) => b.count - a.count || a.protocol.localeCompare(b.protocol) || a.kind.localeCompare(b.kind),
  );
}

/** An operation as a lens or hover names it: `GET /echo`, `postgresql SELECT`, `tls`; the protocol left out when `sameProtocol`. */
function opLabel(op: OpCount, sameProtocol = false): string {
  if (op.unnamed) return op.kind === 'connect' ? 'new connection' : 'no operation named';
  return (sameProtocol ? [op.kind] : [op.protocol, op.kind]).filter(Boolean).join(' ');
}

/**
 * A remote on a handler's lens: its name, then what was done there, most
 * frequent first (`127.0.0.1:18081 GET /echo ×12`, `10.0.0.7:5432
 * postgresql SELECT ×3 + INSERT ×1`); just its name when no operation was
 * named (connects, unrecognized bytes).
 */
export function remoteText(r: RemoteCount): string {
  const named = sortedOps(r).filter((op) => !op.unnamed);
  if (!named.length) return r.remote;
  const shown = named
    .slice(0, 2)
    .map((op, i) => `${opLabel(op, i > 0 && op.protocol === named[i - 1].protocol)} ×${op.count}`);
  if (named.length > 2) shown.push(`+${named.length - 2}`);
  return `${r.remote} ${shown.join(' + ')}`;
}

export function handlerTitle(h: HandlerAgg | undefined, tracing: boolean): { title: string; startsTrace: boolean } {
  if (!h || h.requests === 0) {
    return tracing
      ? { title: '↗ tracing · no requests yet', startsTrace: false }
      : { title: 'Trace outbound connections', startsTrace: true };
  }
  const remotes = sortedRemotes(h.remotes);
  const shown = remotes.slice(0, 3).map(remoteText);
  if (remotes.length > 3) shown.push(`+${remotes.length - 3}`);
  const parts = [
    remotes.length === 0 ? '↗ no downstream' : `↗ ${remotes.length} downstream · ${shown.join(', ')}`,
    `${h.requests} req`,
  ];
  const med = p50(h.durationsMs);
  if (med !== undefined) parts.push(`p50 ${formatMs(med)}`);
  return { title: parts.join(' · '), startsTrace: false };
}

/** Lenses for one file: every route handler in it, plus handlers only seen in records. */
export function handlerLenses(store: Store, routes: RouteInfo[], file: string): HandlerLens[] {
  const tracing = store.status.state === 'tracing' || store.status.state === 'attaching';
  const out: HandlerLens[] = [];
  const seenLines = new Set<number>();
  const usedAggs = new Set<HandlerAgg>();
  for (const r of routes) {
    if (!sameFile(r.handler.file, file) || seenLines.has(r.handler.line)) continue;
    seenLines.add(r.handler.line);
    const h = findHandler(store, r);
    if (h) usedAggs.add(h);
    out.push({
      line: r.handler.line,
      func: r.handler.func,
      route: indexRouteLabel(r),
      ...handlerTitle(h, tracing),
    });
  }
  for (const h of store.handlers.values()) {
    if (usedAggs.has(h) || seenLines.has(h.line) || !sameFile(h.file, file)) continue;
    seenLines.add(h.line);
    out.push({ line: h.line, func: h.func, route: [...h.routes][0], ...handlerTitle(h, tracing) });
  }
  return out.sort((a, b) => a.line - b.line);
}

/**
 * What a remote's failed calls were, most frequent first: `2×502 + 1×failed`
 * (as ops.failure names it: a status, a gRPC code, a connect's reason,
 * or `failed` for no response); '' when none failed.
 */
export function failuresText(r: RemoteCount): string {
  const all = [...r.failures.entries()].sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0]));
  const shown = all.slice(0, 3).map(([outcome, n]) => `${n}×${outcome}`);
  if (all.length > 3) shown.push(`+${all.length - 3}`);
  return shown.join(' + ');
}

/**
 * A remote at the end of a call-site line: its name, what was asked there
 * (the most frequent operation, `+N` for the other kinds), how many calls
 * (new, reused), their p50 where records carry a duration, their failures:
 * `→ api.stripe.com POST /v1/charges ×12 (2 new, 10 reused) · p50 80 ms · 2×502`.
 */
export function lineRemoteText(r: RemoteCount): string {
  const named = sortedOps(r).filter((op) => !op.unnamed);
  const op = named.length ? ` ${opLabel(named[0])}${named.length > 1 ? ` +${named.length - 1}` : ''}` : '';
  const parts = [`→ ${r.remote}${op} ×${r.count} (${r.fresh} new, ${r.reused} reused)`];
  const med = p50(r.durationsMs);
  if (med !== undefined) parts.push(`p50 ${formatMs(med)}`);
  const failed = failuresText(r);
  if (failed) parts.push(failed);
  return parts.join(' · ');
}

/** The end-of-line text of a line on the calls' paths: each remote, most calls first. */
export function callSiteText(c: CallSiteAgg): string {
  return sortedRemotes(c.remotes).map(lineRemoteText).join('  ');
}

/** Markdown inline code that survives backticks in the text (a statement may hold some). */
export function code(text: string): string {
  const runs = text.match(/`+/g) ?? [];
  const fence = '`'.repeat(Math.max(0, ...runs.map((r) => r.length)) + 1);
  const pad = runs.length ? ' ' : '';
  return `${fence}${pad}${text}${pad}${fence}`;
}

/** A remote in a hover, then its operations: count (new, reused), p50 and p95 where known, failed calls. */
function remoteHoverLines(r: RemoteCount): string[] {
  const m50 = p50(r.durationsMs);
  const m95 = p95(r.durationsMs);
  const timing = m50 !== undefined && m95 !== undefined ? ` · p50 ${formatMs(m50)} · p95 ${formatMs(m95)}` : '';
  const failed = r.failed ? ` · **${r.failed} failed** (${failuresText(r)})` : '';
  const lines = [`- → ${code(r.remote)} ×${r.count} (${r.fresh} new, ${r.reused} reused)${timing}${failed}`];
  const ops = sortedOps(r);
  if (ops.length > 1 || (ops.length === 1 && !ops[0].unnamed))
    for (const op of ops) lines.push(`  - ${op.unnamed ? opLabel(op) : code(opLabel(op))} ×${op.count}`);
  return lines;
}

export function callSiteHover(c: CallSiteAgg): string {
  const lines = [`**Outbound Lens** · \`${c.func}\` · ${c.count} use${c.count === 1 ? '' : 's'}`, ''];
  // A line further out on the calls' paths: which callees the calls went through.
  if (c.callees.size) {
    if (c.direct) lines.push(`- made on this line ×${c.direct}`);
    const callees = [...c.callees.values()].sort((a, b) => b.count - a.count || a.line - b.line);
    for (const f of callees) {
      const where = f.file ? ` (${baseName(f.file)}:${f.line})` : '';
      lines.push(`- through ${code(f.func)}${where} ×${f.count}`);
    }
    lines.push('');
  }
  for (const r of sortedRemotes(c.remotes)) lines.push(...remoteHoverLines(r));
  lines.push('', 'Recent:', '');
  for (const u of [...c.recent].reverse()) {
    const req =
      u.requestKey === null ? 'no request (background)' : u.path ? `${u.method} ${u.path}` : 'request in flight';
    const trace = u.traceId ? ` · trace \`${u.traceId}\`` : '';
    const op = u.op ? ` · ${code(u.op)}` : '';
    lines.push(
      `- \`${u.proto} ${u.src}:${u.sport} → ${u.dst}:${u.dport}\` ${u.reused ? 'reused' : 'new'}${op} · ${req}${trace}`,
    );
  }
  return lines.join('\n');
}

export function callSiteHints(store: Store, file: string): CallSiteHint[] {
  const out: CallSiteHint[] = [];
  for (const c of store.callSites.values()) {
    if (!sameFile(c.file, file)) continue;
    out.push({ line: c.line, text: callSiteText(c), hover: callSiteHover(c) });
  }
  return out.sort((a, b) => a.line - b.line);
}

export function handlerHover(h: HandlerAgg): string {
  const med = p50(h.durationsMs);
  const lines = [
    `**Outbound Lens** · \`${h.func}\` · ${h.requests} request${h.requests === 1 ? '' : 's'}${med !== undefined ? ` · p50 ${formatMs(med)}` : ''}`,
    '',
  ];
  if (h.routes.size) lines.push(`Routes: ${[...h.routes].map((r) => `\`${r}\``).join(', ')}`, '');
  // Durations where calls carry one (net/http's HTTP/1 and HTTP/2 calls, gRPC-go's); failures as callFailed says.
  for (const r of sortedRemotes(h.remotes)) lines.push(...remoteHoverLines(r));
  return lines.join('\n');
}
