import execa from 'execa';
import { existsSync } from 'node:fs';
import { isAbsolute, join, relative } from 'node:path';

export type BuildResult = { ok: true } | { ok: false; detail: string };

/**
 * `go build -o out pkg` in dir (pkg as `go build` takes it; default the
 * folder's own package). When only VCS stamping fails (git cannot read the
 * checkout: another user's clone, no git), builds again without the stamp,
 * which the traced binary does not need. A failure's detail says what went
 * wrong: that `go` could not be run, or the build's own errors.
 */
export async function goBuild(dir: string, out: string, pkg = '.', env?: NodeJS.ProcessEnv): Promise<BuildResult> {
  const build = (flags: string[]) =>
    execa('go', ['build', ...flags, '-o', out, pkg], { cwd: dir, env, reject: false, all: true });
  let r = await build([]);
  if (r.exitCode !== 0 && /error obtaining VCS status/.test(String(r.all))) r = await build(['-buildvcs=false']);
  if (r.exitCode === 0) return { ok: true };
  return { ok: false, detail: goFailure(r, env) };
}

/**
 * A package as a user writes it in a setting, as `go build` takes it:
 * `cmd/api`, a directory under dir, becomes `./cmd/api` (bare, Go would
 * look for it in the standard library); import paths and `./…` stay.
 */
export function packageArg(dir: string, pkg: string): string {
  if (pkg.startsWith('.') || isAbsolute(pkg)) return pkg;
  return existsSync(join(dir, pkg)) ? `./${pkg}` : pkg;
}

export type MainPackages = { ok: true; packages: string[] } | { ok: false; detail: string };

/**
 * The main packages under dir, as `./rel/path` ('.' for dir itself), the
 * folder's own first, then by path.
 */
export async function mainPackages(dir: string, env?: NodeJS.ProcessEnv): Promise<MainPackages> {
  const r = await execa('go', ['list', '-e', '-f', '{{if eq .Name "main"}}{{.Dir}}{{end}}', './...'], {
    cwd: dir,
    env,
    reject: false,
    all: true,
  });
  if (r.exitCode !== 0) return { ok: false, detail: goFailure(r, env) };
  if (!r.stdout.trim()) {
    // -e lists nothing, quietly, when the folder is no module: ask again for the reason.
    const plain = await execa('go', ['list', './...'], { cwd: dir, env, reject: false, all: true });
    if (plain.exitCode !== 0) return { ok: false, detail: goFailure(plain, env) };
  }
  const packages = r.stdout
    .split('\n')
    .filter((l) => l.trim())
    .map((d) => {
      const rel = relative(dir, d);
      return rel ? `./${rel}` : '.';
    })
    .sort((a, b) => (a === '.' ? -1 : b === '.' ? 1 : a.localeCompare(b)));
  return { ok: true, packages };
}

/** Why a `go` command failed: it could not be run at all, or its own errors. */
function goFailure(r: execa.ExecaReturnBase<string> & { all?: string }, env?: NodeJS.ProcessEnv): string {
  // With reject: false a failed spawn resolves too: say why rather than print nothing.
  if (r.exitCode === undefined || (r as { code?: string }).code === 'ENOENT') {
    const why = (r as { originalMessage?: string }).originalMessage ?? r.command;
    const path = env?.PATH ?? process.env.PATH ?? '';
    return `could not run \`go\` (${why}). Install Go, or make sure \`go\` is on the PATH VS Code starts with (PATH=${path}), then try again.`;
  }
  return buildErrors(String(r.all ?? r.stderr));
}

/** The lines of `go build` output that say what went wrong, without module download progress. */
export function buildErrors(output: string): string {
  const lines = output.split('\n').filter((l) => l.trim() && !/^go: (downloading|finding|extracting) /.test(l));
  const text = lines.join('\n');
  return text.length > 500 ? `…${text.slice(-500)}` : text;
}
