// The OpenAPI contract test (docs/testing.md, "The contract test"). It starts the real binary
// on loopback with a temporary data directory, puts Prism's validating proxy (built from the
// document the binary serves, build/openapi.json) in front of it, and sends through the proxy
// a suite that takes every route of the document to its success and error answers. A request
// or an answer that breaks the document fails the test.
//
// Five proxies, each a `prism proxy` process on its own loopback port:
//   strict  --errors, in front of the main service: requests the document allows. Prism answers
//           a request that breaks the document with its own 422, and an answer that breaks it
//           with its own 500 (application/problem+json); either, or any sl-violations header,
//           fails the test.
//   lenient without --errors, in front of the same service: requests that break the document
//           on purpose, to provoke the 400s, 413 and 415 that answer them (with --errors, Prism
//           would answer them itself and the service would never be asked). Prism forwards
//           them and lists what it found in the sl-violations header: each must show the
//           request violation the case expects (so the document forbids what the service
//           refuses) and no response violation at all.
//   keyed   --errors, in front of a second service (the test twin wallet-service-faulty) with an
//           API key file, small body limits, a write queue of one, slow commits and a held
//           start: 401, 413, 503 starting, overloaded and read-only, through the document.
//   mutant  --errors and without, in front of the main service, with a copy of the document in
//           which an answer schema of each kind is made wrong: each must be caught, or the
//           harness could not see a bad answer at all.
// What no Prism can carry goes straight to the service and is checked by hand (status, code,
// headers, the error shape): a body that is not JSON (Prism's own parser refuses it, and it
// re-serializes what it parses, so duplicate keys and bytes are lost), a path or method that is
// no route (Prism validates no answer for those), a malformed %-escape (Prism decodes and
// re-encodes the query), framing and Expect (Node's HTTP server answers them itself), and a
// request that arrives too slowly.
//
// Every wait and loop is bounded; servers bind 127.0.0.1 only; every process started here is
// killed on exit. Env: WS_BINARY, WS_FAULTY_BINARY, WS_OPENAPI_JSON (required).
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const PRISM = path.join(HERE, 'node_modules', '.bin', 'prism');
const DEADLINE_MS = 150000; // the whole test; ctest's timeout is longer
const started = Date.now();

// ---- processes ------------------------------------------------------------------------------

const children = new Set();
let tmp = null;

function cleanup() {
  for (const p of children) {
    try {
      p.kill('SIGKILL');
    } catch {
      /* already gone */
    }
  }
  children.clear();
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
  console.error(`contract: FAIL: the test took longer than ${DEADLINE_MS} ms`);
  process.exit(1);
}, DEADLINE_MS);
watchdog.unref();

function start(name, cmd, args, env = {}) {
  const p = spawn(cmd, args, {
    env: { ...process.env, NO_COLOR: '1', FORCE_COLOR: '0', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  p.name = name;
  p.out = '';
  p.err = '';
  p.log = ''; // both, in the order they arrived: offsets into it stay valid as it grows
  p.stdout.on('data', d => {
    p.out += d;
    p.log += d;
  });
  p.stderr.on('data', d => {
    p.err += d;
    p.log += d;
  });
  p.exitCode_ = null;
  p.on('exit', (code, sig) => {
    p.exitCode_ = code ?? sig;
    children.delete(p);
  });
  children.add(p);
  return p;
}

const sleep = ms => new Promise(r => setTimeout(r, ms));

// Waits until test(p) is true, at most ms; fails with the process's output otherwise.
async function waitFor(p, what, test, ms) {
  const until = Date.now() + ms;
  while (Date.now() < until) {
    const v = test(p);
    if (v) return v;
    if (p.exitCode_ !== null) break;
    await sleep(20);
  }
  throw new Error(`${p.name}: no ${what} within ${ms} ms (exit ${p.exitCode_})\n` +
    `stdout: ${p.out.slice(-2000)}\nstderr: ${p.err.slice(-2000)}`);
}

async function startService(name, bin, port, args, env = {}) {
  const dir = fs.mkdtempSync(path.join(tmp, `${name}-`));
  const p = start(name, bin, ['--port', String(port), '--bind', '127.0.0.1', '--data-dir', dir,
    '--io-threads', '1', ...args], env);
  p.dataDir = dir;
  return p;
}

function listeningPort(p) {
  const m = /listening on 127\.0\.0\.1:(\d+)/.exec(p.out);
  return m ? Number(m[1]) : 0;
}

// Whether port is free on 127.0.0.1 (0: any); resolves to the port bound, or 0 if it was taken.
function tryBind(port) {
  return new Promise(resolve => {
    const s = net.createServer();
    s.on('error', () => resolve(0));
    s.listen(port, '127.0.0.1', () => {
      const bound = s.address().port;
      s.close(() => resolve(bound));
    });
  });
}

// A free loopback port for a process that binds it seconds later (Prism, the keyed twin). Not
// one from the kernel's ephemeral range (ip_local_port_range): the kernel gives those to every
// bind to port 0 and to the local end of every outgoing connection, and on a busy machine (other
// tests' servers and clients) one of them took the port before Prism bound it (EADDRINUSE). A
// port below that range goes only to a process that asks for it by number.
const EPHEMERAL_LOW = (() => {
  try {
    return Number(fs.readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/)[0]);
  } catch {
    return 32768;
  }
})();
async function freePort() {
  if (EPHEMERAL_LOW > 11024) {
    for (let i = 0; i < 50; i++) {
      const port = await tryBind(EPHEMERAL_LOW - 1 - Math.floor(Math.random() * 10000));
      if (port) return port;
    }
  }
  return tryBind(0);
}

async function startPrism(name, doc, upstreamPort, errors) {
  const port = await freePort();
  const args = ['proxy', doc, `http://127.0.0.1:${upstreamPort}`, '--host', '127.0.0.1',
    '--port', String(port)];
  if (errors) args.push('--errors');
  const p = start(name, PRISM, args);
  p.port = port;
  p.errors = errors;
  p.doc = doc;
  p.upstreamPort = upstreamPort;
  return p;
}

// Waits until proxy p listens, and returns it; if another process took its port meanwhile
// (still possible, if unlikely, with freePort's ports), starts it again on another, twice at
// most, and returns that one.
async function prismUp(p) {
  for (let attempt = 1; ; attempt++) {
    try {
      await waitFor(p, 'listening line', q => /Prism is listening on/.test(q.out + q.err), 60000);
      return p;
    } catch (e) {
      if (attempt === 3 || !/EADDRINUSE/.test(p.out + p.err)) throw e;
      console.log(`contract: ${p.name}: port ${p.port} was taken before Prism bound it; another`);
      p = await startPrism(p.name, p.doc, p.upstreamPort, p.errors);
    }
  }
}

// ---- HTTP -----------------------------------------------------------------------------------

// What was sent to each port, in order ({method, target, body}), so that a line of a proxy's log
// can be traced back to the request it is about (proxyLogSuite).
const sentTo = new Map();

function request(port, method, target, { headers = {}, body = null } = {}) {
  if (!sentTo.has(port)) sentTo.set(port, []);
  sentTo.get(port).push({ method, target, body: body === null ? '' : String(body) });
  return new Promise((resolve, reject) => {
    const h = { ...headers };
    const data = body === null ? null : Buffer.isBuffer(body) ? body : Buffer.from(body);
    if (data && h['Content-Length'] === undefined) h['Content-Length'] = data.length;
    const req = http.request({ host: '127.0.0.1', port, method, path: target, headers: h,
      agent: false }, res => {
      const chunks = [];
      res.on('data', c => chunks.push(c));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        let json;
        try {
          json = JSON.parse(text);
        } catch {
          json = undefined;
        }
        resolve({ status: res.statusCode, headers: res.headers, text, json });
      });
    });
    req.setTimeout(15000, () => req.destroy(new Error(`${method} ${target}: no answer in 15 s`)));
    req.on('error', reject);
    req.end(data ?? undefined);
  });
}

// Sends raw bytes and reads until the server closes or ms pass.
function raw(port, bytes, ms = 3000) {
  return new Promise((resolve, reject) => {
    const s = net.connect(port, '127.0.0.1');
    let got = '';
    const t = setTimeout(() => s.destroy(), ms);
    s.on('data', d => (got += d));
    s.on('error', e => (got ? resolve(got) : reject(e)));
    s.on('close', () => {
      clearTimeout(t);
      resolve(got);
    });
    s.on('connect', () => s.write(bytes));
  });
}

function parseRaw(text) {
  const at = text.indexOf('\r\n\r\n');
  const head = text.slice(0, at).split('\r\n');
  const status = Number(head[0].split(' ')[1]);
  const headers = {};
  for (const l of head.slice(1)) {
    const i = l.indexOf(':');
    headers[l.slice(0, i).toLowerCase()] = l.slice(i + 1).trim();
  }
  let json;
  try {
    json = JSON.parse(text.slice(at + 4));
  } catch {
    json = undefined;
  }
  return { status, headers, text, json };
}

// ---- the document ---------------------------------------------------------------------------

const DOC_PATH = process.env.WS_OPENAPI_JSON;
const doc = JSON.parse(fs.readFileSync(DOC_PATH, 'utf8'));
const operations = []; // {method, template, re}
const skipped = []; // operations marked x-contract-skip (their reason in the document)
for (const [template, item] of Object.entries(doc.paths)) {
  for (const [method, op] of Object.entries(item)) {
    if (op['x-contract-skip']) {
      skipped.push(`${method.toUpperCase()} ${template}: ${op['x-contract-skip']}`);
      continue; // never sent through Prism: see docs/testing.md
    }
    const re = new RegExp('^' + template.replace(/[.]/g, '\\.').replace(/\{[^}]+\}/g, '[^/]+') + '$');
    operations.push({ method: method.toUpperCase(), template, re });
  }
}
function operationOf(method, target) {
  const p = target.split('?')[0];
  return operations.find(o => o.method === method && o.re.test(p));
}

// ---- checks and bookkeeping -----------------------------------------------------------------

const failures = [];
const codesSeen = new Map(); // code -> set of where ("strict", "lenient", "keyed", "direct")
const answered = new Map(); // "METHOD template" -> set of statuses seen through a strict proxy
let requestsSent = 0;

function fail(msg) {
  failures.push(msg);
  console.error(`contract: FAIL: ${msg}`);
}

function seeCode(code, where) {
  if (!codesSeen.has(code)) codesSeen.set(code, new Set());
  codesSeen.get(code).add(where);
}

// Prism's sl-violations header: a JSON list, cut short past 8 KiB (then prefixed "Too many
// violations!"). A list that cannot be read counts as a violation of the answer, since nothing
// proves it is not one.
function violations(res) {
  const v = res.headers['sl-violations'];
  if (!v) return [];
  try {
    return JSON.parse(v);
  } catch {
    return [{ location: ['unreadable'], severity: 'Error', message: v.slice(0, 300),
      response: v.includes('"location":["response"') }];
  }
}

// One request through a proxy, or straight to a service (proxy: {port, name, errors} or a
// service process), checked against what the case expects: status, the error code, and for the
// lenient proxy whether the request breaks the document.
async function call(via, method, target, opts = {}, expect = {}) {
  const port = via.port ?? listeningPort(via);
  const label = `${via.name}: ${method} ${target.length > 120 ? target.slice(0, 120) + '...' : target}`;
  let res;
  try {
    res = await request(port, method, target, opts);
  } catch (e) {
    fail(`${label}: ${e.message}`);
    return { status: 0, headers: {}, text: '', json: undefined };
  }
  requestsSent++;
  const v = violations(res);
  const isProxy = via.errors !== undefined;
  const problem = String(res.headers['content-type'] || '').startsWith('application/problem+json');
  if (isProxy && via.errors) {
    if (problem || v.length > 0) {
      fail(`${label}: Prism reports a violation of the document: ${res.status} ` +
        `${res.headers['sl-violations'] || ''} ${res.text.slice(0, 1500)}`);
      return res;
    }
  } else if (isProxy) {
    const responseSide = v.filter(x => x.location[0] !== 'request');
    const requestSide = v.filter(x => x.location[0] === 'request' && x.severity === 'Error');
    if (problem || responseSide.length > 0) {
      fail(`${label}: the answer breaks the document: ${JSON.stringify(responseSide)} ${res.text.slice(0, 500)}`);
    }
    if (expect.requestViolation === true && requestSide.length === 0) {
      fail(`${label}: the document allows this request, but the service refuses it with ${res.status}`);
    }
    if (expect.requestViolation === false && requestSide.length > 0) {
      fail(`${label}: the document forbids this request: ${JSON.stringify(requestSide)}`);
    }
  }
  if (expect.status !== undefined && res.status !== expect.status) {
    fail(`${label}: status ${res.status}, expected ${expect.status}: ${res.text.slice(0, 500)}`);
  }
  const code = res.json?.error?.code;
  if (expect.code !== undefined && code !== expect.code) {
    fail(`${label}: code ${code}, expected ${expect.code}: ${res.text.slice(0, 500)}`);
  }
  if (res.status >= 400 && !(res.json?.error && typeof res.json.error.code === 'string' &&
      typeof res.json.error.message === 'string')) {
    fail(`${label}: an error answer without the error shape: ${res.text.slice(0, 300)}`);
  }
  if (code) seeCode(code, isProxy ? via.name : 'direct');
  for (const r of res.json?.results ?? []) seeCode(r.code, via.name);
  if (isProxy) {
    const op = operationOf(method, target);
    if (op) {
      const k = `${op.method} ${op.template}`;
      if (!answered.has(k)) answered.set(k, new Set());
      answered.get(k).add(res.status);
    }
  }
  return res;
}

function check(cond, msg) {
  if (!cond) fail(msg);
}

const J = { 'Content-Type': 'application/json' };
const json = o => JSON.stringify(o);
const A = '/api/1.0/wallet/';

// ---- the suites -----------------------------------------------------------------------------

async function accountsSuite(S, L) {
  await call(S, 'POST', A + 'accounts', { headers: J, body: json({ accountID: 'alice', startAmount: 1000 }) }, { status: 201 });
  await call(S, 'POST', A + 'accounts', { headers: J, body: json({ accountID: 'bob', startAmount: '0001000' }) }, { status: 201 });
  await call(S, 'POST', A + 'accounts', { headers: J, body: json({ accountID: 'card', startAmount: 0, currency: 'EUR', overdraftLimit: 500, maxBalance: 10000 }) }, { status: 201 });
  await call(S, 'POST', A + 'accounts', { headers: J, body: json({ accountID: 'capped', startAmount: 0, currency: 'EUR', maxBalance: 100 }) }, { status: 201 });
  await call(S, 'POST', A + 'accounts', { headers: J, body: json({ accountID: 'big', startAmount: '9223372036854775807' }) }, { status: 201 });
  const gen = await call(S, 'POST', A + 'accounts', { headers: J, body: json({ startAmount: 5 }) }, { status: 201 });
  check(/^[0-9a-f-]{36}$/.test(gen.json?.accountID ?? ''), `a generated accountID is a UUID: ${gen.text}`);
  await call(S, 'POST', A + 'accounts', { headers: J, body: json({ accountID: 'alice', startAmount: 1 }) }, { status: 409, code: 'account_exists' });
  await call(S, 'POST', A + 'accounts', { headers: J, body: json({ accountID: 'x', startAmount: 500, maxBalance: 100 }) }, { status: 400, code: 'invalid_parameter' });
  // Idempotency-Key on a creation: the same request replays, another conflicts.
  const K = { ...J, 'Idempotency-Key': 'acc-key-1' };
  const first = await call(S, 'POST', A + 'accounts', { headers: K, body: json({ accountID: 'keyed', startAmount: 7 }) }, { status: 201 });
  const again = await call(S, 'POST', A + 'accounts', { headers: K, body: json({ accountID: 'keyed', startAmount: '007' }) }, { status: 201 });
  check(again.headers['idempotent-replayed'] === 'true' && again.text === first.text, `a replayed creation: ${again.text}`);
  await call(S, 'POST', A + 'accounts', { headers: K, body: json({ accountID: 'keyed', startAmount: 8 }) }, { status: 409, code: 'idempotency_key_conflict' });
  // GET /accounts/{id}
  const a = await call(S, 'GET', A + 'accounts/card', {}, { status: 200 });
  check(a.json?.currency === 'EUR' && a.json?.maxBalance === 10000, `GET /accounts/card: ${a.text}`);
  const b = await call(S, 'GET', A + 'accounts/alice', {}, { status: 200 });
  check(b.json?.maxBalance === null, `no maxBalance is null: ${b.text}`);
  await call(S, 'GET', A + 'accounts/nobody', {}, { status: 404, code: 'account_not_found' });
  await call(S, 'GET', A + 'accounts/alice?x=1', {}, { status: 400, code: 'invalid_parameter' });
  // What breaks the document on purpose.
  await call(L, 'GET', A + 'accounts/bad!id', {}, { status: 400, code: 'invalid_parameter', requestViolation: true });
  await call(L, 'POST', A + 'accounts', { headers: J, body: json({ startAmount: -1 }) }, { status: 400, code: 'invalid_parameter', requestViolation: true });
  await call(L, 'POST', A + 'accounts', { headers: J, body: json({ accountID: 'y', startAmount: 1, colour: 'red' }) }, { status: 400, code: 'invalid_parameter', requestViolation: true });
  await call(L, 'POST', A + 'accounts', { headers: J, body: json({ accountID: 'y' }) }, { status: 400, code: 'missing_parameter', requestViolation: true });
  await call(L, 'POST', A + 'accounts', { headers: J, body: json({ accountID: 'y', startAmount: 1, currency: 'eur' }) }, { status: 400, code: 'invalid_parameter', requestViolation: true });
  await call(L, 'POST', A + 'accounts', { headers: { ...J, 'Idempotency-Key': 'bad key' }, body: json({ startAmount: 1 }) }, { status: 400, code: 'invalid_parameter', requestViolation: true });
  await call(L, 'POST', A + 'accounts', { headers: { 'Content-Type': 'text/plain' }, body: json({ startAmount: 1 }) }, { status: 415, code: 'unsupported_media_type', requestViolation: true });
  await call(L, 'POST', A + 'accounts', {}, { status: 415, code: 'unsupported_media_type', requestViolation: true });
}

// 256 distinct currencies at most, XXX and EUR included: 254 more, then a refusal.
async function currenciesSuite(S) {
  let created = 0;
  let refused = null;
  for (let i = 0; i < 300 && !refused; i += 16) {
    const batch = [];
    for (let k = i; k < i + 16; k++) {
      const cur = 'C' + String(k).padStart(4, '0');
      batch.push(request(S.port, 'POST', A + 'accounts', { headers: J, body: json({ accountID: `cur-${k}`, startAmount: 0, currency: cur }) }));
    }
    for (const res of await Promise.all(batch)) {
      requestsSent++;
      if (res.headers['sl-violations'] || String(res.headers['content-type']).includes('problem')) {
        fail(`currencies: Prism reports a violation: ${res.text.slice(0, 500)}`);
      }
      if (res.status === 201) created++;
      else if (res.status === 422 && res.json?.error?.code === 'too_many_currencies') refused = res;
      else fail(`currencies: ${res.status} ${res.text.slice(0, 300)}`);
    }
  }
  check(refused && created === 254, `254 more currencies, then too_many_currencies: ${created} created`);
  if (refused) {
    seeCode('too_many_currencies', S.name);
    answered.get(`POST ${A}accounts`)?.add(422);
  }
}

async function seedSuite(S, L) {
  await call(S, 'GET', A + 'create_account?startAmount=1000&accountID=accountA', {}, { status: 201 });
  await call(S, 'GET', A + 'create_account?startAmount=0050&accountID=accountB', {}, { status: 201 });
  await call(S, 'GET', A + 'create_account?startAmount=1', {}, { status: 201 });
  await call(S, 'GET', A + 'create_account?startAmount=1&accountID=accountA', {}, { status: 409, code: 'account_exists' });
  await call(S, 'GET', A + 'create_account?startAmount=1&accountID=z&colour=red', {}, { status: 400, code: 'invalid_parameter' });
  await call(L, 'GET', A + 'create_account?accountID=z', {}, { status: 400, code: 'missing_parameter', requestViolation: true });
  await call(L, 'GET', A + 'create_account?startAmount=-1', {}, { status: 400, code: 'invalid_parameter', requestViolation: true });
  await call(L, 'GET', A + 'create_account?startAmount=9223372036854775808', {}, { status: 400, code: 'invalid_parameter', requestViolation: true });

  const bt = (q) => A + 'balance_transfer?' + q;
  const t1 = await call(S, 'GET', bt('fromAccount=accountA&toAccount=accountB&amount=50&transferID=seed-1'), {}, { status: 200 });
  const t1r = await call(S, 'GET', bt('fromAccount=accountA&toAccount=accountB&amount=050&transferID=seed-1'), {}, { status: 200 });
  check(t1r.headers['idempotent-replayed'] === 'true' && t1r.text === t1.text, `a replayed balance_transfer: ${t1r.text}`);
  await call(S, 'GET', bt('fromAccount=accountA&toAccount=accountB&amount=1'), {}, { status: 200 });
  await call(S, 'GET', bt('fromAccount=accountA&toAccount=accountB&amount=51&transferID=seed-1'), {}, { status: 409, code: 'transfer_id_conflict' });
  await call(S, 'GET', bt('fromAccount=accountA&toAccount=accountA&amount=1'), {}, { status: 422, code: 'same_account' });
  await call(S, 'GET', bt('fromAccount=accountA&toAccount=nobody&amount=1'), {}, { status: 404, code: 'account_not_found' });
  await call(S, 'GET', bt('fromAccount=accountA&toAccount=accountB&amount=999999&transferID=seed-poor'), {}, { status: 422, code: 'insufficient_funds' });
  const poor = await call(S, 'GET', bt('fromAccount=accountA&toAccount=accountB&amount=999999&transferID=seed-poor'), {}, { status: 422, code: 'insufficient_funds' });
  check(poor.headers['idempotent-replayed'] === 'true', 'a replayed refusal has Idempotent-Replayed');
  await call(S, 'GET', bt('fromAccount=accountA&toAccount=card&amount=1'), {}, { status: 422, code: 'currency_mismatch' });
  await call(S, 'GET', bt('fromAccount=card&toAccount=capped&amount=200'), {}, { status: 422, code: 'balance_limit_exceeded' });
  await call(S, 'GET', bt('fromAccount=accountA&toAccount=big&amount=1'), {}, { status: 422, code: 'balance_overflow' });
  await call(S, 'GET', bt('fromAccount=card&toAccount=capped&amount=20'), {}, { status: 200 });
  await call(L, 'GET', bt('toAccount=accountB&amount=1'), {}, { status: 400, code: 'missing_parameter', requestViolation: true });
  await call(L, 'GET', bt('fromAccount=accountA&toAccount=accountB&amount=0'), {}, { status: 400, code: 'invalid_parameter', requestViolation: true });

  await call(S, 'GET', A + 'get_balance?accountID=accountA', {}, { status: 200 });
  await call(S, 'GET', A + 'get_balance?accountID=nobody', {}, { status: 404, code: 'account_not_found' });
  await call(L, 'GET', A + 'get_balance', {}, { status: 400, code: 'missing_parameter', requestViolation: true });
  await call(L, 'GET', A + 'get_balance?accountID=a%20b', {}, { status: 400, code: 'invalid_parameter', requestViolation: true });
}

async function transfersSuite(S, L) {
  const T = A + 'transfers';
  const post = (via, body, expect, headers = J) => call(via, 'POST', T, { headers, body: typeof body === 'string' ? body : json(body) }, expect);
  await call(S, 'POST', A + 'accounts', { headers: J, body: json({ accountID: 'shop', startAmount: 0 }) }, { status: 201 });
  await call(S, 'POST', A + 'accounts', { headers: J, body: json({ accountID: 'carol', startAmount: 0 }) }, { status: 201 });

  const one = await post(S, { transferID: 't-1', fromAccount: 'alice', toAccount: 'bob', amount: 50 }, { status: 200 });
  check(one.json?.fromBalance === 950 && one.json?.toBalance === 1050, `t-1: ${one.text}`);
  const oneR = await post(S, { transferID: 't-1', fromAccount: 'alice', toAccount: 'bob', amount: '50' }, { status: 200 });
  check(oneR.headers['idempotent-replayed'] === 'true', 'a replayed transfer has Idempotent-Replayed');
  await post(S, { fromAccount: 'alice', toAccount: 'bob', amount: '007' }, { status: 200 });
  await post(S, { transferID: 't-1', fromAccount: 'alice', toAccount: 'bob', amount: 51 }, { status: 409, code: 'transfer_id_conflict' });
  await post(S, { fromAccount: 'alice', toAccount: 'alice', amount: 1 }, { status: 422, code: 'same_account' });
  await post(S, { transferID: 't-nf', fromAccount: 'nobody', toAccount: 'bob', amount: 1 }, { status: 404, code: 'account_not_found' });
  await post(S, { transferID: 't-poor', fromAccount: 'alice', toAccount: 'bob', amount: 99999 }, { status: 422, code: 'insufficient_funds' });
  await post(S, { fromAccount: 'alice', toAccount: 'card', amount: 1 }, { status: 422, code: 'currency_mismatch' });
  await post(S, { fromAccount: 'card', toAccount: 'capped', amount: 100 }, { status: 422, code: 'balance_limit_exceeded' });
  await post(S, { fromAccount: 'alice', toAccount: 'big', amount: 1 }, { status: 422, code: 'balance_overflow' });

  // Idempotency-Key on a transfer.
  const K = { ...J, 'Idempotency-Key': 'k-42' };
  const k1 = await post(S, { fromAccount: 'alice', toAccount: 'bob', amount: 7 }, { status: 200 }, K);
  const k2 = await post(S, { fromAccount: 'alice', toAccount: 'bob', amount: '7' }, { status: 200 }, K);
  check(k2.text === k1.text && k2.headers['idempotent-replayed'] === 'true', `an Idempotency-Key replay: ${k2.text}`);
  await post(S, { fromAccount: 'alice', toAccount: 'bob', amount: 8 }, { status: 409, code: 'idempotency_key_conflict' }, K);
  await post(S, { fromAccount: 'alice', toAccount: 'bob', amount: 8 }, { status: 409, code: 'idempotency_key_conflict' }, { ...J, 'Idempotency-Key': 'acc-key-1' });

  // Two-phase transfers.
  const p1 = await post(S, { transferID: 'auth-1', fromAccount: 'alice', toAccount: 'shop', amount: 60, pending: true, timeoutSeconds: 3600 }, { status: 200 });
  check(p1.json?.status === 'pending' && p1.json?.timeoutSeconds === 3600, `auth-1: ${p1.text}`);
  const acct = await call(S, 'GET', A + 'accounts/alice', {}, { status: 200 });
  check(acct.json && acct.json.available === acct.json.balance - 60, `the reservation shows in available: ${acct.text}`);
  await post(S, { transferID: 'cap-big', postPendingID: 'auth-1', amount: 61 }, { status: 422, code: 'exceeds_pending_amount' });
  const cap = await post(S, { transferID: 'cap-1', postPendingID: 'auth-1', amount: 40 }, { status: 200 });
  check(cap.json?.status === 'posted' && cap.json?.pendingID === 'auth-1', `cap-1: ${cap.text}`);
  await post(S, { transferID: 'cap-2', postPendingID: 'auth-1' }, { status: 409, code: 'pending_transfer_already_posted' });
  await post(S, { transferID: 'auth-2', fromAccount: 'alice', toAccount: 'shop', amount: '25', pending: true }, { status: 200 });
  const v = await post(S, { transferID: 'rel-2', voidPendingID: 'auth-2' }, { status: 200 });
  check(v.json?.status === 'voided', `rel-2: ${v.text}`);
  await post(S, { transferID: 'rel-3', voidPendingID: 'auth-2' }, { status: 409, code: 'pending_transfer_already_voided' });
  await post(S, { transferID: 'rel-4', voidPendingID: 'no-such' }, { status: 404, code: 'pending_transfer_not_found' });
  await post(S, { transferID: 'auth-3', fromAccount: 'alice', toAccount: 'shop', amount: 5, pending: true, timeoutSeconds: '1' }, { status: 200 });
  await post(S, { transferID: 'auth-4', fromAccount: 'alice', toAccount: 'shop', amount: 5, pending: true }, { status: 200, code: undefined }, { ...J, 'Idempotency-Key': 'k-pending' });

  // Batches and linked chains.
  const b1 = await post(S, { transfers: [
    { transferID: 'b-1', fromAccount: 'alice', toAccount: 'carol', amount: 100 },
    { transferID: 'b-2', fromAccount: 'carol', toAccount: 'nobody', amount: 5 },
    { transferID: 'b-3', fromAccount: 'carol', toAccount: 'alice', amount: '25' },
    { transferID: 'b-4', fromAccount: 'alice', toAccount: 'shop', amount: 10, pending: true },
    { transferID: 'b-5', postPendingID: 'b-4', amount: 4 },
    { transferID: 'b-6', voidPendingID: 'nothing' }] }, { status: 200 });
  check(b1.json?.results?.map(r => r.code).join() === 'ok,account_not_found,ok,ok,ok,pending_transfer_not_found', `batch b: ${b1.text}`);
  const b1r = await post(S, { transfers: [
    { transferID: 'b-1', fromAccount: 'alice', toAccount: 'carol', amount: 100 },
    { transferID: 'b-2', fromAccount: 'carol', toAccount: 'nobody', amount: 5 }] }, { status: 200 });
  check(b1r.json?.results?.every(r => r.replayed === true), `a replayed batch: ${b1r.text}`);
  const c = await post(S, { transfers: [
    { transferID: 'c-1', fromAccount: 'alice', toAccount: 'bob', amount: 10, linked: true },
    { transferID: 'c-2', fromAccount: 'bob', toAccount: 'alice', amount: 999999, linked: true },
    { transferID: 'c-3', fromAccount: 'alice', toAccount: 'bob', amount: 1 }] }, { status: 200 });
  check(c.json?.results?.map(r => r.code).join() === 'linked_event_failed,insufficient_funds,linked_event_failed', `chain c: ${c.text}`);
  const open = await post(S, { transfers: [
    { transferID: 'o-1', fromAccount: 'alice', toAccount: 'bob', amount: 1 },
    { transferID: 'o-2', fromAccount: 'alice', toAccount: 'bob', amount: 1, linked: true }] }, { status: 200 });
  check(open.json?.results?.[1]?.code === 'linked_event_chain_open', `an open chain: ${open.text}`);
  await post(S, { transfers: [
    { transferID: 'd-1', fromAccount: 'alice', toAccount: 'bob', amount: 1 },
    { transferID: 'd-1', fromAccount: 'alice', toAccount: 'bob', amount: 1 }] }, { status: 400, code: 'duplicate_transfer_id' });
  await post(S, { transfers: [{ transferID: 'i-1', fromAccount: 'alice', toAccount: 'bob', amount: 1 }] }, { status: 400, code: 'invalid_parameter' }, { ...J, 'Idempotency-Key': 'k-batch' });

  // What breaks the document on purpose.
  await post(L, { transfers: [] }, { status: 400, code: 'too_many_transfers', requestViolation: true });
  await post(L, { transfers: [{ fromAccount: 'alice', toAccount: 'bob', amount: 1 }] }, { status: 400, code: 'missing_parameter', requestViolation: true });
  await post(L, { transfers: [{ transferID: 'u-1', fromAccount: 'alice', toAccount: 'bob', amount: 1, memo: 'x' }] }, { status: 400, code: 'invalid_parameter', requestViolation: true });
  await post(L, { transfers: [{ transferID: 'u-1', fromAccount: 'alice', toAccount: 'bob', amount: 1 }], x: 1 }, { status: 400, code: 'invalid_parameter', requestViolation: true });
  await post(L, { fromAccount: 'alice', toAccount: 'bob', amount: 1, linked: true }, { status: 400, code: 'invalid_parameter', requestViolation: true });
  await post(L, { fromAccount: 'alice', toAccount: 'bob', amount: -1 }, { status: 400, code: 'invalid_parameter', requestViolation: true });
  await post(L, { fromAccount: 'alice', toAccount: 'bob', amount: '1.0' }, { status: 400, code: 'invalid_parameter', requestViolation: true });
  await post(L, { fromAccount: 'alice', toAccount: 'bob', amount: null }, { status: 400, code: 'invalid_parameter', requestViolation: true });
  await post(L, { fromAccount: 'alice', toAccount: 'bob' }, { status: 400, code: 'missing_parameter', requestViolation: true });
  await post(L, { fromAccount: 'alice', toAccount: 'bob', amount: 1, timeoutSeconds: 5 }, { status: 400, code: 'invalid_parameter', requestViolation: true });
  await post(L, { transferID: 'pv', postPendingID: 'auth-1', voidPendingID: 'auth-1' }, { status: 400, code: 'invalid_parameter', requestViolation: true });
  await post(L, { transferID: 'pv', voidPendingID: 'auth-1', amount: 1 }, { status: 400, code: 'invalid_parameter', requestViolation: true });
  await post(L, { transferID: 'pv', postPendingID: 'auth-1', fromAccount: 'alice' }, { status: 400, code: 'invalid_parameter', requestViolation: true });
  await post(L, '[1]', { status: 400, code: 'invalid_parameter', requestViolation: true });
  await post(L, json({ fromAccount: 'alice', toAccount: 'bob', amount: 1 }), { status: 415, code: 'unsupported_media_type', requestViolation: true }, { 'Content-Type': 'text/plain' });
  await call(L, 'POST', T + '?x=1', { headers: J, body: json({ fromAccount: 'alice', toAccount: 'bob', amount: 1 }) }, { status: 400, code: 'invalid_parameter' });
}

async function historySuite(S, L) {
  const E = A + 'accounts/alice/events';
  const all = await call(S, 'GET', E, {}, { status: 200 });
  check(all.json?.events?.length > 5 && all.json.next === null, `alice's events: ${all.text.slice(0, 300)}`);
  const page = await call(S, 'GET', E + '?limit=2', {}, { status: 200 });
  check(page.json?.events?.length === 2 && typeof page.json.next === 'number', `a page: ${page.text.slice(0, 300)}`);
  await call(S, 'GET', `${E}?limit=2&after=${page.json?.next}`, {}, { status: 200 });
  const rev = await call(S, 'GET', E + '?reverse=true&limit=3', {}, { status: 200 });
  check(rev.json?.events?.[0]?.seq > rev.json?.events?.[1]?.seq, 'reverse is newest first');
  const ts = all.json?.events?.[1]?.timestamp ?? '2026-01-01T00:00:00.000000Z';
  await call(S, 'GET', `${E}?from=${encodeURIComponent(ts)}&until=2999-01-01T00:00:00Z`, {}, { status: 200 });
  await call(S, 'GET', `${E}?from=1970-01-01T01:00:00%2B01:00&until=2999-01-01t00:00:00.123456789z&reverse=false`, {}, { status: 200 });
  await call(S, 'GET', `${E}?from=2999-01-01T00:00:00Z&until=2000-01-01T00:00:00Z`, {}, { status: 400, code: 'invalid_parameter' });
  await call(S, 'GET', A + 'accounts/nobody/events', {}, { status: 404, code: 'account_not_found' });
  await call(L, 'GET', `${E}?from=yesterday`, {}, { status: 400, code: 'invalid_parameter', requestViolation: true });
  await call(L, 'GET', `${E}?reverse=maybe`, {}, { status: 400, code: 'invalid_parameter', requestViolation: true });
  await call(L, 'GET', `${E}?limit=1001`, {}, { status: 400, code: 'invalid_parameter', requestViolation: true });

  const B = A + 'accounts/alice/balance';
  const seq = all.json?.events?.[2]?.seq ?? 1;
  const at = await call(S, 'GET', `${B}?at=${seq}`, {}, { status: 200 });
  check(at.json?.seq === seq, `balance at seq ${seq}: ${at.text}`);
  await call(S, 'GET', `${B}?at=2999-01-01T00:00:00Z`, {}, { status: 200 });
  await call(S, 'GET', `${B}?at=1970-01-01T00:00:00Z`, {}, { status: 404, code: 'account_not_found' });
  await call(S, 'GET', A + 'accounts/nobody/balance?at=1', {}, { status: 404, code: 'account_not_found' });
  await call(L, 'GET', B, {}, { status: 400, code: 'missing_parameter', requestViolation: true });
  await call(L, 'GET', `${B}?at=soon`, {}, { status: 400, code: 'invalid_parameter', requestViolation: true });
}

// The seed's event log and the log's records, every page, so that every event and record
// kind written above is checked against the document.
async function logSuite(S, L) {
  const kinds = new Set();
  let after = 0;
  for (let i = 0; i < 100; i++) {
    const r = await call(S, 'GET', `${A}events?after=${after}&limit=1000`, {}, { status: 200 });
    for (const e of r.json?.events ?? []) kinds.add(e.type);
    if (!r.json || r.json.next === null) break;
    after = r.json.next;
  }
  const records = new Set();
  after = 0;
  for (let i = 0; i < 100; i++) {
    const r = await call(S, 'GET', `${A}events?records=all&after=${after}&limit=1000`, {}, { status: 200 });
    for (const e of r.json?.records ?? []) records.add(e.type);
    if (!r.json || r.json.next === null) break;
    after = r.json.next;
  }
  for (const k of ['AccountCreated', 'Debit', 'Credit', 'PendingDebit', 'PendingCredit', 'PendingVoided', 'PendingExpired']) {
    check(kinds.has(k), `an event of type ${k} went through the document (seen: ${[...kinds]})`);
  }
  for (const k of ['AccountCreated', 'Transfer', 'TransferRefused', 'RequestKey', 'TransferPending', 'PendingResolved', 'StepRefused']) {
    check(records.has(k), `a record of type ${k} went through the document (seen: ${[...records]})`);
  }
  await call(S, 'GET', `${A}events?accountID=alice&limit=3`, {}, { status: 200 });
  await call(S, 'GET', `${A}events?accountID=nobody`, {}, { status: 404, code: 'account_not_found' });
  await call(S, 'GET', `${A}events?records=all&accountID=alice`, {}, { status: 400, code: 'invalid_parameter' });
  await call(L, 'GET', `${A}events?records=some`, {}, { status: 400, code: 'invalid_parameter', requestViolation: true });
  await call(L, 'GET', `${A}events?limit=0`, {}, { status: 400, code: 'invalid_parameter', requestViolation: true });
}

async function operationsSuite(S, L, svc) {
  const h = await call(S, 'GET', '/health', {}, { status: 200 });
  check(h.json?.status === 'ok', `/health: ${h.text}`);
  await call(S, 'GET', '/ready', {}, { status: 200 });
  await call(S, 'GET', '/openapi.json', {}, { status: 200 });
  const m = await call(S, 'GET', '/metrics', {}, { status: 200 });
  check(m.text.includes('# TYPE wallet_http_requests_total counter') &&
    m.text.includes('route="/openapi.json",status="200"'), '/metrics counts /openapi.json under its own label');
  await call(S, 'GET', '/health?anything=1', {}, { status: 200 });
  // The ledger explorer's files: their types and headers through the document (tests/ui checks
  // the page itself in a browser).
  for (const [target, type] of [['/ui', 'text/html'], ['/ui/app.js', 'text/javascript'], ['/ui/style.css', 'text/css']]) {
    const f = await call(S, 'GET', target, {}, { status: 200 });
    check(String(f.headers['content-type']).startsWith(`${type}; charset=utf-8`), `${target}: Content-Type ${f.headers['content-type']}`);
  }
  // Limits: a query string past 1024 bytes, header fields past --max-header-bytes.
  await call(S, 'GET', `${A}get_balance?accountID=alice&pad=${'x'.repeat(1100)}`, {}, { status: 414, code: 'uri_too_long' });
  await call(S, 'GET', `${A}get_balance?accountID=alice`, { headers: { 'X-Pad': 'y'.repeat(9000) } }, { status: 431, code: 'headers_too_large' });
  await call(L, 'POST', A + 'accounts', { headers: J, body: json({ accountID: 'p', startAmount: 1, currency: 'X'.repeat(5000) }) }, { status: 413, code: 'payload_too_large', requestViolation: true });

  // Straight to the service: what no Prism carries.
  const port = listeningPort(svc);
  const D = { port, name: 'direct' };
  // The bytes the build made (Prism re-serializes JSON, and rounds integers past 2^53).
  const d = await call(D, 'GET', '/openapi.json', {}, { status: 200 });
  check(d.text === fs.readFileSync(DOC_PATH, 'utf8'), 'GET /openapi.json serves the document the build made');
  check(d.headers['content-type'] === 'application/json', `/openapi.json Content-Type: ${d.headers['content-type']}`);
  await call(D, 'POST', A + 'transfers', { headers: J, body: '{"fromAccount":"alice",' }, { status: 400, code: 'invalid_json' });
  await call(D, 'POST', A + 'transfers', { headers: J, body: '{"fromAccount":"alice","fromAccount":"bob","toAccount":"x","amount":1}' }, { status: 400, code: 'invalid_json' });
  await call(D, 'POST', A + 'accounts', { headers: J, body: '{"startAmount":0100}' }, { status: 400, code: 'invalid_json' });
  await call(D, 'POST', A + 'accounts', { headers: J, body: Buffer.from([0x7b, 0x22, 0xc0, 0xaf, 0x22, 0x3a, 0x31, 0x7d]) }, { status: 400, code: 'invalid_json' });
  await call(D, 'GET', '/nope', {}, { status: 404, code: 'not_found' });
  await call(D, 'GET', A + 'accounts/alice/friends', {}, { status: 404, code: 'not_found' });
  const m1 = await call(D, 'GET', A + 'accounts', {}, { status: 405, code: 'method_not_allowed' });
  check(m1.headers.allow === 'POST', `GET /accounts: Allow ${m1.headers.allow}`);
  const m2 = await call(D, 'DELETE', '/openapi.json', {}, { status: 405, code: 'method_not_allowed' });
  check(m2.headers.allow === 'GET', `DELETE /openapi.json: Allow ${m2.headers.allow}`);
  await call(D, 'GET', '/health?a=%zz', {}, { status: 400, code: 'invalid_parameter' });
  await call(D, 'GET', '/ready?a=1&a=2', {}, { status: 400, code: 'invalid_parameter' });
  await call(D, 'GET', '/openapi.json?a=%zz', {}, { status: 400, code: 'invalid_parameter' });
  const framing = parseRaw(await raw(port, 'POST /api/1.0/wallet/accounts HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 2\r\nContent-Length: 2\r\n\r\n{}'));
  check(framing.status === 400 && framing.json?.error?.code === 'bad_request', `two Content-Length: ${framing.text.slice(0, 200)}`);
  if (framing.json?.error?.code) seeCode(framing.json.error.code, 'direct');
  // h2o looks at Expect only on a request with a body.
  const expect = parseRaw(await raw(port, 'GET /health HTTP/1.1\r\nHost: x\r\nExpect: something\r\nContent-Length: 3\r\n\r\nabc'));
  check(expect.status === 417 && expect.json?.error?.code === 'expectation_failed', `Expect: ${expect.text.slice(0, 200)}`);
  if (expect.json?.error?.code) seeCode(expect.json.error.code, 'direct');
  const slow = parseRaw(await raw(port, 'GET /health HTTP/1.1\r\nHost: x\r\n', 5000));
  check(slow.status === 408 && slow.json?.error?.code === 'request_timeout', `a request that never ends: ${slow.text.slice(0, 200)}`);
  if (slow.json?.error?.code) seeCode(slow.json.error.code, 'direct');
}

// A pending transfer of 1 s expires by itself: its post is then refused, and the expiry is in
// the log (logSuite reads it).
async function expirySuite(S) {
  const until = Date.now() + 10000;
  let res;
  do {
    await sleep(200);
    res = await request(S.port, 'GET', A + 'accounts/alice/events?reverse=true&limit=20');
    requestsSent++;
  } while (Date.now() < until && !(res.json?.events ?? []).some(e => e.type === 'PendingExpired'));
  check((res.json?.events ?? []).some(e => e.type === 'PendingExpired'), 'auth-3 expired within 10 s');
  await call(S, 'POST', A + 'transfers', { headers: J, body: json({ transferID: 'cap-3', postPendingID: 'auth-3' }) }, { status: 409, code: 'pending_transfer_expired' });
}

// The second service: keys, small limits, a queue of one, a held start, then a failed commit.
async function keyedSuite(K, svc, key) {
  const auth = { Authorization: `Bearer ${key}` };
  // While the state loads (the twin holds the start): only the operations routes serve.
  await waitFor(svc, '"starting on" line', p => /starting on 127\.0\.0\.1:(\d+)/.exec(p.err), 30000);
  await call(K, 'GET', '/ready', {}, { status: 503, code: 'unavailable' });
  await call(K, 'GET', '/health', {}, { status: 200 });
  await call(K, 'GET', '/openapi.json', { headers: auth }, { status: 200 });
  await call(K, 'GET', '/metrics', { headers: auth }, { status: 200 });
  await call(K, 'GET', A + 'get_balance?accountID=a', { headers: auth }, { status: 503, code: 'unavailable' });
  await waitFor(svc, '"listening on" line', listeningPort, 30000);
  await call(K, 'GET', '/ready', {}, { status: 200 });
  // The explorer's files need no key either (the page sends the one typed into it).
  await call(K, 'GET', '/ui', {}, { status: 200 });
  await call(K, 'GET', '/ui/app.js', {}, { status: 200 });
  // 401: no key, a wrong key, another scheme; the probes need none.
  for (const h of [{}, { Authorization: 'Bearer wrong-key-0123456789' }]) {
    await call(K, 'GET', A + 'get_balance?accountID=a', { headers: h }, { status: 401, code: 'unauthorized' });
  }
  // Another scheme: Prism takes the document's "no key" alternative to allow no Authorization
  // header at all, not one of another scheme, and answers 401 itself; so straight.
  await call({ port: listeningPort(svc), name: 'direct' }, 'GET', A + 'get_balance?accountID=a',
    { headers: { Authorization: `Basic ${key}` } }, { status: 401, code: 'unauthorized' });
  const u = await call(K, 'GET', '/openapi.json', {}, { status: 401, code: 'unauthorized' });
  check(u.headers['www-authenticate'] === 'Bearer', `401 WWW-Authenticate: ${u.headers['www-authenticate']}`);
  await call(K, 'GET', '/metrics', {}, { status: 401, code: 'unauthorized' });
  await call(K, 'POST', A + 'accounts', { headers: { ...J, ...auth }, body: json({ accountID: 'k1', startAmount: 1 }) }, { status: 201 });
  // Bodies past --max-body-bytes 256 and --max-batch-body-bytes 1024, within the document.
  await call(K, 'POST', A + 'accounts', { headers: { ...J, ...auth }, body: json({ accountID: 'k2', startAmount: '0'.repeat(300) + '1' }) }, { status: 413, code: 'payload_too_large' });
  const many = [];
  for (let i = 0; i < 20; i++) many.push({ transferID: `kb-${i}`, fromAccount: 'k1', toAccount: 'k1x', amount: 1 });
  await call(K, 'POST', A + 'transfers', { headers: { ...J, ...auth }, body: json({ transfers: many }) }, { status: 413, code: 'payload_too_large' });
  // --queue-max 1 and commits held 150 ms: of writes sent at once, some find the queue full.
  const burst = [];
  for (let i = 0; i < 6; i++) {
    burst.push(call(K, 'POST', A + 'accounts', { headers: { ...J, ...auth }, body: json({ accountID: `q${i}`, startAmount: 1 }) }, {}));
  }
  const outcomes = await Promise.all(burst);
  const over = outcomes.filter(r => r.status === 503 && r.json?.error?.code === 'overloaded');
  check(over.length > 0 && outcomes.every(r => r.status === 201 || r.json?.error?.code === 'overloaded'),
    `a burst past --queue-max: ${outcomes.map(r => r.status).join(' ')}`);
  check(over.every(r => r.headers['retry-after'] === '1'), 'overloaded has Retry-After: 1');
  // The twin's armed fault fails a commit: the write is 503 unavailable, the service read-only.
  let failed = false;
  for (let i = 0; i < 8 && !failed; i++) {
    const r = await call(K, 'POST', A + 'accounts', { headers: { ...J, ...auth }, body: json({ accountID: `f${i}`, startAmount: 1 }) }, {});
    failed = r.status === 503;
    check(r.status === 201 || (r.status === 503 && r.json?.error?.code === 'unavailable'), `a write before the fault: ${r.status} ${r.text}`);
  }
  check(failed, 'the armed commit fault answered 503 unavailable');
  const ro = await call(K, 'GET', '/ready', {}, { status: 503, code: 'unavailable' });
  check(/^read-only/.test(ro.json?.error?.message ?? ''), `/ready after the fault: ${ro.text}`);
  await call(K, 'GET', A + 'create_account?startAmount=1', { headers: auth }, { status: 503, code: 'unavailable' });
  await call(K, 'POST', A + 'transfers', { headers: { ...J, ...auth }, body: json({ fromAccount: 'k1', toAccount: 'k1', amount: 1 }) }, { status: 503, code: 'unavailable' });
  await call(K, 'GET', A + 'accounts/k1', { headers: auth }, { status: 200 });
}

// The harness must be able to fail. The mutant proxies serve a copy of the document in which
// one answer schema of each kind (and a header of the explorer's files) is made wrong
// (mutate() below); each request here must get an answer the copy forbids. Through the strict
// mutant Prism must answer 500 with its VIOLATIONS problem; through the lenient one the
// sl-violations header must name the answer.
// (That the strict proxy with the real document refuses, itself, a request that breaks it is
// checked last, in proxyLogSuite.)
function mutate(d) {
  const s = d.components.schemas;
  s.HealthStatus.properties.status.const = 'not-ok';
  s.Account.properties.currency.pattern = '^Z$';
  s.EventPage.properties.events.maxItems = 0;
  s.RecordTransferRefused.properties.code = { const: 'nothing' };
  s.ErrorAccountNotFound.allOf[1].properties.error.properties.code.const = 'nothing';
  s.BatchResults.properties.results.maxItems = 0;
  d.components.headers.UiNoSniff.schema.const = 'sniff';
  return d;
}
const MUTANT_CASES = [
  ['GET', '/health', null],
  ['GET', `${A}accounts/card`, null],
  ['GET', `${A}events?limit=5`, null],
  ['GET', `${A}events?records=all&limit=1000`, null],
  ['GET', `${A}accounts/nobody`, null],
  ['POST', `${A}transfers`, { transfers: [{ transferID: 'm-1', fromAccount: 'nobody', toAccount: 'bob', amount: 1 }] }],
  ['GET', '/ui/app.js', null],
];

async function mutantSuite(M, ML) {
  for (const [method, target, body] of MUTANT_CASES) {
    const opts = body ? { headers: J, body: json(body) } : {};
    const res = await request(M.port, method, target, opts);
    const resL = await request(ML.port, method, target, opts);
    requestsSent += 2;
    check(res.status === 500 && String(res.headers['content-type']).startsWith('application/problem+json') &&
      res.text.includes('VIOLATIONS'), `mutant: ${method} ${target}: a wrong answer was not caught: ${res.status} ${res.text.slice(0, 300)}`);
    check(violations(resL).some(x => (x.location[0] === 'response' || x.response) && x.severity === 'Error'),
      `lenient mutant: ${method} ${target}: a wrong answer was not reported: ${resL.headers['sl-violations'] ?? 'no sl-violations'}`);
  }
}

// The strict proxies' logs: no violation of the document in either, from the first request to
// the last. Prism logs a request after it has answered it, through a stream, so its line can
// reach this process after the answer (in about half the runs it did): a log read right after
// the last answer missed the last requests' lines, or held them, by chance. So each log
// is read only once a marker request's own line is in it (logSettle): Prism logs from one
// process through one ordered stream, so every line of a request answered before the marker was
// sent is in by then.
//
// Then the one request of the suite that breaks the document on purpose goes through the strict
// proxy with the real document, which must refuse it itself (422 problem+json) and log that
// refusal. It is sent last, after the logs were checked: sent earlier (it was once sent at the
// end of mutantSuite), its "Request terminated with error" line failed the check above whenever
// the line arrived in time. The log after it must hold exactly that refusal, which also shows
// that the check above can see a violation in the log.
const VIOLATION_LINE = /Violation:|Request terminated with error/;
const EXPECTED_REFUSAL = /\[HTTP SERVER\] post \/api\/1\.0\/wallet\/transfers .*Request terminated with error: https:\/\/stoplight\.io\/prism\/errors#UNPROCESSABLE_ENTITY: Invalid request$/;
let marks = 0;

// Sends a marker through proxy P and waits, at most 15 s, until Prism has logged forwarding it
// (its [PROXY] line shows the query, with a nonce); returns the length of P's log then.
async function logSettle(P) {
  const target = `/health?logmark=${process.pid}-${++marks}`;
  await call(P, 'GET', target, {}, { status: 200 });
  const until = Date.now() + 15000;
  while (Date.now() < until && !P.log.includes(`${target}...`)) await sleep(20);
  check(P.log.includes(`${target}...`), `${P.name}: the log did not show ${target} within 15 s`);
  return P.log.length;
}

// The violation lines of P's log between the offsets from and upTo, each with the request it is
// probably about, for the failure message: Prism's n-th "Request received" line is the n-th
// request sent to P (sentTo), and a violation line is about the last request received with the
// same method and path (its [HTTP SERVER] prefix), or, a [VALIDATOR] line that names none,
// about the last request received. Requests sent at once (the burst, the currencies) may
// arrive in another order, hence "probably".
function violationLines(P, upTo, from = 0) {
  const lines = P.log.slice(0, upTo).split('\n');
  const sent = sentTo.get(P.port) ?? [];
  const found = [];
  let offset = 0;
  let received = 0;
  const lastReceived = new Map(); // "method path" -> rank of its last "Request received"
  for (const line of lines) {
    const at = offset;
    offset += line.length + 1;
    const who = /\[HTTP SERVER\] (\S+ \S+) /.exec(line)?.[1];
    if (who && /Request received/.test(line)) lastReceived.set(who, received++);
    if (at < from || !VIOLATION_LINE.test(line)) continue;
    const r = sent[who ? lastReceived.get(who) : received - 1];
    found.push({ line, request: r ? `probably ${r.method} ${r.target} ${r.body.slice(0, 500)}` : 'request unknown' });
  }
  return found;
}

function reportViolations(found) {
  return found.map(v => `${v.line}\n    (${v.request})`).join('\n');
}

async function proxyLogSuite(S, K) {
  for (const P of [S, K]) {
    const found = violationLines(P, await logSettle(P));
    if (found.length > 0) fail(`${P.name}: Prism logged a violation:\n${reportViolations(found)}`);
  }
  const from = S.log.length;
  const bad = await request(S.port, 'POST', `${A}transfers`, { headers: J, body: json({ fromAccount: 'alice', toAccount: 'bob', amount: -1 }) });
  requestsSent++;
  check(bad.status === 422 && String(bad.headers['content-type']).startsWith('application/problem+json'),
    `strict: a request that breaks the document was forwarded: ${bad.status} ${bad.text.slice(0, 300)}`);
  const after = violationLines(S, await logSettle(S), from);
  check(after.length === 1 && EXPECTED_REFUSAL.test(after[0].line),
    `strict: the log should show exactly the refusal of the request that breaks the document, ` +
    `but shows:\n${reportViolations(after) || '(nothing)'}`);
}

// ---- main -----------------------------------------------------------------------------------

async function main() {
  for (const v of ['WS_BINARY', 'WS_FAULTY_BINARY', 'WS_OPENAPI_JSON']) {
    if (!process.env[v]) throw new Error(`${v} is not set (tests/CMakeLists.txt sets it)`);
  }
  if (!fs.existsSync(PRISM)) throw new Error(`${PRISM} is missing: run tests/contract/npm-ci.sh`);
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'ws-contract-'));
  const key = 'contract-' + Math.random().toString(16).slice(2).padEnd(24, '0');
  const keyFile = path.join(tmp, 'keys');
  fs.writeFileSync(keyFile, key + '\n', { mode: 0o600 });
  const mutantDoc = path.join(tmp, 'mutant.json');
  fs.writeFileSync(mutantDoc, JSON.stringify(mutate(JSON.parse(JSON.stringify(doc)))));

  const svc = await startService('service', process.env.WS_BINARY, 0, ['--request-timeout', '1000']);
  await waitFor(svc, '"listening on" line', listeningPort, 30000);
  const port = listeningPort(svc);
  const keyedPort = await freePort();
  const proxies = [
    await startPrism('strict', DOC_PATH, port, true),
    await startPrism('lenient', DOC_PATH, port, false),
    await startPrism('keyed', DOC_PATH, keyedPort, true),
    await startPrism('mutant', mutantDoc, port, true),
    await startPrism('lenient-mutant', mutantDoc, port, false),
  ];
  for (let i = 0; i < proxies.length; i++) proxies[i] = await prismUp(proxies[i]);
  const [S, L, K, M, ML] = proxies;
  const t0 = Date.now();
  console.log(`contract: service and 5 proxies up in ${t0 - started} ms`);
  // The keyed twin: the start held 1.5 s, every commit 150 ms late, the 5th failing.
  const twin = await startService('keyed-service', process.env.WS_FAULTY_BINARY, keyedPort, [
    '--api-key-file', keyFile, '--max-body-bytes', '256', '--max-batch-body-bytes', '1024',
    '--queue-max', '1'],
  { WS_FAULT_START_DELAY_MS: '1500', WS_FAULT_COMMIT_DELAY_MS: '150', WS_FAULT_WRITE_FAIL_AT: '5' });
  await keyedSuite(K, twin, key);

  await accountsSuite(S, L);
  await seedSuite(S, L);
  await transfersSuite(S, L);
  await currenciesSuite(S);
  await historySuite(S, L);
  await expirySuite(S);
  await logSuite(S, L);
  await operationsSuite(S, L, svc);
  await mutantSuite(M, ML);
  await proxyLogSuite(S, K);

  // Every operation of the document answered 2xx through a strict proxy.
  for (const o of operations) {
    const seen = answered.get(`${o.method} ${o.template}`) ?? new Set();
    check([...seen].some(s => s >= 200 && s < 300), `${o.method} ${o.template} never answered 2xx through a strict proxy`);
  }
  const mustSee = ['missing_parameter', 'invalid_parameter', 'invalid_json', 'too_many_transfers',
    'duplicate_transfer_id', 'unauthorized', 'account_not_found', 'not_found', 'method_not_allowed',
    'account_exists', 'transfer_id_conflict', 'idempotency_key_conflict', 'unsupported_media_type',
    'bad_request', 'request_timeout', 'payload_too_large', 'uri_too_long', 'expectation_failed',
    'headers_too_large', 'insufficient_funds', 'same_account', 'currency_mismatch',
    'balance_limit_exceeded', 'balance_overflow', 'too_many_currencies', 'pending_transfer_not_found',
    'pending_transfer_already_posted', 'pending_transfer_already_voided', 'pending_transfer_expired',
    'exceeds_pending_amount', 'linked_event_failed', 'linked_event_chain_open', 'overloaded', 'unavailable'];
  for (const c of mustSee) check(codesSeen.has(c), `the code ${c} was never provoked`);
  const viaProxy = [...codesSeen].filter(([, w]) => [...w].some(x => x !== 'direct')).map(([c]) => c);
  const directOnly = [...codesSeen].filter(([, w]) => [...w].every(x => x === 'direct')).map(([c]) => c);
  console.log(`contract: ${requestsSent} requests in ${Date.now() - t0} ms; ${operations.length} operations`);
  for (const k of skipped) console.log(`contract: not through Prism: ${k}`);
  console.log(`contract: codes through a validating proxy (${viaProxy.length}): ${viaProxy.sort().join(' ')}`);
  console.log(`contract: codes straight to the service (${directOnly.length}): ${directOnly.sort().join(' ')}`);
  for (const o of operations) {
    console.log(`contract:   ${o.method} ${o.template}: ${[...(answered.get(`${o.method} ${o.template}`) ?? [])].sort().join(' ')}`);
  }

  // The service stops cleanly.
  svc.kill('SIGTERM');
  await waitFor(svc, 'exit after SIGTERM', p => p.exitCode_ !== null, 15000);
  check(svc.exitCode_ === 0, `the service exited ${svc.exitCode_} after SIGTERM: ${svc.err.slice(-1000)}`);
}

main().then(() => {
  cleanup();
  if (failures.length > 0) {
    console.error(`contract: ${failures.length} failure(s)`);
    console.log('0 passed, 1 failed');
    process.exit(1);
  }
  console.log(`contract: OK in ${Date.now() - started} ms`);
  process.exit(0);
}, e => {
  console.error(`contract: FAIL: ${e.stack || e}`);
  cleanup();
  process.exit(1);
});
