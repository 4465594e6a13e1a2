// The route index (Gin, chi and echo routes, ServeMux patterns): the helper's
// unprivileged `routes --dir` per workspace folder, refreshed when Go files
// are saved.
import { execFile } from 'node:child_process';
import type { RouteInfo } from '../shared/protocol';

export function listRoutes(helperPath: string, dir: string): Promise<RouteInfo[]> {
  return new Promise((resolve, reject) => {
    execFile(helperPath, ['routes', '--dir', dir], { maxBuffer: 32 << 20, timeout: 60000 }, (err, stdout, stderr) => {
      if (err) return reject(new Error(`${helperPath} routes --dir ${dir}: ${stderr.trim() || err.message}`));
      try {
        const v: unknown = JSON.parse(stdout);
        resolve(Array.isArray(v) ? (v as RouteInfo[]).filter((r) => r?.handler?.file && r.handler.line > 0) : []);
      } catch (e) {
        reject(new Error(`${helperPath} routes: output is not JSON: ${(e as Error).message}`));
      }
    });
  });
}

export class RouteIndex {
  private byFolder = new Map<string, RouteInfo[]>();
  private extra: RouteInfo[] = [];
  private cached: RouteInfo[] | undefined;

  set(folder: string, routes: RouteInfo[]): void {
    this.byFolder.set(folder, routes);
    this.cached = undefined;
  }

  setExtra(routes: RouteInfo[]): void {
    this.extra = routes;
    this.cached = undefined;
  }

  /** Every route; the same array until the index changes (asked for once per request record). */
  all(): RouteInfo[] {
    return (this.cached ??= [...[...this.byFolder.values()].flat(), ...this.extra]);
  }
}
