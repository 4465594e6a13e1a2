// One trace: runs the helper with the chosen privilege method, parses its
// NDJSON stream and hands records to a sink in batches. No 'vscode' import:
// this runs in plain Node (tests, scripts) as well as in the extension host.
import execa from 'execa';
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import type { Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import type { Readable } from 'node:stream';
import type { TraceRecord } from '../shared/records';
import { NdjsonParser } from './ndjson';
import { privilegedCommand, type PrivilegeMethod } from './privileges';
import { openSocketChannel, type SocketChannel } from './socketChannel';

/** A running process, or a binary (with its arguments) the helper starts, in cwd with env added. */
export type TraceTarget = { pid: number } | { launch: string[]; cwd?: string; env?: Record<string, string> };

export interface TraceSessionOptions {
  helperPath: string;
  target: TraceTarget;
  method: PrivilegeMethod;
  headers?: string[];
  /** false: the helper names a statement's verb and a Redis command only, never the statement's text or the key (`--no-statements`). Default true. */
  captureStatements?: boolean;
  /** Called with records in arrival order, in batches. */
  onRecords: (records: TraceRecord[]) => void;
  /**
   * terminal method: run the command where the user sees it (sudo asks for
   * the password there); resolves with its exit code when it ends.
   */
  openTerminal?: (command: string, args: string[]) => Promise<number | undefined>;
  /** terminal method: stop what openTerminal started (e.g. send Ctrl-C, close it). */
  stopTerminal?: () => void;
  batchMs?: number;
  /** How long to wait after SIGINT before SIGTERM, and again before SIGKILL. */
  killGraceMs?: number;
}

export interface TraceResult {
  /** The helper's exit code (undefined in terminal mode, where it is not our child). */
  exitCode?: number;
  endReason?: string;
  error?: { code: string; message: string };
  stderr: string;
  malformed: number;
}

/** What the helper reads besides the request line and the outbound tuples. */
export interface CaptureOptions {
  /** request headers, besides traceparent */
  headers?: string[];
  /** a statement's text and a Redis key (default true); false passes `--no-statements` */
  statements?: boolean;
}

/** A launch target's environment goes in a file (envFile), not in arguments every user can read in `ps`. */
export function helperTraceArgs(
  target: TraceTarget,
  capture: CaptureOptions = {},
  channel?: { path: string; token: string },
  envFile?: string,
): string[] {
  const args = ['trace', '--format', 'ndjson'];
  for (const h of capture.headers ?? []) args.push('--header', h);
  if (capture.statements === false) args.push('--no-statements');
  if (channel) args.push('--connect', channel.path, '--token', channel.token);
  if ('pid' in target) args.push('--pid', String(target.pid));
  else {
    if (target.cwd) args.push('--cwd', target.cwd);
    if (envFile) args.push('--env-file', envFile);
    args.push('--', ...target.launch);
  }
  return args;
}

/** Why an environment cannot be passed to a launched service, or undefined when it can. */
export function invalidEnv(env: Record<string, string> | undefined): string | undefined {
  for (const [k, v] of Object.entries(env ?? {}))
    if (!/^[^=\s]+$/.test(k) || /[\r\n]/.test(v))
      return `${JSON.stringify(k)}: a variable needs a name without "=" or spaces, and a one-line value`;
  return undefined;
}

/**
 * The launch environment as NAME=VALUE lines in a file only this user (and
 * root, which the helper runs as) can read; undefined when there is none.
 * A value with a line break cannot be written and is refused.
 */
export function writeEnvFile(env: Record<string, string> | undefined): string | undefined {
  const vars = Object.entries(env ?? {});
  if (!vars.length) return undefined;
  const bad = invalidEnv(env);
  if (bad) throw new Error(bad);
  const dir = mkdtempSync(join(tmpdir(), 'outbound-lens-env-'));
  chmodSync(dir, 0o700);
  const file = join(dir, 'env');
  writeFileSync(file, vars.map(([k, v]) => `${k}=${v}\n`).join(''), { mode: 0o600 });
  return file;
}

export class TraceSession {
  readonly parser = new NdjsonParser();
  readonly done: Promise<TraceResult>;
  private child?: execa.ExecaChildProcess;
  private channel?: SocketChannel;
  private socket?: Socket;
  private batch: TraceRecord[] = [];
  private batchTimer?: NodeJS.Timeout;
  private stderrTail = '';
  private endReason?: string;
  private error?: { code: string; message: string };
  private stopping = false;
  private finished = false;
  private envFile?: string;

  constructor(private readonly opts: TraceSessionOptions) {
    this.done = this.run();
    this.done.catch(() => undefined);
  }

  get running(): boolean {
    return !this.finished;
  }

  private async run(): Promise<TraceResult> {
    const { helperPath, target, method } = this.opts;
    try {
      this.envFile = 'launch' in target ? writeEnvFile(target.env) : undefined;
      if (method === 'terminal') return await this.runInTerminal();
      const [cmd, args] = privilegedCommand(
        method,
        helperPath,
        helperTraceArgs(target, this.capture(), undefined, this.envFile),
      );
      const child = execa(cmd, args, {
        stdin: 'pipe',
        stdout: 'pipe',
        stderr: 'pipe',
        buffer: false,
        reject: false,
        cleanup: true,
      });
      this.child = child;
      this.read(child.stdout!);
      child.stderr!.setEncoding('utf8');
      child.stderr!.on('data', (d: string) => this.keepStderr(d));
      // A closed stdin is the helper's signal to stop; a write error must not crash us.
      child.stdin!.on('error', () => undefined);
      const r = await child;
      // With reject: false a failed spawn (no such file, no permission) resolves with the error.
      const failure = (r as Partial<execa.ExecaError>).originalMessage;
      if (r.failed && failure && r.exitCode === undefined) this.keepStderr(failure);
      return this.finish(typeof r.exitCode === 'number' ? r.exitCode : r.failed ? 127 : undefined);
    } catch (e) {
      this.keepStderr(String((e as Error).message));
      return this.finish(undefined);
    }
  }

  private capture(): CaptureOptions {
    return { headers: this.opts.headers, statements: this.opts.captureStatements };
  }

  private async runInTerminal(): Promise<TraceResult> {
    const channel = (this.channel = openSocketChannel());
    const [cmd, args] = privilegedCommand(
      'terminal',
      this.opts.helperPath,
      helperTraceArgs(this.opts.target, this.capture(), channel, this.envFile),
    );
    if (!this.opts.openTerminal) throw new Error('the terminal privilege method needs a terminal');
    void this.opts.openTerminal(cmd, args).then((code) => {
      if (this.socket || this.finished) return;
      // sudo ended before the helper connected: a mistyped password, an
      // account that may not use sudo, or Ctrl-C in the terminal.
      if (!this.stopping)
        this.error = {
          code: 'SUDO_FAILED',
          message: `sudo in the terminal ended${code === undefined ? '' : ` with exit code ${code}`} before the helper started`,
        };
      channel.close();
    });
    const { socket, rest } = await channel.accepted;
    this.socket = socket;
    if (this.stopping) socket.destroy();
    if (rest.length) this.take(this.parser.push(rest));
    await new Promise<void>((resolve) => {
      this.read(socket);
      socket.once('close', () => resolve());
      socket.resume();
    });
    return this.finish(undefined);
  }

  private read(stream: Readable): void {
    stream.on('data', (d: Buffer) => this.take(this.parser.push(d)));
    stream.on('end', () => this.take(this.parser.end()));
    stream.on('error', (e: Error) => this.keepStderr(e.message));
  }

  private take(records: TraceRecord[]): void {
    for (const r of records) {
      if (r.type === 'end') this.endReason = r.reason;
      if (r.type === 'error') this.error = { code: r.code, message: r.message };
      this.batch.push(r);
    }
    const immediate = records.some((r) => r.type !== 'request' && r.type !== 'outbound') || this.batch.length >= 1000;
    if (immediate) this.flush();
    else if (this.batch.length && !this.batchTimer)
      this.batchTimer = setTimeout(() => this.flush(), this.opts.batchMs ?? 50);
  }

  private flush(): void {
    clearTimeout(this.batchTimer);
    this.batchTimer = undefined;
    if (!this.batch.length) return;
    const b = this.batch;
    this.batch = [];
    this.opts.onRecords(b);
  }

  private keepStderr(d: string): void {
    this.stderrTail = (this.stderrTail + d).slice(-8192);
  }

  private finish(exitCode: number | undefined): TraceResult {
    this.flush();
    this.finished = true;
    this.channel?.close();
    if (this.envFile) rmSync(dirname(this.envFile), { recursive: true, force: true });
    return {
      exitCode,
      endReason: this.endReason,
      error: this.error,
      stderr: this.stderrTail,
      malformed: this.parser.malformed,
    };
  }

  /**
   * Stops the trace: closes the helper's stdin (it stops and detaches), then
   * SIGINT, SIGTERM and SIGKILL, each after a grace period, until it exits.
   */
  async stop(): Promise<TraceResult> {
    if (this.finished) return this.done;
    this.stopping = true;
    const grace = this.opts.killGraceMs ?? 3000;
    if (this.opts.method === 'terminal') {
      this.channel?.close();
      this.opts.stopTerminal?.();
      const timer = setTimeout(() => this.socket?.destroy(), grace);
      const r = await this.done;
      clearTimeout(timer);
      return r;
    }
    const child = this.child;
    if (child) {
      child.stdin?.end();
      const signals: NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGKILL'];
      const timers: NodeJS.Timeout[] = [];
      signals.forEach((sig, i) => {
        timers.push(
          setTimeout(
            () => {
              if (!this.finished) {
                try {
                  child.kill(sig);
                } catch {
                  /* EPERM under sudo/pkexec: the closed stdin stops it */
                }
              }
            },
            i === 0 ? 200 : grace * i,
          ),
        );
      });
      const r = await this.done;
      timers.forEach(clearTimeout);
      return r;
    }
    return this.done;
  }
}
