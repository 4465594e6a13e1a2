// The helper's unprivileged subcommands (`ps`), and the workspace's module.
import execa from 'execa';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';

export interface GoProcess {
  pid: number;
  exe: string;
  cmdline: string;
  goVersion: string;
  module: string;
}

export async function listGoProcesses(helperPath: string, module?: string): Promise<GoProcess[]> {
  const args = ['ps'];
  if (module) args.push('--module', module);
  const r = await execa(helperPath, args, { timeout: 20000 });
  const v: unknown = JSON.parse(r.stdout);
  return Array.isArray(v) ? (v as GoProcess[]) : [];
}

/** The `module` line of dir/go.mod, if any. */
export async function workspaceModule(dir: string): Promise<string | undefined> {
  try {
    const text = await readFile(join(dir, 'go.mod'), 'utf8');
    return /^module\s+("?)([^\s"]+)\1\s*$/m.exec(text)?.[2];
  } catch {
    return undefined;
  }
}
