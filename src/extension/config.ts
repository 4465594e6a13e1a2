// One typed view of the settings, with a change event.
import * as vscode from 'vscode';
import type { PrivilegeSetting } from './privileges';

export interface Config {
  headers: string[];
  privilegeMethod: PrivilegeSetting;
  helperPath: string;
  maxRecords: number;
}

export function readConfig(extensionPath: string): Config {
  const c = vscode.workspace.getConfiguration('outboundLens');
  const helper = c.get<string>('helperPath')?.trim();
  return {
    headers: (c.get<string[]>('headers') ?? []).filter((h) => typeof h === 'string' && h.trim()).map((h) => h.trim()),
    privilegeMethod: c.get<PrivilegeSetting>('privilegeMethod') ?? 'auto',
    helperPath: helper || defaultHelperPath(extensionPath),
    maxRecords: Math.max(100, c.get<number>('maxRecords') ?? 50000),
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
