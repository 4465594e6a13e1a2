// The privilege ladder: how to run the helper so it may trace, least
// painful first. `decide` is a pure function of the facts; `gatherFacts`
// finds them out. Never asks for or stores a password.
import execa from 'execa';

export type PrivilegeSetting = 'auto' | 'root' | 'sudo' | 'pkexec' | 'terminal';
/** direct: run the helper as is; sudo: `sudo -n`; pkexec: polkit prompt; terminal: `sudo` typed in a terminal. */
export type PrivilegeMethod = 'direct' | 'sudo' | 'pkexec' | 'terminal';

export interface PrivilegeFacts {
  isRoot: boolean;
  /** `helper check` said canTrace (root, or file capabilities on the helper). */
  helperCanTrace: boolean;
  sudoNoPassword: boolean;
  /** sudo is installed, so a terminal can ask for a password. */
  sudoAvailable: boolean;
  pkexecAvailable: boolean;
  /** A graphical session, so a polkit agent can show its prompt. */
  displayPresent: boolean;
  setting: PrivilegeSetting;
}

export interface PrivilegeDecision {
  /** none: not root, no capabilities, and no sudo to ask for a password. */
  method: PrivilegeMethod | 'none';
  reason: string;
}

export function decide(f: PrivilegeFacts): PrivilegeDecision {
  const d = ladder(f);
  // sudo and the terminal route both run sudo: without it nothing can ask for a password.
  if ((d.method === 'sudo' || d.method === 'terminal') && !f.sudoAvailable)
    return { method: 'none', reason: `${d.reason}, but sudo is not installed` };
  return d;
}

function ladder(f: PrivilegeFacts): PrivilegeDecision & { method: PrivilegeMethod } {
  switch (f.setting) {
    case 'root':
      return { method: 'direct', reason: 'outboundLens.privilegeMethod is "root": running the helper directly' };
    case 'sudo':
      return f.sudoNoPassword
        ? { method: 'sudo', reason: 'outboundLens.privilegeMethod is "sudo" and sudo -n works' }
        : {
            method: 'terminal',
            reason: 'outboundLens.privilegeMethod is "sudo" but sudo needs a password: asking in a terminal',
          };
    case 'pkexec':
      return { method: 'pkexec', reason: 'outboundLens.privilegeMethod is "pkexec"' };
    case 'terminal':
      return { method: 'terminal', reason: 'outboundLens.privilegeMethod is "terminal"' };
  }
  if (f.isRoot) return { method: 'direct', reason: 'running as root' };
  if (f.helperCanTrace) return { method: 'direct', reason: 'the helper has tracing capabilities' };
  if (f.sudoNoPassword) return { method: 'sudo', reason: 'sudo works without a password' };
  if (f.pkexecAvailable && f.displayPresent)
    return { method: 'pkexec', reason: 'pkexec with a graphical polkit prompt' };
  return { method: 'terminal', reason: 'no password-less way: sudo in a terminal' };
}

export interface HelperCheck {
  root: boolean;
  caps: boolean;
  btf: boolean;
  kernel: string;
  canTrace: boolean;
  reason?: string;
}

export async function helperCheck(helperPath: string): Promise<HelperCheck | undefined> {
  try {
    const r = await execa(helperPath, ['check'], { timeout: 10000, reject: false });
    return JSON.parse(r.stdout) as HelperCheck;
  } catch {
    return undefined;
  }
}

async function succeeds(cmd: string, args: string[]): Promise<boolean> {
  try {
    const r = await execa(cmd, args, { timeout: 5000, reject: false, stdin: 'ignore' });
    return r.exitCode === 0;
  } catch {
    return false;
  }
}

export async function gatherFacts(
  helperPath: string,
  setting: PrivilegeSetting,
  env = process.env,
): Promise<PrivilegeFacts & { check?: HelperCheck }> {
  const isRoot = process.getuid?.() === 0;
  const check = await helperCheck(helperPath);
  const needMore = !isRoot && !check?.canTrace;
  const [sudoNoPassword, sudoAvailable, pkexecAvailable] =
    needMore || setting !== 'auto'
      ? await Promise.all([
          // The helper itself, not `true`: an administrator may allow it alone without a password.
          succeeds('sudo', ['-n', helperPath, 'check']),
          succeeds('sh', ['-c', 'command -v sudo']),
          succeeds('sh', ['-c', 'command -v pkexec']),
        ])
      : [false, false, false];
  return {
    isRoot,
    helperCanTrace: !!check?.canTrace,
    sudoNoPassword,
    sudoAvailable,
    pkexecAvailable,
    displayPresent: !!(env.DISPLAY || env.WAYLAND_DISPLAY),
    setting,
    check,
  };
}

/**
 * The setting to trace as root after the helper, run by this user with its
 * capabilities, refused another user's process (NOT_PERMITTED): sudo (without
 * a password where allowed, else typed in a terminal), or the user's own
 * route to root when it is one.
 */
export function rootSetting(s: PrivilegeSetting): PrivilegeSetting {
  return s === 'pkexec' || s === 'terminal' ? s : 'sudo';
}

/** The command line that runs the helper with the chosen method (terminal: what the user types). */
export function privilegedCommand(method: PrivilegeMethod, helperPath: string, args: string[]): [string, string[]] {
  switch (method) {
    case 'direct':
      return [helperPath, args];
    case 'sudo':
      return ['sudo', ['-n', helperPath, ...args]];
    case 'pkexec':
      return ['pkexec', [helperPath, ...args]];
    case 'terminal':
      return ['sudo', [helperPath, ...args]];
  }
}

/** What the helper is granted so tracing needs no password: the same as its own SetcapCaps (caps.go). */
export const SETCAP_CAPS = 'cap_sys_admin,cap_bpf,cap_perfmon,cap_sys_resource,cap_sys_ptrace,cap_dac_read_search+p';
