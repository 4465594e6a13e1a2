// A bare LSP client over stdio for driving the bundled insight server.
import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { StreamMessageReader, StreamMessageWriter } from 'vscode-jsonrpc/node';
import {
  createProtocolConnection,
  InitializeRequest,
  InitializedNotification,
  type ProtocolConnection,
} from 'vscode-languageserver-protocol';
import { changedNotification, type ChangedParams, type InitializationOptions } from '../../../src/shared/protocol';
import { repoRoot } from './fixtures';

export interface ServerHandle {
  connection: ProtocolConnection;
  child: ChildProcess;
  changes: ChangedParams[];
  refreshes: string[];
  /** Resolves at the next 'changed' notification whose params satisfy cond. */
  waitForChange(cond?: (c: ChangedParams) => boolean, ms?: number): Promise<ChangedParams>;
  close(): Promise<void>;
}

export async function startServer(init: InitializationOptions = {}, rootPath?: string): Promise<ServerHandle> {
  const child = spawn(process.execPath, [join(repoRoot, 'dist', 'server.js'), '--stdio'], {
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  const connection = createProtocolConnection(
    new StreamMessageReader(child.stdout!),
    new StreamMessageWriter(child.stdin!),
  );
  const changes: ChangedParams[] = [];
  const refreshes: string[] = [];
  const waiters: { cond: (c: ChangedParams) => boolean; resolve: (c: ChangedParams) => void }[] = [];
  connection.onNotification(changedNotification, (c) => {
    changes.push(c);
    for (const w of [...waiters]) {
      if (w.cond(c)) {
        waiters.splice(waiters.indexOf(w), 1);
        w.resolve(c);
      }
    }
  });
  connection.onRequest('workspace/codeLens/refresh', () => (refreshes.push('codeLens'), null));
  connection.onRequest('workspace/inlayHint/refresh', () => (refreshes.push('inlayHint'), null));
  connection.listen();
  await connection.sendRequest(InitializeRequest.type, {
    processId: process.pid,
    rootUri: null,
    workspaceFolders: rootPath ? [{ uri: `file://${rootPath}`, name: 'ws' }] : null,
    capabilities: { workspace: { codeLens: { refreshSupport: true }, inlayHint: { refreshSupport: true } } },
    initializationOptions: init,
  });
  await connection.sendNotification(InitializedNotification.type, {});
  return {
    connection,
    child,
    changes,
    refreshes,
    waitForChange(cond = () => true, ms = 10000) {
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error('no outboundLens/changed notification in time')), ms);
        waiters.push({ cond, resolve: (c) => (clearTimeout(timer), resolve(c)) });
      });
    },
    async close() {
      try {
        await connection.sendRequest('shutdown');
        await connection.sendNotification('exit');
      } catch {
        /* already gone */
      }
      connection.dispose();
      child.kill();
    },
  };
}
