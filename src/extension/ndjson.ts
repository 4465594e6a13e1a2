// Splits the helper's byte stream into records. Lines may be split across
// chunks; a malformed line is counted and skipped, never fatal.
import { StringDecoder } from 'node:string_decoder';
import { asTraceRecord, type TraceRecord } from '../shared/records';

/** A record is a few KiB at most; a longer line is dropped and counted, never buffered whole. */
export const MAX_LINE = 1 << 20;

export class NdjsonParser {
  private decoder = new StringDecoder('utf8');
  private partial = '';
  /** Inside a line over MAX_LINE: its bytes are dropped until the next newline. */
  private skipping = false;
  malformed = 0;
  lastMalformed?: string;

  /** Feeds a chunk; returns the complete records it finished. */
  push(chunk: Buffer | string): TraceRecord[] {
    const text = typeof chunk === 'string' ? chunk : this.decoder.write(chunk);
    const out: TraceRecord[] = [];
    let start = 0;
    for (let nl = text.indexOf('\n'); nl >= 0; start = nl + 1, nl = text.indexOf('\n', start)) {
      if (this.skipping) this.skipping = false;
      else this.parseLine(this.partial + text.slice(start, nl), out);
      this.partial = '';
    }
    if (!this.skipping) {
      this.partial += text.slice(start);
      if (this.partial.length > MAX_LINE) {
        this.bad(this.partial.slice(0, 100) + ` … (a line over ${MAX_LINE} characters, dropped)`);
        this.partial = '';
        this.skipping = true;
      }
    }
    return out;
  }

  /** The stream ended: a last line without a newline still counts. */
  end(): TraceRecord[] {
    const out: TraceRecord[] = [];
    const rest = this.partial + this.decoder.end();
    this.partial = '';
    if (!this.skipping) this.parseLine(rest, out);
    this.skipping = false;
    return out;
  }

  private parseLine(raw: string, out: TraceRecord[]): void {
    if (raw.length > MAX_LINE) {
      this.bad(raw.slice(0, 100) + ` … (a line over ${MAX_LINE} characters, dropped)`);
      return;
    }
    const line = raw.trim();
    if (!line) return;
    let v: unknown;
    try {
      v = JSON.parse(line);
    } catch {
      this.bad(line);
      return;
    }
    const r = asTraceRecord(v);
    if (r) out.push(r);
    else this.bad(line);
  }

  private bad(line: string): void {
    this.malformed++;
    this.lastMalformed = line.slice(0, 200);
  }
}
