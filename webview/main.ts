// The Outbound Lens panel: a toolbar of VS Code elements over a virtualized
// table (only the visible lines are in the DOM, so 100k requests scroll
// smoothly). State survives the panel being hidden: UI settings in
// setState, rows fetched again from the insight server on 'ready'.
import '@vscode-elements/elements/dist/vscode-button/index.js';
import '@vscode-elements/elements/dist/vscode-textfield/index.js';
import '@vscode-elements/elements/dist/vscode-single-select/index.js';
import '@vscode-elements/elements/dist/vscode-option/index.js';
import './panel.css';
import type { ToPanel } from '../src/shared/messages';
import { callFailed, opName, remoteName } from '../src/shared/ops';
import type { OutboundRecord } from '../src/shared/records';
import { LOST_HINT, lostText, type Row, type TraceStatus } from '../src/shared/rows';
import {
  clock,
  duration,
  filterIsEmpty,
  haystack,
  matches,
  parseFilter,
  rowLabel,
  rowRoute,
  rowTime,
  shortFile,
  tuple,
} from './format';
import { vscode, type PanelState } from './vscodeApi';

const ROW_H = 24;
const OVERSCAN = 10;
const MAX_ROWS = 100_000;

type Line =
  | { kind: 'group'; key: string; label: string; count: number; collapsed: boolean }
  | { kind: 'row'; row: Row; expanded: boolean }
  | { kind: 'out'; row: Row; index: number };

const state: PanelState = {
  filter: '',
  group: 'none',
  paused: false,
  expanded: [],
  collapsedGroups: [],
  scrollTop: 0,
  clearedSeq: 0,
  focus: -1,
  ...(vscode.getState() ?? {}),
};
const expanded = new Set(state.expanded);
const collapsedGroups = new Set(state.collapsedGroups);

let rows: Row[] = [];
const indexByKey = new Map<string, number>();
let held: Row[] = []; // arrived while paused
let lines: Line[] = [];
let status: TraceStatus = { state: 'idle', requests: 0 };
let dropped = 0;
let maxSeq = state.clearedSeq;
const hayCache = new WeakMap<Row, string>();
// Rows appended or replaced since `lines` was built. With no filter and no
// grouping they update `lines` in place instead of a rebuild over every row;
// undefined when only a rebuild will do (rows trimmed or cleared).
let changed: { appended: Row[]; replaced: Row[] } | undefined;
let linesPlain = false; // `lines` was built with no filter and no grouping

// ---- DOM ----
const app = document.getElementById('app')!;
app.innerHTML = `
<div class="toolbar" role="toolbar" aria-label="Outbound Lens">
  <vscode-textfield id="filter" placeholder="Filter: text, route:/users, host:5432, op:SELECT, status:5xx" aria-label="Filter requests"></vscode-textfield>
  <vscode-single-select id="group" aria-label="Group by">
    <vscode-option value="none">No grouping</vscode-option>
    <vscode-option value="route">Group by route</vscode-option>
    <vscode-option value="remote">Group by remote</vscode-option>
  </vscode-single-select>
  <vscode-button id="pause" secondary>Pause</vscode-button>
  <vscode-button id="clear" secondary>Clear</vscode-button>
  <vscode-button id="export" secondary>Export NDJSON</vscode-button>
  <vscode-button id="stop">Stop</vscode-button>
  <span id="status" class="status" role="status" aria-live="polite"></span>
</div>
<div class="header line" role="row">
  <span></span><span>Time</span><span>Method</span><span>Path</span><span>Route</span><span>Handler</span><span class="trace">Trace id</span><span>Duration</span><span>Out</span>
</div>
<div id="viewport" class="viewport" tabindex="0" role="grid" aria-label="Traced requests">
  <div id="spacer" class="spacer"></div>
  <div id="lines" class="lines"></div>
  <div id="empty" class="empty"></div>
</div>`;

const $ = <T extends HTMLElement>(id: string) => document.getElementById(id) as T;
const filterEl = $<HTMLElement & { value: string }>('filter');
const groupEl = $<HTMLElement & { value: string }>('group');
const pauseEl = $('pause');
const viewport = $('viewport');
const spacer = $('spacer');
const linesEl = $('lines');
const statusEl = $('status');
const emptyEl = $('empty');

filterEl.value = state.filter;
groupEl.value = state.group;
pauseEl.textContent = state.paused ? 'Resume' : 'Pause';

function save(): void {
  state.expanded = [...expanded].slice(-5000);
  state.collapsedGroups = [...collapsedGroups];
  state.scrollTop = viewport.scrollTop;
  vscode.setState(state);
}

// ---- data ----
function addRows(incoming: Row[]): void {
  for (const r of incoming) {
    if (r.seq <= state.clearedSeq) continue;
    maxSeq = Math.max(maxSeq, r.seq);
    const i = indexByKey.get(r.key);
    if (i !== undefined && rows[i]?.key === r.key) {
      rows[i] = r;
      changed?.replaced.push(r);
    } else {
      indexByKey.set(r.key, rows.length);
      rows.push(r);
      changed?.appended.push(r);
    }
  }
  if (rows.length > MAX_ROWS) {
    rows = rows.slice(rows.length - MAX_ROWS);
    indexByKey.clear();
    rows.forEach((r, i) => indexByKey.set(r.key, i));
    changed = undefined;
  }
  scheduleHaystacks();
}

function hay(r: Row): string {
  let h = hayCache.get(r);
  if (h === undefined) hayCache.set(r, (h = haystack(r)));
  return h;
}

// The filter's search text is built while the panel is idle, a few
// milliseconds at a time, so the first keystroke in the filter does not have
// to build it for every row at once.
let hayFrom = 0;
let hayScheduled = false;
function scheduleHaystacks(): void {
  if (hayScheduled) return;
  hayScheduled = true;
  const idle = (cb: (d: { timeRemaining(): number }) => void): void => {
    if (typeof requestIdleCallback === 'function') requestIdleCallback(cb);
    else setTimeout(() => cb({ timeRemaining: () => 8 }), 50);
  };
  idle(function work(deadline) {
    if (hayFrom > rows.length) hayFrom = 0; // rows were trimmed or cleared
    while (hayFrom < rows.length && deadline.timeRemaining() > 1) {
      const end = Math.min(rows.length, hayFrom + 500);
      for (; hayFrom < end; hayFrom++) hay(rows[hayFrom]);
    }
    if (hayFrom < rows.length) idle(work);
    else hayScheduled = false;
  });
}

function visibleRows(): Row[] {
  const f = parseFilter(state.filter);
  if (filterIsEmpty(f)) return rows;
  return rows.filter((r) => matches(r, f, () => hay(r)));
}

function rowLines(r: Row, out: Line[]): void {
  const isOpen = expanded.has(r.key);
  out.push({ kind: 'row', row: r, expanded: isOpen });
  if (isOpen) r.outbound.forEach((_, index) => out.push({ kind: 'out', row: r, index }));
}

function plain(): boolean {
  return state.group === 'none' && filterIsEmpty(parseFilter(state.filter));
}

/** The index in `lines` of the row line of rows[at], by bisection: plain lines are in row order. */
function lineOf(at: number): number {
  let lo = 0;
  let hi = lines.length - 1;
  while (lo <= hi) {
    const mid = (lo + hi) >> 1;
    const l = lines[mid];
    const idx = l.kind === 'group' ? -1 : (indexByKey.get(l.row.key) ?? -1);
    if (idx < at) lo = mid + 1;
    else if (idx > at) hi = mid - 1;
    else return l.kind === 'out' ? mid - 1 - l.index : mid;
  }
  return -1;
}

/** Brings `lines` up to date with the rows that changed; a rebuild when it cannot be done in place. */
function updateLines(): void {
  const c = changed;
  if (!c || !linesPlain || !plain()) return buildLines();
  for (const r of c.appended) rowLines(r, lines);
  for (const r of c.replaced) {
    const at = lineOf(indexByKey.get(r.key) ?? -1);
    const old = lines[at];
    if (old?.kind !== 'row') return buildLines();
    const now: Line[] = [];
    rowLines(r, now);
    lines.splice(at, 1 + (old.expanded ? old.row.outbound.length : 0), ...now);
  }
  changed = { appended: [], replaced: [] };
  linesChanged();
}

function buildLines(): void {
  changed = { appended: [], replaced: [] };
  linesPlain = plain();
  const vis = visibleRows();
  const out: Line[] = [];
  if (state.group === 'none') {
    for (const r of vis) rowLines(r, out);
  } else {
    const groups = new Map<string, Row[]>();
    const add = (k: string, r: Row) => {
      let g = groups.get(k);
      if (!g) groups.set(k, (g = []));
      g.push(r);
    };
    for (const r of vis) {
      if (state.group === 'route')
        add(r.request ? `${r.request.method} ${rowRoute(r) || r.request.path}` : rowLabel(r).path, r);
      else {
        const eps = new Set(r.outbound.map(remoteName));
        if (!eps.size) add('(no outbound)', r);
        for (const e of eps) add(e, r);
      }
    }
    for (const [key, g] of [...groups].sort((a, b) => b[1].length - a[1].length || a[0].localeCompare(b[0]))) {
      const collapsed = collapsedGroups.has(key);
      out.push({ kind: 'group', key, label: key, count: g.length, collapsed });
      if (!collapsed) for (const r of g) rowLines(r, out);
    }
  }
  lines = out;
  linesChanged();
}

function linesChanged(): void {
  spacer.style.height = `${lines.length * ROW_H}px`;
  emptyEl.textContent = lines.length
    ? ''
    : rows.length
      ? 'No request matches the filter.'
      : status.state === 'tracing'
        ? 'Tracing: waiting for requests…'
        : 'No requests yet. Run “Outbound Lens: Trace outbound connections”.';
  renderStatus();
}

// ---- rendering ----
function esc(s: string): string {
  return s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

function link(kind: 'handler' | 'callsite', file: string | undefined, line: number | undefined, text: string): string {
  if (!file || !line) return `<span>${esc(text)}</span>`;
  return `<a href="#" class="link ${kind}" data-file="${esc(file)}" data-line="${line}" title="${esc(`${file}:${line}`)}">${esc(text)}</a>`;
}

/** The operation cell: the op's name, whole in its tooltip; a dash where no operation was named (the tuple beside says it all). */
function opCell(o: OutboundRecord): string {
  const name = opName(o);
  if (name === tuple(o))
    return `<span class="op none" title="no operation named: a new connection, or bytes in no protocol recognized">—</span>`;
  const cls = callFailed(o) ? 'op failed' : 'op';
  return `<span class="${cls}" title="${esc(opName(o, { full: true }))}">${esc(name)}</span>`;
}

function lineHtml(l: Line, i: number): string {
  const focus = i === state.focus ? ' focused' : '';
  const top = `style="top:${i * ROW_H}px"`;
  switch (l.kind) {
    case 'group':
      return `<div class="line group${focus}" role="row" aria-rowindex="${i + 1}" aria-expanded="${!l.collapsed}" data-i="${i}" ${top}>
        <span class="twisty">${l.collapsed ? '▸' : '▾'}</span><span class="grouplabel">${esc(l.label)}</span><span class="count">${l.count} req</span></div>`;
    case 'row': {
      const r = l.row;
      const req = r.request;
      const lab = rowLabel(r);
      const h = req?.handler;
      const twisty = r.outbound.length ? (l.expanded ? '▾' : '▸') : '';
      return `<div class="line row ${r.kind}${focus}" role="row" aria-rowindex="${i + 1}" ${r.outbound.length ? `aria-expanded="${l.expanded}"` : ''} data-i="${i}" data-key="${esc(r.key)}" ${top}>
        <span class="twisty">${twisty}</span><span class="time">${clock(rowTime(r))}</span><span class="method">${esc(lab.method)}</span>
        <span class="path" title="${esc(lab.path)}">${esc(lab.path)}</span><span class="route">${esc(rowRoute(r))}</span>
        <span class="handler">${h ? link('handler', h.file, h.line, h.func) : ''}</span>
        <span class="trace" title="${esc(req?.traceId ?? '')}">${esc(req?.traceId ?? '')}</span>
        <span class="dur">${duration(r)}</span><span class="out">${r.outbound.length || ''}</span></div>`;
    }
    case 'out': {
      const o = l.row.outbound[l.index];
      const cs = o.callSite;
      return `<div class="line outbound${focus}" role="row" aria-rowindex="${i + 1}" data-i="${i}" ${top}>
        <span></span><span class="proto">${esc(o.proto)}</span>${opCell(o)}
        <span class="tuple" title="${esc(tuple(o))}">${esc(tuple(o))}</span>
        <span class="badge ${o.reused ? 'reused' : 'new'}">${o.reused ? 'reused' : 'new'}</span>
        <span class="via">${esc(o.via ?? '')}</span>
        <span class="callsite">${cs ? link('callsite', cs.file, cs.line, `${cs.func} · ${shortFile(cs.file)}:${cs.line}`) : ''}</span></div>`;
    }
  }
}

let frame = 0;
function render(): void {
  frame = 0;
  const h = viewport.clientHeight || 600;
  const first = Math.max(0, Math.floor(viewport.scrollTop / ROW_H) - OVERSCAN);
  const last = Math.min(lines.length, Math.ceil((viewport.scrollTop + h) / ROW_H) + OVERSCAN);
  let html = '';
  for (let i = first; i < last; i++) html += lineHtml(lines[i], i);
  linesEl.innerHTML = html;
}
function schedule(): void {
  if (!frame) frame = requestAnimationFrame(render);
}

function refresh(): void {
  const atBottom = viewport.scrollTop + viewport.clientHeight >= viewport.scrollHeight - ROW_H;
  updateLines();
  if (atBottom && !state.paused && lines.length * ROW_H > viewport.clientHeight)
    viewport.scrollTop = viewport.scrollHeight;
  render();
}

function renderStatus(): void {
  const parts: string[] = [];
  const s = status;
  if (s.state === 'attaching') parts.push('attaching…');
  else if (s.state === 'tracing') parts.push(`tracing pid ${s.pid ?? '?'}`);
  else if (s.state === 'stopped') parts.push('stopped');
  parts.push(`${rows.length} rows`);
  if (lines.length && state.filter) parts.push(`${lines.filter((l) => l.kind === 'row').length} shown`);
  if (dropped) parts.push(`${dropped} dropped`);
  const lost = lostText(s);
  if (lost) parts.push(lost);
  statusEl.title = lost ? LOST_HINT : '';
  if (held.length) parts.push(`${held.length} waiting (paused)`);
  if (s.message && s.state !== 'tracing') parts.push(s.message);
  statusEl.textContent = parts.join(' · ');
  // One button: Stop while a trace runs, otherwise start one.
  const running = s.state === 'tracing' || s.state === 'attaching';
  const stopEl = document.getElementById('stop') as HTMLElement;
  stopEl.textContent = running ? 'Stop' : 'Trace…';
  stopEl.title = running ? 'Stop tracing (probes are detached)' : 'Trace outbound connections';
}

// ---- interaction ----
function toggle(i: number, open?: boolean): void {
  const l = lines[i];
  if (!l) return;
  if (l.kind === 'group') {
    const now = open ?? l.collapsed;
    if (now) collapsedGroups.delete(l.key);
    else collapsedGroups.add(l.key);
  } else if (l.kind === 'row' && l.row.outbound.length) {
    const now = open ?? !l.expanded;
    if (now) expanded.add(l.row.key);
    else expanded.delete(l.row.key);
  } else return;
  buildLines();
  render();
  save();
}

function open(file: string, line: number): void {
  vscode.postMessage({ type: 'open', file, line });
}

function setFocus(i: number): void {
  state.focus = Math.max(0, Math.min(lines.length - 1, i));
  const top = state.focus * ROW_H;
  if (top < viewport.scrollTop) viewport.scrollTop = top;
  else if (top + ROW_H > viewport.scrollTop + viewport.clientHeight)
    viewport.scrollTop = top + ROW_H - viewport.clientHeight;
  render();
  save();
}

// Lines are re-rendered as rows stream in, so the element pressed may be
// gone by the time 'click' fires: remember what was pressed.
let pressed: { i: number; file?: string; line?: number } | undefined;
linesEl.addEventListener('pointerdown', (e) => {
  const t = e.target as HTMLElement;
  const lineEl = t.closest('.line') as HTMLElement | null;
  const a = t.closest('a.link') as HTMLElement | null;
  pressed = lineEl
    ? { i: Number(lineEl.dataset.i), file: a?.dataset.file, line: a ? Number(a.dataset.line) : undefined }
    : undefined;
});
linesEl.addEventListener('click', (e) => {
  e.preventDefault();
  const p = pressed;
  pressed = undefined;
  if (!p) return;
  if (p.file && p.line) {
    open(p.file, p.line);
    return;
  }
  state.focus = p.i;
  toggle(p.i);
});

viewport.addEventListener('keydown', (e) => {
  const page = Math.max(1, Math.floor(viewport.clientHeight / ROW_H) - 1);
  const l = lines[state.focus];
  switch (e.key) {
    case 'ArrowDown':
      setFocus(state.focus + 1);
      break;
    case 'ArrowUp':
      setFocus(state.focus - 1);
      break;
    case 'PageDown':
      setFocus(state.focus + page);
      break;
    case 'PageUp':
      setFocus(state.focus - page);
      break;
    case 'Home':
      setFocus(0);
      break;
    case 'End':
      setFocus(lines.length - 1);
      break;
    case 'ArrowRight':
      toggle(state.focus, true);
      break;
    case 'ArrowLeft':
      if (l?.kind === 'out') {
        const parent = lines.findIndex((x) => x.kind === 'row' && x.row === l.row);
        setFocus(parent);
      } else toggle(state.focus, false);
      break;
    case 'Enter':
    case ' ':
      if (l?.kind === 'out' && l.row.outbound[l.index].callSite) {
        const cs = l.row.outbound[l.index].callSite!;
        open(cs.file, cs.line);
      } else toggle(state.focus);
      break;
    case 'h': // the handler of the focused request
      if (l && l.kind !== 'group' && l.row.request?.handler)
        open(l.row.request.handler.file, l.row.request.handler.line);
      break;
    default:
      return;
  }
  e.preventDefault();
});
viewport.addEventListener('focus', () => {
  if (state.focus < 0 && lines.length && !pressed) setFocus(0);
});

viewport.addEventListener('scroll', () => {
  schedule();
  state.scrollTop = viewport.scrollTop;
  saveSoon();
});
let saveTimer = 0;
function saveSoon(): void {
  clearTimeout(saveTimer);
  saveTimer = window.setTimeout(save, 200);
}
window.addEventListener('resize', schedule);

let filterTimer = 0;
filterEl.addEventListener('input', () => {
  clearTimeout(filterTimer);
  filterTimer = window.setTimeout(() => {
    state.filter = filterEl.value ?? '';
    state.focus = -1;
    refresh();
    save();
  }, 80);
});
groupEl.addEventListener('change', () => {
  state.group = (groupEl.value as PanelState['group']) || 'none';
  state.focus = -1;
  refresh();
  save();
});
pauseEl.addEventListener('click', () => {
  state.paused = !state.paused;
  pauseEl.textContent = state.paused ? 'Resume' : 'Pause';
  if (!state.paused && held.length) {
    addRows(held);
    held = [];
  }
  refresh();
  save();
});
$('clear').addEventListener('click', () => {
  state.clearedSeq = maxSeq;
  rows = [];
  held = [];
  indexByKey.clear();
  expanded.clear();
  changed = undefined;
  state.focus = -1;
  refresh();
  save();
});
$('export').addEventListener('click', () => {
  vscode.postMessage({ type: 'export', keys: visibleRows().map((r) => r.key) });
});
$('stop').addEventListener('click', () => {
  const running = status.state === 'tracing' || status.state === 'attaching';
  vscode.postMessage({ type: running ? 'stop' : 'trace' });
});

window.addEventListener('message', (e: MessageEvent<ToPanel>) => {
  const m = e.data;
  switch (m?.type) {
    case 'snapshot':
      rows = [];
      indexByKey.clear();
      held = [];
      status = m.status;
      dropped = m.dropped;
      addRows(m.rows);
      buildLines();
      viewport.scrollTop = state.scrollTop;
      render();
      break;
    case 'rows':
      dropped = m.dropped;
      if (state.paused) held.push(...m.rows);
      else addRows(m.rows);
      refresh();
      break;
    case 'status':
      status = m.status;
      renderStatus();
      if (!lines.length) buildLines();
      break;
    case 'filter':
      state.filter = m.text;
      filterEl.value = m.text;
      state.focus = -1;
      refresh();
      save();
      break;
  }
});

buildLines();
render();
vscode.postMessage({ type: 'ready', afterSeq: state.clearedSeq });
