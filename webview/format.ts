// Text for the panel's cells; pure, shared by the table and its filter.
import { opName, remoteName, statusMatches, tuple } from '../src/shared/ops';
import { endpoint, type OutboundRecord } from '../src/shared/records';
import type { Row } from '../src/shared/rows';

export function clock(ns: number | undefined): string {
  if (!ns) return '';
  const d = new Date(Math.floor(ns / 1e6));
  const p = (n: number, w = 2) => String(n).padStart(w, '0');
  return `${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}.${p(d.getMilliseconds(), 3)}`;
}

export function duration(row: Row): string {
  const r = row.request;
  if (!r) return '';
  const ms = (r.endNs - r.startNs) / 1e6;
  if (!(ms >= 0)) return '';
  return ms < 10 ? `${ms.toFixed(1)} ms` : `${Math.round(ms)} ms`;
}

export function shortFile(file: string): string {
  const parts = file.split('/');
  return parts.slice(-2).join('/');
}

export { tuple };

export function rowTime(row: Row): number | undefined {
  return row.request?.startNs ?? row.outbound[0]?.tsNs;
}

export function rowLabel(row: Row): { method: string; path: string } {
  if (row.request) return { method: row.request.method, path: row.request.path };
  if (row.kind === 'background') return { method: '—', path: '(no request: background)' };
  return { method: '…', path: '(request did not finish)' };
}

export function rowRoute(row: Row): string {
  return row.request?.route || '';
}

/** Lower-cased text a free-text filter token is matched against. */
export function haystack(row: Row): string {
  const r = row.request;
  const parts = [rowLabel(row).method, rowLabel(row).path, rowRoute(row)];
  if (r) {
    parts.push(r.handler?.func ?? '', r.handler?.file ?? '', r.traceId ?? '', r.id);
    if (r.headers) parts.push(...Object.values(r.headers));
  }
  for (const o of row.outbound)
    parts.push(tuple(o), opName(o, { full: true }), o.callSite?.func ?? '', o.callSite?.file ?? '');
  return parts.join(' ').toLowerCase();
}

/** The remotes an outbound record answers to in `host:`: its `dst:dport`, and the host its URL or authority named. */
export function hostNames(o: OutboundRecord): string[] {
  const ep = endpoint(o.dst, o.dport);
  const named = remoteName(o);
  return (named === ep ? [ep] : [ep, named]).map((h) => h.toLowerCase());
}

const WORD = /[\p{L}\p{N}_]/u;

/**
 * Whether `tok` (lower case) is in `text` (lower case) at the start of a
 * word: `get` is in `redis get k`, not in `target`; a token that starts
 * with punctuation (`/v1/charges`) matches anywhere.
 */
export function startsWord(text: string, tok: string): boolean {
  if (!WORD.test(tok[0] ?? '')) return text.includes(tok);
  for (let i = text.indexOf(tok); i >= 0; i = text.indexOf(tok, i + 1))
    if (i === 0 || !WORD.test(text[i - 1])) return true;
  return false;
}

export interface Filter {
  text: string[];
  route: string[];
  host: string[];
  op: string[];
  status: string[];
}

/** "route:/users host:5432 op:select status:5xx foo" → tokens; every token must match. */
export function parseFilter(q: string): Filter {
  const f: Filter = { text: [], route: [], host: [], op: [], status: [] };
  for (const tok of q.toLowerCase().split(/\s+/).filter(Boolean)) {
    if (tok.startsWith('route:') && tok.length > 6) f.route.push(tok.slice(6));
    else if (tok.startsWith('host:') && tok.length > 5) f.host.push(tok.slice(5));
    else if (tok.startsWith('op:') && tok.length > 3) f.op.push(tok.slice(3));
    else if (tok.startsWith('status:') && tok.length > 7) f.status.push(tok.slice(7));
    else f.text.push(tok);
  }
  return f;
}

export function filterIsEmpty(f: Filter): boolean {
  return !f.text.length && !f.route.length && !f.host.length && !f.op.length && !f.status.length;
}

export function matches(row: Row, f: Filter, hay: () => string): boolean {
  if (f.route.length) {
    const route = (rowRoute(row) || rowLabel(row).path).toLowerCase();
    if (!f.route.every((t) => route.includes(t))) return false;
  }
  if (f.host.length) {
    const hosts = row.outbound.flatMap(hostNames);
    if (!f.host.every((t) => hosts.some((h) => h.includes(t)))) return false;
  }
  if (f.op.length) {
    const names = row.outbound.map((o) => opName(o, { full: true }).toLowerCase());
    if (!f.op.every((t) => names.some((n) => startsWord(n, t)))) return false;
  }
  if (f.status.length) {
    if (!f.status.every((t) => row.outbound.some((o) => statusMatches(o, t)))) return false;
  }
  if (f.text.length) {
    const h = hay();
    if (!f.text.every((t) => h.includes(t))) return false;
  }
  return true;
}
