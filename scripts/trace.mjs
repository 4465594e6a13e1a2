// npm run --silent trace -- --pid PID [--format text|ndjson] [--header NAME]... [--duration 30s]
// npm run --silent trace -- [options] -- /path/to/binary [args...]
import { spawn } from 'node:child_process';
import { buildHelper, privileged } from './lib.mjs';

let helper;
try {
  helper = buildHelper();
} catch (e) {
  console.error(`outbound-lens: ${e.message}`);
  process.exit(1);
}
const argv = [...privileged(helper), 'trace', ...process.argv.slice(2)];
const child = spawn(argv[0], argv.slice(1), { stdio: 'inherit' });
// The terminal sends Ctrl-C to the whole group; a kill of this script alone is forwarded.
process.on('SIGTERM', () => child.kill('SIGTERM'));
process.on('SIGINT', () => {});
child.on('exit', (code, signal) => process.exit(code ?? (signal ? 1 : 0)));
