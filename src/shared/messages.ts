// Messages between the panel (webview) and the extension host, one
// discriminated union per direction, imported by both sides.
import type { Row, TraceStatus } from './rows';

export type ToPanel =
  | { type: 'snapshot'; rows: Row[]; dropped: number; status: TraceStatus }
  | { type: 'rows'; rows: Row[]; dropped: number }
  | { type: 'status'; status: TraceStatus }
  /** Show only these rows (a code lens asked for its handler's route). */
  | { type: 'filter'; text: string };

export type FromPanel =
  | { type: 'ready'; afterSeq: number }
  | { type: 'open'; file: string; line: number }
  | { type: 'export'; keys: string[] }
  | { type: 'stop' }
  | { type: 'trace' };

const FROM_PANEL = new Set(['ready', 'open', 'export', 'stop', 'trace']);

/** Validates a message from the webview: it is untrusted input. */
export function isFromPanel(m: unknown): m is FromPanel {
  if (typeof m !== 'object' || m === null) return false;
  const t = (m as { type?: unknown }).type;
  if (typeof t !== 'string' || !FROM_PANEL.has(t)) return false;
  const r = m as Record<string, unknown>;
  switch (t) {
    case 'open':
      return typeof r.file === 'string' && r.file.length > 0 && typeof r.line === 'number' && r.line >= 1;
    case 'export':
      return Array.isArray(r.keys) && r.keys.every((k) => typeof k === 'string');
    case 'ready':
      return typeof r.afterSeq === 'number';
  }
  return true;
}
