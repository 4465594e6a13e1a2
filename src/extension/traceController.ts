// Runs at most one trace at a time and feeds its records to the insight
// server. Knows nothing of VS Code, so it runs in plain Node too (the
// end-to-end test drives it with a bare LSP connection).
import type { NotificationType } from 'vscode-languageserver-protocol';
import { recordsNotification, traceStateNotification } from '../shared/protocol';
import type { TraceRecord } from '../shared/records';
import type { TraceStatus } from '../shared/rows';
import { TraceSession, type TraceResult, type TraceSessionOptions } from './traceSession';

export interface InsightSink {
  sendNotification<P>(type: NotificationType<P>, params: P): unknown;
}

export type StartOptions = Omit<TraceSessionOptions, 'onRecords'>;

export class TraceController {
  private session?: TraceSession;
  private _status: TraceStatus = { state: 'idle', requests: 0 };
  private listeners = new Set<(s: TraceStatus) => void>();

  constructor(private readonly sink: InsightSink) {}

  get status(): TraceStatus {
    return this._status;
  }

  get active(): boolean {
    return !!this.session?.running;
  }

  onStatus(fn: (s: TraceStatus) => void): { dispose(): void } {
    this.listeners.add(fn);
    return { dispose: () => this.listeners.delete(fn) };
  }

  private setStatus(s: TraceStatus): void {
    this._status = s;
    for (const fn of this.listeners) fn(s);
  }

  /** Starts a trace; resolves when it ends. Throws if one is already running. */
  start(opts: StartOptions): { session: TraceSession; done: Promise<TraceResult> } {
    if (this.active) throw new Error('a trace is already running');
    const pid = 'pid' in opts.target ? opts.target.pid : undefined;
    this.setStatus({ state: 'attaching', pid, requests: 0 });
    void this.sink.sendNotification(traceStateNotification, { state: 'attaching', pid });
    const session = new TraceSession({ ...opts, onRecords: (records) => this.onRecords(records) });
    this.session = session;
    const done = session.done.then((r) => {
      const message = r.error
        ? `${r.error.code}: ${r.error.message}`
        : r.endReason
          ? `trace ended (${r.endReason})`
          : r.stderr.trim()
            ? `the helper stopped${r.exitCode ? ` (exit ${r.exitCode})` : ''}: ${lastLine(r.stderr)}`
            : undefined;
      this.setStatus({ ...this._status, state: 'stopped', message });
      void this.sink.sendNotification(traceStateNotification, { state: 'stopped', message });
      return r;
    });
    return { session, done };
  }

  private onRecords(records: TraceRecord[]): void {
    let requests = 0;
    let ready: TraceRecord | undefined;
    let lost = this._status.lost;
    for (const r of records) {
      if (r.type === 'request') requests++;
      else if (r.type === 'ready') ready = r;
      else if (r.type === 'stats') lost = r.lost;
    }
    void this.sink.sendNotification(recordsNotification, { records });
    if (ready && ready.type === 'ready') {
      this.setStatus({
        ...this._status,
        state: 'tracing',
        pid: ready.pid,
        exe: ready.exe,
        requests: this._status.requests + requests,
        lost,
      });
    } else if (requests || lost !== this._status.lost) {
      this.setStatus({ ...this._status, requests: this._status.requests + requests, lost });
    }
  }

  async stop(): Promise<TraceResult | undefined> {
    return this.session?.stop();
  }
}

function lastLine(s: string): string {
  const lines = s.trim().split('\n');
  return lines[lines.length - 1] ?? '';
}
