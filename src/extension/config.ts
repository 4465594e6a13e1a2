// One typed view of the settings, with a change event.
import * as vscode from 'vscode';
import type { PrivilegeSetting } from './privileges';

export interface Config {
  headers: string[];
  /** false: only a statement's verb and a Redis command go out of the helper, never the text or the key */
  captureStatements: boolean;
  privilegeMethod: PrivilegeSetting;
  helperPath: string;
  maxRecords: number;
}

export function readConfig(extensionPath: string): Config {
  const c = vscode.workspace.getConfiguration('outboundLens');
  const helper = c.get<string>('helperPath')?.trim();
  return {
    headers: (c.get<string[]>('headers') ?? []).filter((h) => typeof h === 'string' && h.trim()).map((h) => h.trim()),
    captureStatements: c.get<boolean>('captureStatements') !== false,
    privilegeMethod: c.get<PrivilegeSetting>('privilegeMethod') ?? 'auto',
    helperPath: helper || defaultHelperPath(extensionPath),
    maxRecords: Math.max(100, c.get<number>('maxRecords') ?? 50000),
  };
}

/** How "Build and launch" builds and starts the workspace service (per folder). */
export interface LaunchConfig {
  /** The main package, relative to the folder; empty: found with `go list`. */
  package: string;
  args: string[];
  env: Record<string, string>;
}

export function readLaunchConfig(folder: vscode.Uri): LaunchConfig {
  const c = vscode.workspace.getConfiguration('outboundLens.launch', folder);
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(c.get<Record<string, unknown>>('env') ?? {}))
    if (k && (typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean')) env[k] = String(v);
  return {
    package: c.get<string>('package')?.trim() ?? '',
    args: (c.get<unknown[]>('args') ?? []).filter((a): a is string => typeof a === 'string'),
    env,
  };
}

export function defaultHelperPath(extensionPath: string): string {
  return vscode.Uri.joinPath(vscode.Uri.file(extensionPath), 'bin', `linux-${process.arch}`, 'outbound-lens-helper')
    .fsPath;
}

export function onConfigChange(fn: () => void): vscode.Disposable {
  return vscode.workspace.onDidChangeConfiguration((e) => {
    if (e.affectsConfiguration('outboundLens')) fn();
  });
}
