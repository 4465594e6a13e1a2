// Splits the helper's byte stream into records. Lines may be split across
// chunks; a malformed line is counted and skipped, never fatal.
import { StringDecoder } from 'node:string_decoder';
import { asTraceRecord, type TraceRecord } from '../shared/records';

const MAX_LINE = 1 << 20; // a record is far smaller; guards against a runaway line

export class NdjsonParser {
  private decoder = new StringDecoder('utf8');
  private partial = '';
  malformed = 0;
  lastMalformed?: string;

  /** Feeds a chunk; returns the complete records it finished. */
  push(chunk: Buffer | string): TraceRecord[] {
    const text = this.partial + (typeof chunk === 'string' ? chunk : this.decoder.write(chunk));
    const lines = text.split('\n');
    this.partial = lines.pop() ?? '';
    if (this.partial.length > MAX_LINE) {
      this.bad(this.partial.slice(0, 200));
      this.partial = '';
    }
    const out: TraceRecord[] = [];
    for (const line of lines) this.parseLine(line, out);
    return out;
  }

  /** The stream ended: a last line without a newline still counts. */
  end(): TraceRecord[] {
    const out: TraceRecord[] = [];
    const rest = this.partial + this.decoder.end();
    this.partial = '';
    this.parseLine(rest, out);
    return out;
  }

  private parseLine(raw: string, out: TraceRecord[]): void {
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
