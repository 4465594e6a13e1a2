// What the panel shows: one row per inbound request with the outbound
// records it caused, or one row per outbound record no request caused.
import type { OutboundRecord, RequestRecord } from './records';

export type RowKind = 'request' | 'background' | 'unfinished';

export interface Row {
  /** Unique for the life of the insight server (trace number + request id). */
  key: string;
  /** Increases whenever the row is created or changed; the panel asks for rows after a seq. */
  seq: number;
  kind: RowKind;
  /** Present for kind 'request'. */
  request?: RequestRecord;
  outbound: OutboundRecord[];
}

export interface TraceStatus {
  state: 'idle' | 'attaching' | 'tracing' | 'stopped';
  pid?: number;
  exe?: string;
  requests: number;
  message?: string;
  /** Events the kernel dropped because the ring buffer was full (the last stats record's `lost`). */
  lost?: number;
}

/** Why events are lost, for the status bar's and the panel's tooltip. */
export const LOST_HINT =
  'The kernel dropped events because the helper could not read them fast enough (a burst filled the ring buffer): some requests or connections are missing.';

/** "N events lost" for the status bar and the panel alike, or undefined when none were. */
export function lostText(s: TraceStatus): string | undefined {
  return s.lost ? `${s.lost} event${s.lost === 1 ? '' : 's'} lost` : undefined;
}
