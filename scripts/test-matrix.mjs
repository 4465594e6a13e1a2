// npm run test:matrix: the probe integration suite against every supported Go release.
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { root, isRoot, requireGo } from './lib.mjs';
import { ensureSystem } from './prereqs.mjs';
import { GO_TOOLCHAINS } from './toolchains.mjs';

ensureSystem('test:matrix');
requireGo();

const args = [
  'test',
  '-count=1',
  '-timeout',
  '40m',
  '-v',
  '-run',
  'TestAttributionUnderConcurrency|TestKeepAliveAndCallSite|TestFanoutAndBackground|TestOnlyTargetProcess|TestProbeSitesAreEmulated|TestWorkersAndContext|TestDatabaseAndCacheUses|TestHTTP2ClientCalls|TestGRPCClientCalls|TestChi|TestEcho|TestHTTPCallStatus|TestTLSServerName|TestGRPC',
  './...',
];
const [cmd, argv] = isRoot() ? ['go', args] : ['sudo', ['-E', 'env', `PATH=${process.env.PATH}`, 'go', ...args]];
console.log(`Go releases: ${GO_TOOLCHAINS.join(', ')}`);
const r = spawnSync(cmd, argv, {
  stdio: 'inherit',
  cwd: join(root, 'test', 'probe'),
  env: { ...process.env, OL_GO_TOOLCHAINS: GO_TOOLCHAINS.join(',') },
});
process.exit(r.status ?? 1);
