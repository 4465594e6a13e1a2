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
}
