// The real bundled panel in headless Chromium: rows, filter, grouping,
// keyboard, open-at-line messages, 100k rows virtualized, state restore.
import assert from 'node:assert/strict';
import { existsSync, mkdirSync } from 'node:fs';
import type { Server } from 'node:http';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { chromium, type Browser, type Page } from 'playwright-core';
import { Store } from '../../src/server/store';
import type { ToPanel } from '../../src/shared/messages';
import type { OutboundRecord, RequestRecord } from '../../src/shared/records';
import type { Row } from '../../src/shared/rows';
import { fixtureRecords, repoRoot } from './support/fixtures';
import { serveHarness } from './support/webviewHarness';
import { CHROMIUM_ARGS } from '../e2e/common.cjs';

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const MAIN = '/home/dev/sample/main.go';

let browser: Browser;
let server: Server;
let url: string;
let page: Page;

function fixtureRows(): Row[] {
  const s = new Store();
  s.ingest(fixtureRecords());
  return s.rowsAfter(0);
}

async function send(p: Page, m: ToPanel): Promise<void> {
  await p.evaluate(
    (msg) => {
      window.postMessage(msg, '*');
      return new Promise((r) => setTimeout(r, 20));
    },
    m as unknown as Record<string, unknown>,
  );
}
const posted = (p: Page) => p.evaluate(() => (window as unknown as { __posted: unknown[] }).__posted);
const rowCount = (p: Page) => p.locator('#lines .line.row').count();

async function openPanel(state?: unknown): Promise<Page> {
  const p = await browser.newPage({ viewport: { width: 1200, height: 520 } });
  p.on('pageerror', (e) => {
    throw e;
  });
  await p.goto(state ? `${url}?state=${encodeURIComponent(JSON.stringify(state))}` : url);
  await p.waitForFunction(() =>
    (window as unknown as { __posted: { type: string }[] }).__posted.some((m) => m.type === 'ready'),
  );
  return p;
}

async function setFilter(p: Page, text: string): Promise<void> {
  await p.locator('#filter input').fill(text);
  await p.waitForTimeout(200);
}

before(async () => {
  if (!existsSync(CHROMIUM)) {
    throw new Error(`Chromium not found at ${CHROMIUM}: install it (apt-get install -y chromium) or set CHROMIUM_PATH`);
  }
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: CHROMIUM_ARGS,
  });
  ({ url, server } = await serveHarness());
  page = await openPanel();
});
after(async () => {
  await browser?.close();
  server?.close();
});

test('the panel asks for data when it loads, and shows the rows it gets', async () => {
  assert.deepEqual((await posted(page))[0], { type: 'ready', afterSeq: 0 });
  await send(page, {
    type: 'snapshot',
    rows: fixtureRows(),
    dropped: 0,
    status: { state: 'tracing', pid: 41234, requests: 4 },
  });
  await page.waitForSelector('#lines .line.row');
  assert.equal(await rowCount(page), 5);
  const texts = await page.locator('#lines .line.row .path').allTextContents();
  assert.deepEqual(texts, ['/echo', '/echo', '/users/42', '/fanout', '(no request: background)']);
  assert.match((await page.locator('#status').textContent()) ?? '', /tracing pid 41234 · 5 rows/);
  assert.equal(await page.locator('#lines .line.row .trace').first().textContent(), '4bf92f3577b34da6a3ce929d0e0e4736');
});

test('a row expands to its outbound records; clicking the call site opens it', async () => {
  await page.locator('#lines .line.row', { hasText: '/users/42' }).click();
  const outs = page.locator('#lines .line.outbound');
  assert.equal(await outs.count(), 2);
  assert.match((await outs.first().textContent()) ?? '', /tcp\s*—\s*127\.0\.0\.1:38622 → 127\.0\.0\.1:18081\s*new/);
  await outs.nth(1).locator('a.callsite').click();
  const last = (await posted(page)).at(-1);
  assert.deepEqual(last, { type: 'open', file: '/home/dev/sample/store.go', line: 22 });
  await page.locator('#lines .line.row', { hasText: '/users/42' }).locator('a.handler').click();
  assert.deepEqual((await posted(page)).at(-1), { type: 'open', file: MAIN, line: 58 });
});

test('filter by text, route and host', async () => {
  await setFilter(page, 'fanout');
  assert.equal(await rowCount(page), 1);
  await setFilter(page, 'route:/users');
  assert.deepEqual(await page.locator('#lines .line.row .path').allTextContents(), ['/users/42']);
  await setFilter(page, 'host:15432');
  assert.equal(await rowCount(page), 1);
  await setFilter(page, 'host:18081 route:/echo');
  assert.equal(await rowCount(page), 2);
  await setFilter(page, '0af7651916cd');
  assert.deepEqual(await page.locator('#lines .line.row .path').allTextContents(), ['/fanout']);
  await setFilter(page, 'nothing-matches-this');
  assert.equal(await rowCount(page), 0);
  assert.match((await page.locator('#empty').textContent()) ?? '', /No request matches/);
  await setFilter(page, '');
  assert.equal(await rowCount(page), 5);
});

test('group by route and by remote endpoint', async () => {
  const select = async (value: string) => {
    await page.evaluate((v) => {
      const el = document.getElementById('group') as HTMLElement & { value: string };
      el.value = v;
      el.dispatchEvent(new Event('change'));
    }, value);
  };
  await select('route');
  const groups = await page.locator('#lines .line.group .grouplabel').allTextContents();
  assert.deepEqual(groups.slice(0, 1), ['GET /echo']);
  assert.ok(groups.includes('GET /users/:id'));
  await select('remote');
  const remote = await page.locator('#lines .line.group').allTextContents();
  assert.match(remote[0], /127\.0\.0\.1:18081\s*5 req/);
  assert.match(remote[1], /127\.0\.0\.1:15432\s*1 req/);
  // collapse a group with the mouse
  await page.locator('#lines .line.group').first().click();
  assert.equal(await page.locator('#lines .line.group').first().getAttribute('aria-expanded'), 'false');
  await page.locator('#lines .line.group').first().click();
  await select('none');
});

test('keyboard: arrows move, Enter expands, Enter on an outbound line opens its call site', async () => {
  await page.locator('#viewport').focus();
  await page.keyboard.press('Home');
  await page.keyboard.press('ArrowDown'); // second /echo (r2)
  await page.keyboard.press('Enter');
  await page.keyboard.press('ArrowDown'); // its outbound line
  await page.keyboard.press('Enter');
  assert.deepEqual((await posted(page)).at(-1), { type: 'open', file: MAIN, line: 47 });
  await page.keyboard.press('ArrowLeft'); // back to the request
  await page.keyboard.press('h');
  assert.deepEqual((await posted(page)).at(-1), { type: 'open', file: MAIN, line: 41 });
});

test('export posts the keys of the rows shown; stop posts stop', async () => {
  await setFilter(page, 'route:/echo');
  await page.locator('#export').click();
  const exp = (await posted(page)).at(-1) as { type: string; keys: string[] };
  assert.equal(exp.type, 'export');
  assert.equal(exp.keys.length, 2);
  await setFilter(page, '');
  await page.locator('#stop').click();
  assert.deepEqual((await posted(page)).at(-1), { type: 'stop' });
});

test('screenshot of the panel', async () => {
  mkdirSync(join(repoRoot, 'test', 'artifacts'), { recursive: true });
  await page.locator('#lines .line.row', { hasText: '/fanout' }).click();
  await page.screenshot({ path: join(repoRoot, 'test', 'artifacts', 'panel.png') });
  assert.ok(existsSync(join(repoRoot, 'test', 'artifacts', 'panel.png')));
});

test('state survives the panel being hidden (setState/getState) and pause holds rows back', async () => {
  await setFilter(page, 'route:/users');
  const state = await page.evaluate(() => (window as unknown as { __state: { filter: string } }).__state);
  assert.equal(state.filter, 'route:/users');
  const p2 = await openPanel(state);
  assert.equal(
    await p2.locator('#filter').evaluate((el) => (el as HTMLElement & { value: string }).value),
    'route:/users',
  );
  await send(p2, {
    type: 'snapshot',
    rows: fixtureRows(),
    dropped: 0,
    status: { state: 'tracing', pid: 1, requests: 4 },
  });
  assert.equal(await rowCount(p2), 1);
  await setFilter(p2, '');
  // pause: new rows wait until resumed
  await p2.locator('#pause').click();
  const extra = fixtureRows().map((r) => ({ ...r, key: r.key + 'x', seq: r.seq + 100 }));
  await send(p2, { type: 'rows', rows: extra, dropped: 0 });
  assert.equal(await rowCount(p2), 5);
  assert.match((await p2.locator('#status').textContent()) ?? '', /5 waiting \(paused\)/);
  await p2.locator('#pause').click();
  assert.equal((await p2.locator('#lines .line.row').count()) >= 5, true);
  assert.match((await p2.locator('#status').textContent()) ?? '', /10 rows/);
  // clear: rows gone, and a reload asks only for rows after the clear
  await p2.locator('#clear').click();
  assert.equal(await rowCount(p2), 0);
  const cleared = await p2.evaluate(
    () => (window as unknown as { __state: { clearedSeq: number } }).__state.clearedSeq,
  );
  assert.ok(cleared >= 105);
  const p3 = await openPanel(await p2.evaluate(() => (window as unknown as { __state: unknown }).__state));
  assert.deepEqual((await posted(p3))[0], { type: 'ready', afterSeq: cleared });
  await p2.close();
  await p3.close();
});

test('streamed rows update the lines as a rebuild would: appends, replacements, expanded rows', async () => {
  const p = await browser.newPage({ viewport: { width: 1200, height: 1400 } });
  p.on('pageerror', (e) => {
    throw e;
  });
  await p.goto(url);
  const base = fixtureRows()[0];
  let seq = 0;
  const row = (i: number, outs: number): Row => ({
    key: `1:r${i}`,
    seq: ++seq,
    kind: 'request',
    request: { ...(base.request as RequestRecord), id: `r${i}`, path: `/items/${i}` },
    outbound: Array.from({ length: outs }, (_, k) => ({
      ...base.outbound[0],
      request: `r${i}`,
      sport: 20000 + i * 10 + k,
    })),
  });
  const range = (a: number, b: number) => Array.from({ length: b - a }, (_, k) => a + k);
  // Every line's text in order (the viewport holds them all).
  const shown = () =>
    p.evaluate(() =>
      [...document.querySelectorAll<HTMLElement>('#lines .line')]
        .sort((a, b) => Number(a.dataset.i) - Number(b.dataset.i))
        .map((el) => (el.textContent ?? '').replace(/\s+/g, ' ').trim()),
    );
  const rebuilt = async () => {
    for (const v of ['route', 'none'])
      await p.evaluate((value) => {
        const el = document.getElementById('group') as HTMLElement & { value: string };
        el.value = value;
        el.dispatchEvent(new Event('change'));
      }, v);
    return shown();
  };
  const expand = (i: number) => p.locator('#lines .line.row', { hasText: new RegExp(`/items/${i}\\b`) }).click();
  const outsOf = async (i: number) => {
    const lines = await shown();
    const at = lines.findIndex((l) => new RegExp(`/items/${i}\\b`).test(l));
    let n = 0;
    while (lines[at + 1 + n]?.startsWith('tcp')) n++;
    return n;
  };

  await send(p, {
    type: 'snapshot',
    rows: range(0, 10).map((i) => row(i, 1)),
    dropped: 0,
    status: { state: 'tracing', pid: 1, requests: 10 },
  });
  await expand(2);
  await send(p, { type: 'rows', rows: [...range(10, 15).map((i) => row(i, 1)), row(2, 3), row(5, 2)], dropped: 0 });
  let streamed = await shown();
  assert.equal(await rowCount(p), 15);
  assert.equal(await outsOf(2), 3, 'the expanded row shows its new outbound records');
  assert.equal(await outsOf(5), 0);
  assert.deepEqual(streamed, await rebuilt());

  // a row appended and replaced in one batch; the expanded row shrinks
  await send(p, { type: 'rows', rows: [row(15, 1), row(16, 1), row(15, 2), row(2, 1)], dropped: 0 });
  streamed = await shown();
  assert.equal(await rowCount(p), 17);
  assert.equal(await outsOf(2), 1);
  assert.deepEqual(streamed, await rebuilt());

  await expand(15);
  await send(p, { type: 'rows', rows: [row(15, 3), row(17, 1)], dropped: 0 });
  streamed = await shown();
  assert.equal(await outsOf(15), 3);
  assert.ok(streamed.at(-1)?.includes('/items/17'), 'the appended row is last');
  assert.deepEqual(streamed, await rebuilt());
  await p.close();
});

test('100k rows: only the visible lines are in the DOM, scrolling reaches the end', async () => {
  const p = await openPanel();
  const base = fixtureRows()[0];
  const N = 100_000;
  const t0 = Date.now();
  await p.evaluate(
    ({ base, N }) => {
      const rows = [];
      for (let i = 0; i < N; i++) {
        const req = { ...(base.request as object), id: `r${i}`, path: `/items/${i}` } as RequestRecord;
        const o = { ...(base.outbound[0] as object), request: `r${i}`, sport: 10000 + (i % 50000) } as OutboundRecord;
        rows.push({ key: `1:r${i}`, seq: i + 1, kind: 'request', request: req, outbound: [o] });
      }
      window.postMessage(
        { type: 'snapshot', rows, dropped: 0, status: { state: 'tracing', pid: 1, requests: N } },
        '*',
      );
    },
    { base, N },
  );
  await p.waitForFunction(() => document.querySelectorAll('#lines .line.row').length > 0);
  const inDom = await p.locator('#lines .line').count();
  assert.ok(inDom < 80, `${inDom} lines in the DOM`);
  await p.locator('#viewport').focus();
  await p.keyboard.press('End');
  await p.waitForTimeout(100);
  const lastPaths = await p.locator('#lines .line.row .path').allTextContents();
  assert.ok(lastPaths.includes(`/items/${N - 1}`), 'the last row is rendered after End');
  await setFilter(p, '/items/99999');
  await p.waitForFunction(() => document.querySelectorAll('#lines .line.row').length === 1, undefined, {
    timeout: 10000,
  });
  assert.equal(await p.locator('#lines .line.row .path').textContent(), '/items/99999');
  assert.ok(Date.now() - t0 < 20000, `100k rows took ${Date.now() - t0} ms`);
  await p.close();
});

test('the stop button starts a trace when none runs', async () => {
  const p = await openPanel();
  await send(p, { type: 'status', status: { state: 'stopped', requests: 0, message: 'trace ended (target-exited)' } });
  assert.equal((await p.locator('#stop').textContent())?.trim(), 'Trace…');
  assert.match((await p.locator('#status').textContent()) ?? '', /stopped · 0 rows · trace ended \(target-exited\)/);
  await p.locator('#stop').click();
  assert.deepEqual((await posted(p)).at(-1), { type: 'trace' });
  await p.close();
});

test('the extension can set the filter (a code lens shows its route)', async () => {
  const p = await openPanel();
  await send(p, {
    type: 'snapshot',
    rows: fixtureRows(),
    dropped: 0,
    status: { state: 'tracing', pid: 1, requests: 4 },
  });
  await send(p, { type: 'filter', text: 'route:/users/:id' });
  assert.deepEqual(await p.locator('#lines .line.row .path').allTextContents(), ['/users/42']);
  assert.equal(
    await p.locator('#filter').evaluate((el) => (el as HTMLElement & { value: string }).value),
    'route:/users/:id',
  );
  await p.close();
});

test('lost events show in the status line, with why in its tooltip', async () => {
  const p = await openPanel();
  await send(p, { type: 'status', status: { state: 'tracing', pid: 7, requests: 3, lost: 25661 } });
  assert.match((await p.locator('#status').textContent()) ?? '', /tracing pid 7 · 0 rows · 25661 events lost/);
  assert.match((await p.locator('#status').getAttribute('title')) ?? '', /ring buffer/);
  await send(p, { type: 'status', status: { state: 'tracing', pid: 7, requests: 3 } });
  assert.doesNotMatch((await p.locator('#status').textContent()) ?? '', /lost/);
  await p.close();
});

/** Rows of one trace whose outbound records name what they did. */
function opRows(): Row[] {
  const base = {
    type: 'outbound' as const,
    pid: 1,
    proto: 'tcp',
    src: '127.0.0.1',
    reused: true,
    callSite: { func: 'main.h', file: MAIN, line: 10 },
  };
  const req = (id: string, path: string, startNs: number): RequestRecord => ({
    type: 'request',
    id,
    pid: 1,
    goid: 1,
    method: 'GET',
    path,
    route: path,
    handler: { func: 'main.h', file: MAIN, line: 9 },
    headers: {},
    traceId: '',
    startNs,
    endNs: startNs + 1e6,
  });
  const stmt = 'SELECT id, name, email, created_at FROM users WHERE id = $1 AND deleted_at IS NULL';
  const records = [
    {
      ...base,
      request: 'a',
      goid: 1,
      sport: 40001,
      dst: '10.9.8.7',
      dport: 443,
      tsNs: 2e9,
      via: 'http',
      op: {
        protocol: 'http',
        method: 'POST',
        scheme: 'https',
        host: 'api.stripe.com',
        path: '/v1/charges',
        status: 502,
        durationNs: 1.2e9,
      },
    },
    req('a', '/pay', 2e9),
    {
      ...base,
      request: 'b',
      goid: 2,
      sport: 40002,
      dst: '127.0.0.1',
      dport: 5432,
      tsNs: 3e9,
      via: 'write',
      op: { protocol: 'postgresql', verb: 'SELECT', statement: stmt },
    },
    {
      ...base,
      request: 'b',
      goid: 2,
      sport: 40003,
      dst: '127.0.0.1',
      dport: 6379,
      tsNs: 3e9 + 1,
      via: 'write',
      op: { protocol: 'redis', command: 'GET', key: 'session:42' },
    },
    req('b', '/users/42', 3e9),
    { ...base, request: 'c', goid: 3, sport: 40004, dst: '127.0.0.1', dport: 5432, tsNs: 4e9, via: 'connect' },
    {
      ...base,
      request: 'c',
      goid: 3,
      sport: 40004,
      dst: '127.0.0.1',
      dport: 5432,
      tsNs: 4e9 + 1,
      via: 'write',
      op: { protocol: 'postgresql', verb: 'INSERT' },
    },
    req('c', '/target', 4e9),
  ] as (OutboundRecord | RequestRecord)[];
  const s = new Store();
  s.ingest(records);
  return s.rowsAfter(0);
}

test('outbound lines name their operation and outcome; host:, op:, status: and grouping by remote use it', async () => {
  const p = await openPanel();
  await send(p, { type: 'snapshot', rows: opRows(), dropped: 0, status: { state: 'tracing', pid: 1, requests: 3 } });
  await p.waitForSelector('#lines .line.row');
  assert.equal(await rowCount(p), 3);
  for (const path of ['/pay', '/users/42', '/target']) await p.locator('#lines .line.row', { hasText: path }).click();
  const ops = p.locator('#lines .line.outbound .op');
  assert.deepEqual(await ops.allTextContents(), [
    'POST api.stripe.com/v1/charges → 502',
    'SELECT id, name, email, created_at FROM users WHERE id = $1…',
    'redis GET session:42',
    '—',
    'INSERT',
  ]);
  // The cell is cut; its tooltip has the whole statement.
  assert.equal(
    await ops.nth(1).getAttribute('title'),
    'SELECT id, name, email, created_at FROM users WHERE id = $1 AND deleted_at IS NULL',
  );
  // A failed call (a 5xx, or no response) stands out.
  assert.equal(await p.locator('#lines .line.outbound .op.failed').count(), 1);
  assert.match((await p.locator('#lines .line.outbound .op.failed').textContent()) ?? '', /→ 502$/);
  const paths = () => p.locator('#lines .line.row .path').allTextContents();
  await setFilter(p, 'status:5xx');
  assert.deepEqual(await paths(), ['/pay']);
  await setFilter(p, 'status:502');
  assert.deepEqual(await paths(), ['/pay']);
  await setFilter(p, 'status:failed');
  assert.deepEqual(await paths(), ['/pay']);
  await setFilter(p, 'status:2xx');
  assert.equal(await rowCount(p), 0);
  await setFilter(p, 'op:SELECT');
  assert.deepEqual(await paths(), ['/users/42']);
  // op: matches at a word's start: GET is Redis's GET, not the GET in /target's route or "target".
  await setFilter(p, 'op:get');
  assert.deepEqual(await paths(), ['/users/42']);
  await setFilter(p, 'op:/v1/charges');
  assert.deepEqual(await paths(), ['/pay']);
  await setFilter(p, 'op:insert host:5432');
  assert.deepEqual(await paths(), ['/target']);
  await setFilter(p, 'host:stripe');
  assert.deepEqual(await paths(), ['/pay']);
  await setFilter(p, 'host:10.9.8.7:443');
  assert.deepEqual(await paths(), ['/pay']);
  await setFilter(p, 'op:update');
  assert.equal(await rowCount(p), 0);
  // The free text finds a statement's words too.
  await setFilter(p, 'deleted_at');
  assert.deepEqual(await paths(), ['/users/42']);
  await setFilter(p, '');
  await p.evaluate(() => {
    const el = document.getElementById('group') as HTMLElement & { value: string };
    el.value = 'remote';
    el.dispatchEvent(new Event('change'));
  });
  const groups = await p.locator('#lines .line.group').allTextContents();
  assert.equal(groups.length, 3);
  assert.match(groups[0], /127\.0\.0\.1:5432\s*2 req/);
  assert.match(groups[1], /127\.0\.0\.1:6379\s*1 req/);
  assert.match(groups[2], /api\.stripe\.com\s*1 req/);
  await p.close();
});
