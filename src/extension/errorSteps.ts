// What the editor shows for a helper error a user can act on: the next
// step in words, and the buttons that take it. Pure, so it is tested
// without VS Code; commands.ts shows it and runs the chosen button.
import { ErrorCode } from '../shared/records';

/** Runs "Outbound Lens: Allow tracing without a password". */
export const ALLOW_WITHOUT_PASSWORD = 'Allow tracing without a password';
/** Traces the same target again through sudo (the terminal, or sudo -n where allowed). */
export const TRACE_AS_ROOT = 'Trace as root (sudo)';

/** What to do next, for the helper's error codes a user can act on. */
const NEXT_STEP: Partial<Record<string, { step: string; actions: string[] }>> = {
  [ErrorCode.NOT_GO]: {
    step: 'Outbound Lens traces Go programs only: pick a Go process from the list, or build and launch the workspace service.',
    actions: [],
  },
  [ErrorCode.NO_PROCESS]: { step: 'The process is gone: start it again, then trace it.', actions: [] },
  [ErrorCode.NOT_HTTP_SERVER]: { step: 'Trace a Go program that serves HTTP (net/http or Gin).', actions: [] },
  [ErrorCode.NO_PRIVILEGES]: {
    step: 'Run "Outbound Lens: Allow tracing without a password" (setcap on the helper), or set outboundLens.privilegeMethod to "terminal" to type a sudo password.',
    actions: [ALLOW_WITHOUT_PASSWORD],
  },
  // The helper's capabilities let its user trace only what that user could
  // ptrace: another user's service needs root.
  [ErrorCode.NOT_PERMITTED]: {
    step: 'Trace it as root: sudo asks for your password in a terminal (or set outboundLens.privilegeMethod to "terminal"). Or run the service as yourself, then trace it.',
    actions: [TRACE_AS_ROOT],
  },
};

export function errorPrompt(e: { code: string; message: string }): { text: string; actions: string[] } {
  const next = NEXT_STEP[e.code];
  return {
    text: `Outbound Lens: ${e.code}: ${e.message}${next ? ` — ${next.step}` : ''}`,
    actions: next?.actions ?? [],
  };
}
