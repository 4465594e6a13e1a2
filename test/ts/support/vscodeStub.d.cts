export interface StubRecord {
  commands: Map<string, (...args: unknown[]) => unknown>;
  serializers: string[];
}
export declare function installVscodeStub(): StubRecord;
/** A no-op proxy: every property, call and construction gives another. */
export declare function anything(name: string, overrides?: Record<string, unknown>): any;
export declare function uri(fsPath: string): { fsPath: string; path: string; scheme: string; toString(): string };
