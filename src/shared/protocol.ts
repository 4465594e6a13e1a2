// Outbound Lens' custom LSP messages, declared once and shared by the
// extension (client) and the insight server.
import { NotificationType, RequestType } from 'vscode-languageserver-protocol';
import type { TraceRecord } from './records';
import type { Row, TraceStatus } from './rows';

export interface InitializationOptions {
  /** Path of the helper binary, used unprivileged for `routes`. */
  helperPath?: string;
  maxRecords?: number;
}

export interface RecordsParams {
  records: TraceRecord[];
}
/** Extension → server: a batch of records from the helper, in arrival order. */
export const recordsNotification = new NotificationType<RecordsParams>('outboundLens/records');

export interface TraceStateParams {
  state: TraceStatus['state'];
  pid?: number;
  message?: string;
}
/** Extension → server: a trace starts (attaching), runs, or stopped. */
export const traceStateNotification = new NotificationType<TraceStateParams>('outboundLens/traceState');

export interface ConfigParams {
  maxRecords: number;
}
export const configNotification = new NotificationType<ConfigParams>('outboundLens/config');

export interface ChangedParams {
  seq: number;
  status: TraceStatus;
  dropped: number;
}
/** Server → extension: rows or aggregates changed (throttled). */
export const changedNotification = new NotificationType<ChangedParams>('outboundLens/changed');

export interface SnapshotResult {
  seq: number;
  rows: Row[];
  dropped: number;
  status: TraceStatus;
}
export const snapshotRequest = new RequestType<{ afterSeq?: number }, SnapshotResult, void>('outboundLens/snapshot');

export interface QueryParams {
  afterSeq: number;
  limit?: number;
  keys?: string[];
}
export const queryRequest = new RequestType<QueryParams, SnapshotResult, void>('outboundLens/query');

export interface CallSiteDecoration {
  line: number; // 1-based
  text: string;
  hover: string; // markdown
}
/** The inline decoration text for a file (same text as the inlay hints). */
export const decorationsRequest = new RequestType<{ uri: string }, CallSiteDecoration[], void>(
  'outboundLens/decorations',
);

/** A route registration from the helper's `routes --dir`: Gin's, or a ServeMux pattern's. */
export interface RouteInfo {
  method: string; // "ANY" for Gin's Any and a ServeMux pattern without a method
  path: string;
  /** A ServeMux pattern's host, if it has one. */
  host?: string;
  /** A ServeMux pattern as registered ("GET /users/{id}"): what requests carry as their route. */
  pattern?: string;
  handler: { func: string; file: string; line: number; column?: number };
  registration?: { file: string; line: number };
}
/** Extension → server: routes found outside the server (tests, other tools). */
export const routesNotification = new NotificationType<{ routes: RouteInfo[] }>('outboundLens/routes');
