// The insight server: owns the record stream and answers code lens, inlay
// hint and hover requests for Go files, plus the panel's custom requests.
// Runs unprivileged in its own process so the editor never stutters.
import {
  CodeLens,
  createConnection,
  Hover,
  InlayHint,
  ProposedFeatures,
  TextDocuments,
  TextDocumentSyncKind,
  type InitializeParams,
  type InitializeResult,
} from 'vscode-languageserver/node';
import { TextDocument } from 'vscode-languageserver-textdocument';
import { fileURLToPath } from 'node:url';
import {
  changedNotification,
  configNotification,
  decorationsRequest,
  queryRequest,
  recordsNotification,
  routesNotification,
  snapshotRequest,
  traceStateNotification,
  type InitializationOptions,
  type SnapshotResult,
} from '../shared/protocol';
import { asTraceRecord } from '../shared/records';
import { callSiteHints, findHandler, handlerFromIndex, handlerHover, handlerLenses, sameFile } from './insights';
import { listRoutes, RouteIndex } from './routes';
import { Store } from './store';

const connection = createConnection(ProposedFeatures.all);
const documents = new TextDocuments(TextDocument);
const store = new Store();
const routes = new RouteIndex();
// ServeMux and chi requests carry their pattern as route but no handler: the index has it.
store.handlerOf = (method, route) => handlerFromIndex(routes.all(), method, route);
let helperPath: string | undefined;
let folders: string[] = [];
let canRefreshLenses = false;
let canRefreshHints = false;

function uriToPath(uri: string): string | undefined {
  return uri.startsWith('file:') ? fileURLToPath(uri) : undefined;
}

connection.onInitialize((params: InitializeParams): InitializeResult => {
  const opts = (params.initializationOptions ?? {}) as InitializationOptions;
  helperPath = opts.helperPath;
  if (opts.maxRecords) store.setMaxRecords(opts.maxRecords);
  folders = (params.workspaceFolders ?? []).map((f) => uriToPath(f.uri)).filter((p): p is string => !!p);
  if (!folders.length && params.rootUri) {
    const p = uriToPath(params.rootUri);
    if (p) folders.push(p);
  }
  canRefreshLenses = !!params.capabilities.workspace?.codeLens?.refreshSupport;
  canRefreshHints = !!params.capabilities.workspace?.inlayHint?.refreshSupport;
  return {
    capabilities: {
      textDocumentSync: { openClose: true, change: TextDocumentSyncKind.Full, save: { includeText: false } },
      codeLensProvider: { resolveProvider: false },
      inlayHintProvider: { resolveProvider: false },
      hoverProvider: true,
    },
    serverInfo: { name: 'outbound-lens-insight-server' },
  };
});

connection.onInitialized(() => {
  void refreshRoutes();
});

async function refreshRoutes(): Promise<void> {
  if (!helperPath) return;
  for (const dir of folders) {
    try {
      routes.set(dir, await listRoutes(helperPath, dir));
    } catch (e) {
      connection.console.warn(`Outbound Lens: could not list routes: ${(e as Error).message}`);
    }
  }
  refreshEditors();
}

// Routes change when Go files are saved, created or deleted.
let routesTimer: NodeJS.Timeout | undefined;
function routesChanged(): void {
  clearTimeout(routesTimer);
  routesTimer = setTimeout(() => void refreshRoutes(), 300);
}
documents.onDidSave((e) => {
  if (e.document.uri.endsWith('.go')) routesChanged();
});
connection.onDidChangeWatchedFiles((p) => {
  if (p.changes.some((c) => c.uri.endsWith('.go'))) routesChanged();
});

// Editors and the panel are told about changes at most every 250 ms.
let changeTimer: NodeJS.Timeout | undefined;
function changed(): void {
  if (changeTimer) return;
  changeTimer = setTimeout(() => {
    changeTimer = undefined;
    refreshEditors();
  }, 250);
}

function refreshEditors(): void {
  if (canRefreshLenses) void connection.sendRequest('workspace/codeLens/refresh').catch(() => undefined);
  if (canRefreshHints) void connection.sendRequest('workspace/inlayHint/refresh').catch(() => undefined);
  void connection.sendNotification(changedNotification, {
    seq: store.currentSeq,
    status: store.status,
    dropped: store.dropped,
  });
}

connection.onNotification(recordsNotification, (p) => {
  const records = [];
  for (const r of p.records ?? []) {
    const rec = asTraceRecord(r);
    if (rec) records.push(rec);
    else store.malformed++;
  }
  store.ingest(records);
  changed();
});

connection.onNotification(traceStateNotification, (p) => {
  if (p.state === 'attaching') store.beginTrace(p.pid);
  else
    store.status = {
      ...store.status,
      state: p.state,
      pid: p.pid ?? store.status.pid,
      message: p.message ?? store.status.message,
    };
  changed();
});

connection.onNotification(configNotification, (p) => {
  if (p.maxRecords > 0) store.setMaxRecords(p.maxRecords);
});

connection.onNotification(routesNotification, (p) => {
  routes.setExtra(p.routes ?? []);
  changed();
});

function snapshot(afterSeq: number, limit?: number): SnapshotResult {
  return {
    seq: store.currentSeq,
    rows: store.rowsAfter(afterSeq, limit),
    dropped: store.dropped,
    status: store.status,
  };
}

connection.onRequest(snapshotRequest, (p) => snapshot(p?.afterSeq ?? 0));
connection.onRequest(queryRequest, (p) =>
  p.keys ? { ...snapshot(store.currentSeq), rows: store.rowsByKeys(p.keys) } : snapshot(p.afterSeq, p.limit),
);

connection.onRequest(decorationsRequest, (p) => {
  const file = uriToPath(p.uri);
  return file ? callSiteHints(store, file) : [];
});

connection.onCodeLens((p): CodeLens[] => {
  const file = uriToPath(p.textDocument.uri);
  if (!file) return [];
  return handlerLenses(store, routes.all(), file).map((l) => ({
    range: { start: { line: l.line - 1, character: 0 }, end: { line: l.line - 1, character: 0 } },
    command: l.startsTrace
      ? {
          title: l.title,
          command: 'outboundLens.trace',
          arguments: [{ file, line: l.line, func: l.func, route: l.route }],
        }
      : {
          title: l.title,
          command: 'outboundLens.showPanel',
          arguments: [{ file, line: l.line, func: l.func, route: l.route }],
        },
  }));
});

connection.languages.inlayHint.on((p): InlayHint[] => {
  const file = uriToPath(p.textDocument.uri);
  if (!file) return [];
  const doc = documents.get(p.textDocument.uri);
  return callSiteHints(store, file)
    .filter((h) => h.line - 1 >= p.range.start.line && h.line - 1 <= p.range.end.line)
    .map((h) => {
      const lineText =
        doc?.getText({ start: { line: h.line - 1, character: 0 }, end: { line: h.line, character: 0 } }) ?? '';
      const character = doc ? lineText.replace(/\r?\n$/, '').length : 0;
      return {
        position: { line: h.line - 1, character },
        label: h.text,
        paddingLeft: true,
        tooltip: { kind: 'markdown', value: h.hover },
      };
    });
});

connection.onHover((p): Hover | null => {
  const file = uriToPath(p.textDocument.uri);
  if (!file) return null;
  const line = p.position.line + 1;
  // A line on the calls' paths, a handler's line, or both (a one-line handler that calls out).
  const hover = (value: string) => ({ contents: { kind: 'markdown' as const, value } });
  const hint = callSiteHints(store, file).find((h) => h.line === line);
  const withHint = (handler: string) => hover(hint ? `${handler}\n\n---\n\n${hint.hover}` : handler);
  for (const r of routes.all()) {
    if (r.handler.line === line && sameFile(r.handler.file, file)) {
      const h = findHandler(store, r);
      if (h) return withHint(handlerHover(h));
    }
  }
  for (const h of store.handlers.values()) {
    if (h.line === line && sameFile(h.file, file)) return withHint(handlerHover(h));
  }
  return hint ? hover(hint.hover) : null;
});

documents.listen(connection);
connection.listen();
