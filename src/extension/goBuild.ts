import execa from 'execa';

export type BuildResult = { ok: true } | { ok: false; detail: string };

/**
 * `go build -o out .` in dir. When only VCS stamping fails (git cannot read
 * the checkout: another user's clone, no git), builds again without the
 * stamp, which the traced binary does not need. A failure's detail says
 * what went wrong: that `go` could not be run, or the build's own errors.
 */
export async function goBuild(dir: string, out: string, env?: NodeJS.ProcessEnv): Promise<BuildResult> {
  const build = (flags: string[]) =>
    execa('go', ['build', ...flags, '-o', out, '.'], { cwd: dir, env, reject: false, all: true });
  let r = await build([]);
  if (r.exitCode !== 0 && /error obtaining VCS status/.test(String(r.all))) r = await build(['-buildvcs=false']);
  if (r.exitCode === 0) return { ok: true };
  // With reject: false a failed spawn resolves too: say why rather than print nothing.
  if (r.exitCode === undefined || (r as { code?: string }).code === 'ENOENT') {
    const why = (r as { originalMessage?: string }).originalMessage ?? r.command;
    const path = env?.PATH ?? process.env.PATH ?? '';
    return {
      ok: false,
      detail: `could not run \`go\` (${why}). Install Go, or make sure \`go\` is on the PATH VS Code starts with (PATH=${path}), then try again.`,
    };
  }
  return { ok: false, detail: buildErrors(String(r.all ?? r.stderr)) };
}

/** The lines of `go build` output that say what went wrong, without module download progress. */
export function buildErrors(output: string): string {
  const lines = output.split('\n').filter((l) => l.trim() && !/^go: (downloading|finding|extracting) /.test(l));
  const text = lines.join('\n');
  return text.length > 500 ? `…${text.slice(-500)}` : text;
}
