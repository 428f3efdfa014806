// The ledger explorer's browser test (docs/testing.md, "The browser test"). It starts the real
// binary on a free loopback port with a temporary data directory and an API key file, makes
// accounts and transfers through the API (Node's fetch), and drives the page at /ui in
// Debian's Chromium, headless, through playwright-core (no browser of Playwright's own is
// used or downloaded). What the page shows is compared with what the API answers:
//
//   static files  each file is served with its type, no-cache, nosniff and a CSP without
//                 'unsafe-inline', byte for byte as in ui/, with no key; an unknown /ui/ path
//                 (/ui/ itself too) is the usual 401 (no key) or 404 (with the key)
//   no key        the page loads without a script error; the account, the stream and the
//                 metrics panels show the service's 401 error, code and message
//   the key       typed in, then the account (balance, available, pendingCredits, currency,
//                 limits) is the API's, with a pending transfer so that available differs;
//                 its history, 3 events a page newest first, reaches every event exactly once
//                 through "Next page", then "Previous" and "First"; oldest first too
//   the stream    a transfer made after the page opened appears with its seqs; paused and
//                 resumed (Last-Event-ID), and after the service is stopped and started again,
//                 it goes on with every seq exactly once, no gap, no duplicate
//   big amounts   an account of 2^63-1 is shown digit for digit
//   metrics       a burst of transfers: a throughput above 0, a commit mean and p99 in ms, the
//                 charts drawn; the stream caught up with the last seq
//   memory only   no storage, cookie or address holds the key; a reload forgets it
//
// A screenshot of the page goes to WS_UI_SCREENSHOT. No console error, page error, failed
// request or error status is allowed, but those each step provokes on purpose (the 401s
// without a key, the refused connections while the service is down, an aborted stream).
// Every wait is bounded, the server binds 127.0.0.1 only and is killed on exit.
// Env: WS_BINARY (required), WS_UI_SCREENSHOT (default: ui-explorer.png in the current
// directory), WS_CHROMIUM (default /usr/bin/chromium).
import { spawn } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const UI_DIR = path.join(HERE, '..', '..', 'ui');
const CHROMIUM = process.env.WS_CHROMIUM || '/usr/bin/chromium';
const SCREENSHOT = path.resolve(process.env.WS_UI_SCREENSHOT || 'ui-explorer.png');
const DEADLINE_MS = 180000; // the whole test; ctest's timeout is longer
const WAIT_MS = 15000; // one wait for the page
const A = '/api/1.0/wallet/';
const started = Date.now();

function mark(what) {
  console.log(`ui: ${what} at ${Date.now() - started} ms`);
}

// ---- processes ------------------------------------------------------------------------------

let tmp = null;
let server = null;
let browser = null;

function cleanup() {
  if (server && server.exitCode === null && server.signalCode === null) server.kill('SIGKILL');
  if (tmp) {
    fs.rmSync(tmp, { recursive: true, force: true });
    tmp = null;
  }
}
process.on('exit', cleanup);
for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
  process.on(sig, () => {
    cleanup();
    process.exit(2);
  });
}
const watchdog = setTimeout(() => {
  console.error(`ui: FAIL: the test took longer than ${DEADLINE_MS} ms`);
  console.log('0 passed, 1 failed');
  process.exit(1); // playwright-core kills the browser it launched when the process exits
}, DEADLINE_MS);
watchdog.unref();

const sleep = ms => new Promise(r => setTimeout(r, ms));

function startServer(port, dataDir, keyFile) {
  const p = spawn(process.env.WS_BINARY, ['--port', String(port), '--bind', '127.0.0.1',
    '--data-dir', dataDir, '--api-key-file', keyFile, '--io-threads', '2'],
  { stdio: ['ignore', 'pipe', 'pipe'] });
  p.out = '';
  p.err = '';
  p.stdout.on('data', d => (p.out += d));
  p.stderr.on('data', d => (p.err += d));
  p.exited = new Promise(resolve => p.on('exit', (code, sig) => resolve(code ?? sig)));
  return p;
}

async function listening(p) {
  const until = Date.now() + 30000;
  while (Date.now() < until && p.exitCode === null) {
    const m = /listening on 127\.0\.0\.1:(\d+)/.exec(p.out);
    if (m) return Number(m[1]);
    await sleep(20);
  }
  throw new Error(`the service did not listen within 30 s (exit ${p.exitCode}): ${p.err.slice(-2000)}`);
}

async function stopServer(p) {
  p.kill('SIGTERM');
  const code = await Promise.race([p.exited, sleep(15000).then(() => 'timeout')]);
  if (code !== 0) throw new Error(`the service exited ${code} after SIGTERM: ${p.err.slice(-2000)}`);
}

// ---- checks ---------------------------------------------------------------------------------

const failures = [];
function check(cond, msg) {
  if (!cond) {
    failures.push(msg);
    console.error(`ui: FAIL: ${msg}`);
  }
}

// Polls get() until ok(value), at most ms; returns the last value, and fails the test if it
// never was ok (then the later checks report what they see).
async function until(what, get, ok, ms = WAIT_MS) {
  const end = Date.now() + ms;
  let v;
  for (;;) {
    v = await get();
    if (ok(v)) return v;
    if (Date.now() > end) break;
    await sleep(50);
  }
  check(false, `${what}: not within ${ms} ms; last seen: ${JSON.stringify(v)?.slice(0, 600)}`);
  return v;
}

// ---- the API --------------------------------------------------------------------------------

let base = '';
let key = '';

async function api(method, target, body, { auth = true } = {}) {
  const headers = {};
  if (auth) headers.Authorization = `Bearer ${key}`;
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  const res = await fetch(base + target, {
    method, headers, redirect: 'manual', body: body === undefined ? undefined : JSON.stringify(body),
    signal: AbortSignal.timeout(10000),
  });
  const text = await res.text();
  let json;
  try {
    json = JSON.parse(text);
  } catch {
    json = undefined;
  }
  return { status: res.status, headers: res.headers, text, json };
}

async function must(method, target, body, status) {
  const r = await api(method, target, body);
  if (r.status !== status) throw new Error(`${method} ${target}: ${r.status}, expected ${status}: ${r.text}`);
  return r.json;
}

const transfer = (transferID, fromAccount, toAccount, amount, extra = {}) =>
  must('POST', A + 'transfers', { transferID, fromAccount, toAccount, amount, ...extra }, 200);

async function allEvents() {
  const out = [];
  let after = 0;
  for (let i = 0; i < 1000; i++) {
    const p = await must('GET', `${A}events?after=${after}&limit=1000`, undefined, 200);
    out.push(...p.events);
    if (p.next === null) return out;
    after = p.next;
  }
  throw new Error('the event log is longer than the test ever makes');
}

async function seqsOf(transferID) {
  return (await allEvents()).filter(e => e.transactionID === transferID).map(e => String(e.seq));
}

// ---- the page -------------------------------------------------------------------------------

let page = null;
let phase = 'load';
const seen = { console: [], pageErrors: [], failed: [], statuses: [] };

const text = id => page.locator(`#${id}`).textContent();
const visible = id => page.locator(`#${id}`).isVisible();
const rows = table => page.$$eval(`#${table} tbody tr`,
  trs => trs.map(tr => Array.from(tr.cells, td => td.textContent)));

async function lookUp(id, limit, newestFirst = true) {
  await page.fill('#account-id', id);
  await page.fill('#page-limit', String(limit));
  await page.setChecked('#newest-first', newestFirst);
  await page.click('#account-lookup');
}

// What the page's history and stream rows hold for an event, as app.js renders it.
const shown = v => (v === null || v === undefined ? '' : String(v));
const time = t => t.replace('T', ' ').replace(/Z$/, '');
const historyRow = e => [e.seq, time(e.timestamp), e.type, e.amount, e.balance, e.available,
  e.pendingCredits, e.counterparty, e.transactionID, e.pendingID].map(shown);

// The stream table: every seq once, and no gap between the lowest and the highest shown.
async function checkStreamExactlyOnce(where) {
  const seqs = (await rows('stream')).map(r => Number(r[0]));
  const sorted = [...seqs].sort((a, b) => a - b);
  const unique = new Set(seqs).size === seqs.length;
  const gapless = sorted.length === 0 || sorted[sorted.length - 1] - sorted[0] + 1 === sorted.length;
  check(unique && gapless, `${where}: the stream shows seqs with a duplicate or a gap: ${sorted.join(' ')}`);
}

function allowed(kind, item) {
  const data = /\/api\/|\/metrics/.test(item.url ?? '');
  const stream = /\/events\/stream/.test(item.url ?? '');
  const keyless = item.phase === 'nokey' || item.phase === 'reloaded';
  switch (kind) {
    case 'status':
      return (keyless && item.status === 401 && data) || (item.phase === 'restart' && item.status === 503 && data);
    case 'failed':
      return (stream && item.error === 'net::ERR_ABORTED') ||
        (item.phase === 'restart' && data && /ERR_CONNECTION_REFUSED|ERR_EMPTY_RESPONSE|ERR_CONNECTION_RESET/.test(item.error));
    case 'console':
      return (keyless && /status of 401/.test(item.text)) ||
        (item.phase === 'restart' && /ERR_CONNECTION_REFUSED|ERR_EMPTY_RESPONSE|ERR_CONNECTION_RESET|status of 503/.test(item.text));
    default:
      return false;
  }
}

function watch(p) {
  p.on('console', m => {
    if (m.type() === 'error' || m.type() === 'warning') {
      seen.console.push({ phase, type: m.type(), text: m.text(), url: m.location()?.url });
    }
  });
  p.on('pageerror', e => seen.pageErrors.push({ phase, text: String(e) }));
  p.on('requestfailed', r => seen.failed.push({ phase, url: r.url(), error: r.failure()?.errorText ?? '' }));
  p.on('response', r => {
    if (r.status() >= 400) seen.statuses.push({ phase, url: r.url(), status: r.status() });
  });
}

// ---- the steps ------------------------------------------------------------------------------

async function staticFiles() {
  const files = [['/ui', 'index.html', 'text/html; charset=utf-8'],
    ['/ui/app.js', 'app.js', 'text/javascript; charset=utf-8'],
    ['/ui/style.css', 'style.css', 'text/css; charset=utf-8']];
  for (const [target, file, type] of files) {
    const f = await api('GET', target, undefined, { auth: false });
    const h = f.headers;
    check(f.status === 200, `GET ${target} without a key: ${f.status} ${f.text.slice(0, 200)}`);
    check(h.get('content-type') === type, `${target}: Content-Type ${h.get('content-type')}`);
    check(h.get('cache-control') === 'no-cache', `${target}: Cache-Control ${h.get('cache-control')}`);
    check(h.get('x-content-type-options') === 'nosniff', `${target}: X-Content-Type-Options ${h.get('x-content-type-options')}`);
    const csp = h.get('content-security-policy') ?? '';
    check(/^default-src 'self';/.test(csp) && !/unsafe-/.test(csp) && /script-src 'self'/.test(csp) &&
      /style-src 'self'/.test(csp) && /connect-src 'self'/.test(csp), `${target}: CSP ${csp}`);
    check(f.text === fs.readFileSync(path.join(UI_DIR, file), 'utf8'), `${target}: not the bytes of ui/${file}`);
  }
  for (const target of ['/ui/nope.js', '/ui/']) {
    const nokey = await api('GET', target, undefined, { auth: false });
    check(nokey.status === 401 && nokey.json?.error?.code === 'unauthorized', `GET ${target} without a key: ${nokey.status} ${nokey.text}`);
    const nope = await api('GET', target);
    check(nope.status === 404 && nope.json?.error?.code === 'not_found', `GET ${target}: ${nope.status} ${nope.text}`);
  }
  const post = await api('POST', '/ui', undefined, { auth: false });
  check(post.status === 405 && post.headers.get('allow') === 'GET', `POST /ui: ${post.status} Allow ${post.headers.get('allow')}`);
  const data = await api('GET', `${A}accounts/alice`, undefined, { auth: false });
  check(data.status === 401, `the API without a key: ${data.status}`);
}

async function makeLedger() {
  await must('POST', A + 'accounts', { accountID: 'alice', startAmount: 1000, currency: 'EUR', overdraftLimit: 50 }, 201);
  await must('POST', A + 'accounts', { accountID: 'bob', startAmount: 500, currency: 'EUR', maxBalance: 1000000 }, 201);
  await must('POST', A + 'accounts', { accountID: 'carol', startAmount: 1000000, currency: 'EUR' }, 201);
  await must('POST', A + 'accounts', { accountID: 'big', startAmount: '9223372036854775807' }, 201);
  for (let i = 1; i <= 7; i++) await transfer(`t-${i}`, 'alice', 'bob', i);
  await transfer('t-back', 'bob', 'alice', 11);
  // A pending transfer: alice's available is 30 below her balance, bob's pendingCredits 30.
  await transfer('auth-1', 'alice', 'bob', 30, { pending: true, timeoutSeconds: 3600 });
}

async function withoutKey(noKeyMessage) {
  phase = 'nokey';
  const res = await page.goto(`${base}/ui`, { waitUntil: 'load' });
  check(page.url() === `${base}/ui`, `/ui led to ${page.url()}`);
  check(res?.status() === 200, `the page: ${res?.status()}`);
  check(await page.title() === 'wallet-service: ledger explorer', `title: ${await page.title()}`);
  const want = `401 unauthorized: ${noKeyMessage}`;
  await until('the stream panel shows the 401', () => text('stream-error'), t => t === want);
  await until('the metrics panel shows the 401', () => text('metrics-error'), t => t === want);
  await until('the stream stops asking', () => text('stream-state'), t => /needs a valid key/.test(t));
  await lookUp('alice', 3);
  await until('the account panel shows the 401', () => text('account-error'), t => t === want);
  check(!(await visible('account-fields')), 'account fields shown without a key');
  mark('page loaded, the 401s shown');
}

async function typeKey() {
  await page.fill('#api-key', key);
  await page.click('#key-use');
  phase = 'keyed';
  check(await page.inputValue('#api-key') === '', 'the key field still holds the key after use');
  check(/a key is set/.test(await text('key-state')), `key state: ${await text('key-state')}`);
  await until('the stream is live with the key', () => text('stream-state'), t => t.startsWith('live'));
  await until('the metrics are polled with the key', () => text('metrics-state'), t => t.startsWith('updated'));
  check(!(await visible('stream-error')) && !(await visible('metrics-error')), 'errors still shown with the key');
}

async function accountMatches(id) {
  const a = await must('GET', `${A}accounts/${id}`, undefined, 200);
  const want = {
    accountID: a.accountID, balance: String(a.balance), available: String(a.available),
    pendingCredits: String(a.pendingCredits), currency: a.currency,
    overdraftLimit: String(a.overdraftLimit), maxBalance: a.maxBalance === null ? 'none' : String(a.maxBalance),
  };
  const got = async () => {
    const o = {};
    for (const f of Object.keys(want)) o[f] = await text(`acct-${f}`);
    return o;
  };
  await until(`account ${id} as the API answers it`, got, o => JSON.stringify(o) === JSON.stringify(want));
  return a;
}

async function account() {
  await lookUp('alice', 3);
  const a = await accountMatches('alice');
  check(a.available !== a.balance, `alice's available ${a.available} should differ from her balance ${a.balance}`);
  await lookUp('bob', 3);
  const b = await accountMatches('bob');
  check(b.pendingCredits === 30, `bob's pendingCredits ${b.pendingCredits}`);
  mark('accounts shown as the API answers them');
}

async function historyPaging() {
  const want = (await must('GET', `${A}accounts/alice/events?reverse=true&limit=1000`, undefined, 200)).events;
  check(want.length === 10, `alice has ${want.length} events, the test made 10`);
  await lookUp('alice', 3);
  await accountMatches('alice');
  const got = [];
  const pages = [];
  for (let n = 1; n <= 20; n++) {
    const state = await until(`history page ${n}`, () => text('history-state'), t => t.startsWith(`alice: page ${n},`));
    const r = await rows('history');
    got.push(...r);
    pages.push(r);
    if (await page.isDisabled('#history-next')) {
      check(/the last page/.test(state), `the last page says: ${state}`);
      break;
    }
    await page.click('#history-next');
  }
  const expected = want.map(historyRow);
  check(JSON.stringify(got) === JSON.stringify(expected),
    `the pages' rows are not alice's events, newest first, each once:\n got ${JSON.stringify(got)}\nwant ${JSON.stringify(expected)}`);
  check(pages.length === 4 && pages.slice(0, 3).every(p => p.length === 3) && pages[3].length === 1,
    `pages of 3: ${pages.map(p => p.length).join(' ')}`);
  await page.click('#history-prev');
  await until('the previous page', () => text('history-state'), t => t.startsWith('alice: page 3,'));
  check(JSON.stringify(await rows('history')) === JSON.stringify(pages[2]), 'Previous page shows page 3 again');
  await page.click('#history-first');
  await until('the first page', () => text('history-state'), t => t.startsWith('alice: page 1,'));
  check(JSON.stringify(await rows('history')) === JSON.stringify(pages[0]), 'First page shows page 1 again');
  await lookUp('alice', 3, false);
  await until('oldest first', () => rows('history'),
    r => JSON.stringify(r) === JSON.stringify([...expected].reverse().slice(0, 3)));
  mark(`history: ${want.length} events in ${pages.length} pages, each once`);
}

async function streamRows(transferID, seqs) {
  return until(`the stream shows ${transferID} (seqs ${seqs.join(' ')})`, () => rows('stream'),
    r => seqs.every(s => r.some(row => row[0] === s && row[6] === transferID)));
}

async function liveStream() {
  await transfer('live-1', 'alice', 'bob', 7);
  const s1 = await seqsOf('live-1');
  check(s1.length === 2, `live-1 made ${s1.length} events`);
  await streamRows('live-1', s1);
  await checkStreamExactlyOnce('live');
  // Paused, the stream misses nothing: Resume sends Last-Event-ID.
  await page.click('#stream-toggle');
  await until('the stream pauses', () => text('stream-state'), t => t.startsWith('paused'));
  await transfer('live-2', 'bob', 'alice', 3);
  const s2 = await seqsOf('live-2');
  await sleep(300);
  check(!(await rows('stream')).some(r => r[6] === 'live-2'), 'a paused stream showed a new event');
  await page.click('#stream-toggle');
  await until('the stream resumes', () => text('stream-state'), t => t.startsWith('live, resumed after seq'));
  await streamRows('live-2', s2);
  await checkStreamExactlyOnce('after Resume');
  mark('the stream shows new transfers, paused and resumed');
}

async function serviceRestart(port, dataDir, keyFile) {
  phase = 'restart';
  await stopServer(server);
  await until('the page sees the stream drop', () => text('stream-state'), t => /^disconnected|^reconnecting/.test(t));
  server = startServer(port, dataDir, keyFile);
  check(await listening(server) === port, 'the service came back on its port');
  await until('the stream reconnects after the drop', () => text('stream-state'),
    t => t.startsWith('live, resumed after seq'), 30000);
  await until('the metrics poll again', async () => [await text('metrics-state'), await visible('metrics-error')],
    ([t, err]) => t.startsWith('updated') && !err, 30000);
  await sleep(500); // the last refused request's console line may trail the page's recovery
  phase = 'keyed';
  await transfer('live-3', 'alice', 'carol', 5);
  const s3 = await seqsOf('live-3');
  await streamRows('live-3', s3);
  await checkStreamExactlyOnce('after the restart');
  mark('the stream resumed after the service restarted');
}

async function bigAmount() {
  const r = await api('GET', `${A}accounts/big`);
  check(r.text.includes('"balance":9223372036854775807'), `the API's big account: ${r.text}`);
  await lookUp('big', 3);
  await until('2^63-1 shown digit for digit', () => text('acct-balance'), t => t === '9223372036854775807');
  await until('and in the history', () => rows('history'), rr => rr.length === 1 && rr[0][3] === '9223372036854775807');
}

async function throughput() {
  await lookUp('alice', 3);
  await accountMatches('alice');
  // A burst of transfers from 4 clients at once until the page has shown a throughput above 0
  // for at least one poll, at most 20 s and 40,000 transfers.
  const end = Date.now() + 20000;
  let sent = 0;
  let stop = false;
  let rate = 0;
  const worker = async () => {
    while (!stop && Date.now() < end && sent < 40000) {
      sent++;
      await must('POST', A + 'transfers', { fromAccount: 'carol', toAccount: 'bob', amount: 1 }, 200);
    }
  };
  const burstStart = Date.now();
  const workers = [worker(), worker(), worker(), worker()];
  while (Date.now() < end) {
    rate = Number(await text('m-rate'));
    if (rate > 0 && Date.now() - burstStart > 2500) break;
    await sleep(100);
  }
  stop = true;
  await Promise.all(workers);
  const burstMs = Date.now() - burstStart;
  check(rate > 0, `the throughput shown during a burst of ${sent} transfers: ${rate}`);
  const mean = await until('a commit mean in ms', () => text('m-mean'), t => Number(t) > 0, 10000);
  const p99 = await until('a commit p99 in ms', () => text('m-p99'), t => Number(t) > 0, 10000);
  check(Number(p99) >= Number(mean) * 0.5, `p99 ${p99} ms against a mean of ${mean} ms`);
  const minute = Number(await text('m-rate-minute'));
  check(minute > 0, `the last minute's throughput: ${minute}`);
  // The charts: each series drew its points (3x3 squares of its colour, on whole pixels). Each
  // canvas is read once (a second read makes Chromium warn).
  const drawn = await page.evaluate(() => [['chart-rate', [[31, 111, 235]]],
    ['chart-latency', [[26, 127, 55], [207, 34, 46]]]].flatMap(([id, colours]) => {
    const c = document.getElementById(id);
    const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
    return colours.map(([r, g, b]) => {
      let n = 0;
      for (let i = 0; i < d.length; i += 4) n += d[i] === r && d[i + 1] === g && d[i + 2] === b ? 1 : 0;
      return n;
    });
  }));
  check(drawn.every(n => n >= 9), `pixels of the charts' series (applied/s, mean, p99): ${drawn.join(' ')}`);
  // The stream keeps up: its last seq reaches the service's.
  const m = await api('GET', '/metrics');
  const last = /^wallet_last_seq (\d+)$/m.exec(m.text)?.[1];
  await until(`the stream reaches the last seq ${last}`, () => text('stream-count'),
    t => new RegExp(`the last seq ${last};`).test(t), 20000);
  await checkStreamExactlyOnce('after the burst');
  const s = await text('m-seq');
  check(Number(s) <= Number(last) && Number(s) > 0, `last seq shown ${s}, the service's ${last}`);
  mark(`metrics: ${sent} transfers in ${burstMs} ms; shown ${rate}/s now, ${minute}/s in the last minute, commit mean ${mean} ms, p99 ${p99} ms`);
}

async function memoryOnly() {
  const stored = await page.evaluate(k => ({
    local: localStorage.length, session: sessionStorage.length, cookie: document.cookie,
    inDom: document.documentElement.outerHTML.includes(k), inUrl: location.href.includes(k),
  }), key);
  check(stored.local === 0 && stored.session === 0 && stored.cookie === '' && !stored.inDom && !stored.inUrl,
    `the key is kept somewhere but memory: ${JSON.stringify(stored)}`);
  check((await page.context().cookies()).length === 0, 'the page set a cookie');
  phase = 'reloaded';
  await page.reload({ waitUntil: 'load' });
  check(/^no key/.test(await text('key-state')), `after a reload: ${await text('key-state')}`);
  await lookUp('alice', 3);
  await until('after a reload the key is gone: 401', () => text('account-error'), t => t.startsWith('401 unauthorized'));
  await until('and the stream needs it again', () => text('stream-error'), t => t.startsWith('401 unauthorized'));
  mark('a reload forgot the key');
}

function reportUnexpected() {
  for (const [kind, list] of [['console', seen.console], ['failed', seen.failed], ['status', seen.statuses]]) {
    for (const item of list) {
      check(allowed(kind, item), `unexpected ${kind === 'failed' ? 'failed request' : kind === 'status' ? 'error status' : 'console message'}: ${JSON.stringify(item)}`);
    }
  }
  for (const e of seen.pageErrors) check(false, `a script error in the page: ${JSON.stringify(e)}`);
  const aborted = seen.failed.filter(f => f.error === 'net::ERR_ABORTED').length;
  console.log(`ui: console messages ${seen.console.length}, failed requests ${seen.failed.length} (${aborted} stream aborts), ` +
    `error statuses ${seen.statuses.length}: each one provoked on purpose`);
}

async function main() {
  if (!process.env.WS_BINARY) throw new Error('WS_BINARY is not set (tests/CMakeLists.txt sets it)');
  if (Number(process.versions.node.split('.')[0]) < 18) throw new Error(`playwright-core needs Node.js 18 or later, not ${process.version}`);
  if (!fs.existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} is missing: scripts/install-deps.sh installs Debian's chromium`);
  let chromium;
  try {
    ({ chromium } = await import('playwright-core'));
  } catch (e) {
    throw new Error(`playwright-core is missing (run tests/ui/npm-ci.sh): ${e.message}`);
  }
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'ws-ui-'));
  key = `ui-${crypto.randomBytes(16).toString('hex')}`;
  const keyFile = path.join(tmp, 'keys');
  fs.writeFileSync(keyFile, `${key}\n`, { mode: 0o600 });
  const dataDir = path.join(tmp, 'data');
  server = startServer(0, dataDir, keyFile);
  const port = await listening(server);
  base = `http://127.0.0.1:${port}`;
  mark(`service up on port ${port}`);

  await staticFiles();
  await makeLedger();
  const noKey = await api('GET', `${A}accounts/alice`, undefined, { auth: false });
  mark('static files checked, ledger made');

  browser = await chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    timeout: 30000,
    args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage'],
  });
  const context = await browser.newContext({ viewport: { width: 1400, height: 1000 } });
  page = await context.newPage();
  page.setDefaultTimeout(WAIT_MS);
  watch(page);
  mark(`Chromium ${browser.version()} up`);
  try {
    await withoutKey(noKey.json.error.message);
    await typeKey();
    await account();
    await historyPaging();
    await liveStream();
    await serviceRestart(port, dataDir, keyFile);
    await bigAmount();
    await throughput();
    await page.screenshot({ path: SCREENSHOT, fullPage: true });
    console.log(`ui: screenshot ${SCREENSHOT}`);
    await memoryOnly();
    reportUnexpected();
  } finally {
    await Promise.race([browser.close(), sleep(10000)]);
  }
  await stopServer(server);
}

main().then(() => {
  cleanup();
  const ms = Date.now() - started;
  if (failures.length > 0) {
    console.error(`ui: ${failures.length} failure(s) in ${ms} ms`);
    console.log('0 passed, 1 failed');
    process.exit(1);
  }
  console.log(`ui: OK: the browser test took ${(ms / 1000).toFixed(1)} s (wall time, npm ci not included)`);
  process.exit(0);
}, async e => {
  console.error(`ui: FAIL: ${e.stack || e}`);
  for (const f of failures) console.error(`ui:   and: ${f}`);
  if (browser) await Promise.race([browser.close().catch(() => {}), sleep(5000)]);
  cleanup();
  console.log('0 passed, 1 failed');
  process.exit(1);
});
