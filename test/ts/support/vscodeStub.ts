// A stand-in for the 'vscode' module, enough to load and activate the
// bundled extension in plain Node: every API is a no-op proxy, except the
// few whose results the activation path reads.
import Module from 'node:module';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { repoRoot } from './fixtures';

type Any = ((...args: unknown[]) => Any) & { [k: string]: Any };

function anything(name: string, overrides: Record<string, unknown> = {}): Any {
  const fn = function () {} as unknown as Any;
  const assigned = new Map<PropertyKey, unknown>();
  return new Proxy(fn, {
    set(_t, prop, value) {
      assigned.set(prop, value);
      return true;
    },
    get(_t, prop) {
      if (assigned.has(prop)) return assigned.get(prop);
      if (prop in overrides) return overrides[prop as string];
      if (prop === 'then') return undefined; // not a promise
      if (prop === Symbol.toPrimitive) return () => name;
      if (prop === 'dispose') return () => undefined;
      return anything(`${name}.${String(prop)}`);
    },
    apply: () => anything(`${name}()`),
    construct: () => anything(`new ${name}`) as object,
  });
}

export interface StubRecord {
  commands: Map<string, (...args: unknown[]) => unknown>;
  serializers: string[];
}

export function installVscodeStub(): StubRecord {
  const rec: StubRecord = { commands: new Map(), serializers: [] };
  const uri = (fsPath: string) => ({ fsPath, path: fsPath, scheme: 'file', toString: () => `file://${fsPath}` });
  const overrides: Record<string, unknown> = {
    commands: anything('commands', {
      registerCommand: (id: string, fn: (...args: unknown[]) => unknown) => {
        rec.commands.set(id, fn);
        return { dispose() {} };
      },
      executeCommand: async () => undefined,
    }),
    workspace: anything('workspace', {
      getConfiguration: () => ({ get: () => undefined }),
      workspaceFolders: undefined,
    }),
    window: anything('window', {
      registerWebviewPanelSerializer: (viewType: string) => {
        rec.serializers.push(viewType);
        return { dispose() {} };
      },
      visibleTextEditors: [],
    }),
    Uri: { file: uri, joinPath: (base: { fsPath: string }, ...p: string[]) => uri(join(base.fsPath, ...p)) },
  };
  // Bundlers copy a CommonJS module's own keys, so the stub lists every
  // name the real API exports (read from @types/vscode).
  const dts = readFileSync(join(repoRoot, 'node_modules', '@types', 'vscode', 'index.d.ts'), 'utf8');
  const names = new Set(
    [...dts.matchAll(/^\s+export (?:class|namespace|enum|function|const|let|var) (\w+)/gm)].map((m) => m[1]),
  );
  for (const k of Object.keys(overrides)) names.add(k);
  const stub: Record<string, unknown> = {};
  for (const n of names) stub[n] = n in overrides ? overrides[n] : anything(n);
  const resolve = (Module as unknown as { _resolveFilename: (r: string, ...a: unknown[]) => string })._resolveFilename;
  (Module as unknown as { _resolveFilename: (r: string, ...a: unknown[]) => string })._resolveFilename = function (
    request: string,
    ...rest: unknown[]
  ) {
    return request === 'vscode' ? 'vscode' : resolve.call(this, request, ...rest);
  };
  (require.cache as Record<string, unknown>).vscode = { id: 'vscode', filename: 'vscode', loaded: true, exports: stub };
  return rec;
}
