// What an outbound record did, in words: one name for the panel, the lenses
// and the hovers alike, built from the record's op (see OpRecord).
import { endpoint, type OutboundRecord } from './records';

/** How long a statement may be in a name; the whole of it goes in a tooltip. */
export const STATEMENT_CHARS = 60;

/** Whitespace runs (a statement's line breaks and indentation) as one space. */
function oneLine(s: string): string {
  return s.replace(/\s+/g, ' ').trim();
}

/** At most `max` characters, the cut marked with an ellipsis. */
export function shorten(s: string, max: number): string {
  return s.length <= max ? s : s.slice(0, Math.max(1, max - 1)).trimEnd() + '…';
}

/** `src:sport → dst:dport`. */
export function tuple(o: OutboundRecord): string {
  return `${endpoint(o.src, o.sport)} → ${endpoint(o.dst, o.dport)}`;
}

/** Who was called: the host an HTTP call's URL or a gRPC call's authority named, else `dst:dport`. */
export function remoteName(o: OutboundRecord): string {
  return o.op?.host || endpoint(o.dst, o.dport);
}

/** A SQL statement on one line, led by its verb (added when the text starts otherwise, e.g. with a comment). */
function statementText(verb: string, statement: string): string {
  const text = oneLine(statement);
  if (!verb || text.toUpperCase().startsWith(verb.toUpperCase())) return text;
  return `${verb} ${text}`;
}

/**
 * The human name of what an outbound record did: `GET 127.0.0.1:18081/echo`,
 * `POST api.stripe.com/v1/charges`, `grpc /pkg.Service/Method`, a SQL
 * statement (shortened to `max` characters; its verb alone without one),
 * `redis GET session:42`; the tuple for a new connection, a TLS exchange
 * (`tls …`) or bytes no protocol was recognized in. `full` keeps the
 * statement or key whole (for a tooltip). A cut field ends in `…`.
 */
export function opName(o: OutboundRecord, opts: { max?: number; full?: boolean } = {}): string {
  const op = o.op;
  const max = opts.full ? Infinity : (opts.max ?? STATEMENT_CHARS);
  const cut = op?.truncated ? '…' : '';
  switch (op?.protocol) {
    case 'http': {
      const where = `${op.host || endpoint(o.dst, o.dport)}${op.path ?? ''}`;
      return `${op.method || 'HTTP'} ${where}${cut}${outcome(o)}`;
    }
    case 'grpc':
      return `grpc ${op.path || op.host || endpoint(o.dst, o.dport)}${cut}${outcome(o)}`;
    case 'postgresql':
    case 'mysql': {
      if (!op.statement) return op.verb || op.protocol;
      const text = statementText(op.verb ?? '', op.statement) + cut;
      return shorten(text, max);
    }
    case 'redis': {
      const name = ['redis', op.command, op.key].filter(Boolean).join(' ');
      return shorten(oneLine(name) + (op.key ? cut : ''), max);
    }
    case 'tls':
      return `tls ${op.serverName ? `${op.serverName} ` : ''}${tuple(o)}`;
    default:
      return `${tuple(o)}${outcome(o)}`;
  }
}

/** gRPC's status codes by number. */
const GRPC_CODES = [
  'OK',
  'Canceled',
  'Unknown',
  'InvalidArgument',
  'DeadlineExceeded',
  'NotFound',
  'AlreadyExists',
  'PermissionDenied',
  'ResourceExhausted',
  'FailedPrecondition',
  'Aborted',
  'OutOfRange',
  'Unimplemented',
  'Internal',
  'Unavailable',
  'DataLoss',
  'Unauthenticated',
];

/** A gRPC status code's name (`NotFound`), or `code N`. */
export function grpcCode(code: number): string {
  return GRPC_CODES[code] ?? `code ${code}`;
}

/**
 * How a failed call failed, in a word: an HTTP status (`502`), a gRPC
 * code (`Unavailable`), a connect's reason (`connection refused`), or
 * `failed` (no response).
 */
export function failure(o: OutboundRecord): string {
  const op = o.op;
  if (op?.protocol === 'grpc') return grpcCode(op.status ?? 2);
  if (op?.failed) return op.error || 'failed';
  return String(op?.status ?? 'failed');
}

/** ` → 502`, ` → failed`, ` → Unavailable`, ` → connection refused`, ` → OK` (a gRPC call), or '' where the call's outcome is not known. */
export function outcome(o: OutboundRecord): string {
  const op = o.op;
  if (op?.protocol === 'grpc') return op.failed || op.status ? ` → ${failure(o)}` : op.durationNs ? ' → OK' : '';
  if (op?.failed) return ` → ${failure(o)}`;
  return op?.status ? ` → ${op.status}` : '';
}

/** A call that went wrong: a 5xx status, no response at all (reset, timed out, …), or a connection that could not be opened. */
export function callFailed(o: OutboundRecord): boolean {
  return !!o.op?.failed || (o.op?.status ?? 0) >= 500;
}

/**
 * Whether a call's outcome matches a `status:` filter token: `5xx` (any
 * 500–599), `404`, or `failed` (whatever callFailed counts).
 */
export function statusMatches(o: OutboundRecord, tok: string): boolean {
  const status = o.op?.status ?? 0;
  if (tok === 'failed') return callFailed(o);
  const m = /^([1-5])xx$/.exec(tok);
  if (m) return status >= Number(m[1]) * 100 && status < Number(m[1]) * 100 + 100;
  return /^\d{3}$/.test(tok) && status === Number(tok);
}

/**
 * What an op did, without its remote, for a list grouped by remote (the
 * lenses and hovers): `GET /echo`, `/pkg.Service/Method`, `SELECT`, `GET`
 * (Redis); '' for a record without a named operation (a connect, TLS, tcp).
 * Statements and keys are left out: they name one request, not an operation.
 */
export function opKind(o: OutboundRecord): string {
  const op = o.op;
  switch (op?.protocol) {
    case 'http':
      return `${op.method || 'HTTP'} ${op.path || '/'}`;
    case 'grpc':
      return op.path ?? '';
    case 'postgresql':
    case 'mysql':
      return op.verb ?? '';
    case 'redis':
      return op.command ?? '';
    default:
      return '';
  }
}

/** The protocol a remote is named with in a lens: '' for HTTP (the method says it), for tcp and for a record without op. */
export function opProtocol(o: OutboundRecord): string {
  const p = o.op?.protocol ?? '';
  return p === 'http' || p === 'tcp' ? '' : p;
}
