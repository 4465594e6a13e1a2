export declare const CHROMIUM_ARGS: string[];
export declare function sleep(ms: number): Promise<void>;
export declare function until<T>(what: string, fn: () => T | Promise<T>, ms?: number, every?: number): Promise<T>;
export declare function pidsWhere(pick: (pid: number, exe: string) => boolean): number[];
export declare function helperTracePids(pid?: number): number[];
