// A stand-in for the 'vscode' module, enough to load and activate the
// bundled extension in plain Node: every API is a no-op proxy, except the
// few whose results the activation path reads. Used by the unit tests and
// by the activation benchmark's baseline (a plain Node process), hence
// CommonJS with its types in vscodeStub.d.cts.
'use strict';
const Module = require('node:module');
const { readFileSync } = require('node:fs');
const { join } = require('node:path');

const repoRoot = join(__dirname, '..', '..', '..');

function anything(name, overrides = {}) {
  const fn = function () {};
  const assigned = new Map();
  return new Proxy(fn, {
    set(_t, prop, value) {
      assigned.set(prop, value);
      return true;
    },
    get(_t, prop) {
      if (assigned.has(prop)) return assigned.get(prop);
      if (prop in overrides) return overrides[prop];
      if (prop === 'then') return undefined; // not a promise
      if (prop === Symbol.toPrimitive) return () => name;
      if (prop === 'dispose') return () => undefined;
      return anything(`${name}.${String(prop)}`);
    },
    apply: () => anything(`${name}()`),
    construct: () => anything(`new ${name}`),
  });
}

const uri = (fsPath) => ({ fsPath, path: fsPath, scheme: 'file', toString: () => `file://${fsPath}` });

/** Makes require('vscode') return the stub; returns what activation registered with it. */
function installVscodeStub() {
  const rec = { commands: new Map(), serializers: [] };
  const overrides = {
    commands: anything('commands', {
      registerCommand: (id, fn) => {
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
      registerWebviewPanelSerializer: (viewType) => {
        rec.serializers.push(viewType);
        return { dispose() {} };
      },
      visibleTextEditors: [],
    }),
    Uri: { file: uri, joinPath: (base, ...p) => uri(join(base.fsPath, ...p)) },
  };
  // Bundlers copy a CommonJS module's own keys, so the stub lists every
  // name the real API exports (read from @types/vscode).
  const dts = readFileSync(join(repoRoot, 'node_modules', '@types', 'vscode', 'index.d.ts'), 'utf8');
  const names = new Set(
    [...dts.matchAll(/^\s+export (?:class|namespace|enum|function|const|let|var) (\w+)/gm)].map((m) => m[1]),
  );
  for (const k of Object.keys(overrides)) names.add(k);
  const stub = {};
  for (const n of names) stub[n] = n in overrides ? overrides[n] : anything(n);
  const resolve = Module._resolveFilename;
  Module._resolveFilename = function (request, ...rest) {
    return request === 'vscode' ? 'vscode' : resolve.call(this, request, ...rest);
  };
  require.cache.vscode = { id: 'vscode', filename: 'vscode', loaded: true, exports: stub };
  return rec;
}

module.exports = { installVscodeStub, anything, uri };
