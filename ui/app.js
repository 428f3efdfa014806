// The ledger explorer: an account with its history, the live event stream and the service's
// throughput and commit latency, all from the service's own API (docs/api.md). Plain browser
// JavaScript with no dependency, loaded by index.html from the same origin (the page's
// Content-Security-Policy allows nothing else).
//
// - The API key lives in one variable of this closure: never in storage, a cookie or the
//   address, so a reload forgets it. Every data request carries it as
//   "Authorization: Bearer <key>"; with no key the header is left out (a server without
//   --api-key-file needs none).
// - The stream is read with fetch() and parsed here, since EventSource cannot send the
//   Authorization header. It resumes with Last-Event-ID after a drop, at most
//   STREAM_RETRIES_MAX retries in a row, with a growing delay.
// - Amounts can reach 2^63-1, past JavaScript's exact integers: parseJson keeps every integer
//   of more than 15 digits as its string of digits, so what is shown is what was sent.
// - Data is put into the page with textContent only, never as HTML.
'use strict';

(() => {
  const API = '/api/1.0/wallet/';
  const STREAM_KEEP = 100; // stream events shown; the first connection starts this far back
  const STREAM_RETRIES_MAX = 8; // retries after a failed connection before the stream gives up
  const STREAM_BACKOFF_MS = 500; // the first retry's delay, doubled each time...
  const STREAM_BACKOFF_MAX_MS = 8000; // ...up to this
  const STREAM_HEALTHY_MS = 5000; // a connection that lasted this long resets the retries
  const SSE_BUFFER_MAX = 1 << 20; // bytes of one unfinished line before the stream is refused
  const METRICS_PERIOD_MS = 2000;
  const METRICS_WINDOW_MS = 60000; // the charts and the "last minute" figures
  const METRICS_FAILURES_MAX = 10; // failed polls in a row before polling stops
  const HISTORY_PAGES_MAX = 10000; // the cursors kept for "previous page"

  let apiKey = ''; // memory only, by design

  const $ = id => document.getElementById(id);

  // ---- requests -------------------------------------------------------------------------

  // JSON.parse, except that an integer of more than 15 digits (past 2^53 it would be rounded)
  // becomes the string of its digits. Only number tokens outside strings are touched.
  function parseJson(text) {
    let out = '';
    let from = 0;
    const n = text.length;
    for (let i = 0; i < n;) {
      const c = text.charCodeAt(i);
      if (c === 0x22) { // a string: skip it, escapes included
        i++;
        while (i < n && text.charCodeAt(i) !== 0x22) i += text.charCodeAt(i) === 0x5c ? 2 : 1;
        i++;
      } else if (c === 0x2d || (c >= 0x30 && c <= 0x39)) {
        const start = i;
        if (c === 0x2d) i++;
        const digitsFrom = i;
        while (i < n && text.charCodeAt(i) >= 0x30 && text.charCodeAt(i) <= 0x39) i++;
        const next = text[i];
        if (next === '.' || next === 'e' || next === 'E') {
          while (i < n && /[0-9eE.+-]/.test(text[i])) i++; // not an integer: leave it as is
        } else if (i - digitsFrom > 15) {
          out += text.slice(from, start) + '"' + text.slice(start, i) + '"';
          from = i;
        }
      } else {
        i++;
      }
    }
    return JSON.parse(from === 0 ? text : out + text.slice(from));
  }

  // What a failed request shows: the service's JSON error (code and message) when it sent one,
  // else the status and the start of the body, or the network error.
  class ApiError extends Error {
    constructor(status, code, message) {
      super(message);
      this.status = status;
      this.code = code;
    }
    toString() {
      if (this.status === 0) return `network error: ${this.message}`;
      return `${this.status} ${this.code}: ${this.message}`;
    }
  }

  async function errorOf(res) {
    const text = await res.text().catch(() => '');
    let err = null;
    try {
      err = parseJson(text).error;
    } catch {
      err = null;
    }
    if (err && typeof err.code === 'string') {
      return new ApiError(res.status, err.code, String(err.message ?? ''));
    }
    return new ApiError(res.status, res.statusText || 'error', text.slice(0, 200) || '(no body)');
  }

  function headers(extra = {}) {
    const h = new Headers(extra);
    if (apiKey !== '') h.set('Authorization', `Bearer ${apiKey}`);
    return h;
  }

  async function request(path, { signal, extra } = {}) {
    let res;
    try {
      res = await fetch(path, { headers: headers(extra), cache: 'no-store', signal });
    } catch (e) {
      if (signal?.aborted) throw e;
      throw new ApiError(0, 'network', e.message);
    }
    if (!res.ok) throw await errorOf(res);
    return res;
  }

  async function getJson(path, opts) {
    const res = await request(path, opts);
    return parseJson(await res.text());
  }

  async function getText(path, opts) {
    const res = await request(path, opts);
    return res.text();
  }

  function showError(el, err) {
    if (err === null) {
      el.hidden = true;
      el.textContent = '';
    } else {
      el.hidden = false;
      el.textContent = String(err);
    }
  }

  const shown = v => (v === null || v === undefined ? '' : String(v));

  function cell(tr, value, cls) {
    const td = document.createElement('td');
    td.textContent = shown(value);
    if (cls) td.className = cls;
    tr.appendChild(td);
  }

  // "2026-12-03T08:47:11.499795Z" -> "2026-12-03 08:47:11.499795"
  const time = t => (typeof t === 'string' ? t.replace('T', ' ').replace(/Z$/, '') : '');

  // ---- the API key ----------------------------------------------------------------------

  function showKeyState() {
    $('key-state').textContent = apiKey === ''
      ? 'no key: requests carry no Authorization header'
      : 'a key is set (in memory only)';
  }

  function useKey(key) {
    apiKey = key;
    $('api-key').value = '';
    showKeyState();
    streamRestart();
    metricsStart();
  }

  // ---- account and history --------------------------------------------------------------

  const ACCOUNT_FIELDS = ['accountID', 'balance', 'available', 'pendingCredits', 'currency',
    'overdraftLimit', 'maxBalance'];

  const history = {
    id: null, // the account shown
    limit: 20,
    reverse: true,
    cursors: [null], // the `after` of each page so far; the last is the page shown
    next: null, // the page's `next`, the cursor of the page after it
    seq: 0, // guards against an older request answering after a newer one
  };

  async function lookUp() {
    const id = $('account-id').value.trim();
    const limit = Number($('page-limit').value);
    showError($('history-error'), null);
    if (id === '') {
      showError($('account-error'), 'enter an account ID');
      return;
    }
    if (!Number.isInteger(limit) || limit < 1 || limit > 1000) {
      showError($('account-error'), 'per page must be a whole number from 1 to 1000');
      return;
    }
    const seq = ++history.seq;
    try {
      const a = await getJson(`${API}accounts/${encodeURIComponent(id)}`);
      if (seq !== history.seq) return;
      showError($('account-error'), null);
      for (const f of ACCOUNT_FIELDS) {
        $(`acct-${f}`).textContent = f === 'maxBalance' && a[f] === null ? 'none' : shown(a[f]);
      }
      $('account-fields').hidden = false;
    } catch (e) {
      if (seq !== history.seq) return;
      showError($('account-error'), e);
      $('account-fields').hidden = true;
      clearHistory();
      return;
    }
    history.id = id;
    history.limit = limit;
    history.reverse = $('newest-first').checked;
    history.cursors = [null];
    await loadPage();
  }

  function clearHistory() {
    history.id = null;
    $('history').tBodies[0].replaceChildren();
    $('history-state').textContent = '';
    for (const b of ['history-first', 'history-prev', 'history-next']) $(b).disabled = true;
  }

  async function loadPage() {
    const after = history.cursors[history.cursors.length - 1];
    const q = new URLSearchParams({ limit: String(history.limit) });
    if (history.reverse) q.set('reverse', 'true');
    if (after !== null) q.set('after', String(after));
    const seq = ++history.seq;
    let page;
    try {
      page = await getJson(`${API}accounts/${encodeURIComponent(history.id)}/events?${q}`);
    } catch (e) {
      if (seq === history.seq) showError($('history-error'), e);
      return;
    }
    if (seq !== history.seq) return;
    showError($('history-error'), null);
    const rows = page.events.map(e => {
      const tr = document.createElement('tr');
      tr.dataset.seq = shown(e.seq);
      cell(tr, e.seq, 'num');
      cell(tr, time(e.timestamp));
      cell(tr, e.type);
      cell(tr, e.amount, 'num');
      cell(tr, e.balance, 'num');
      cell(tr, e.available, 'num');
      cell(tr, e.pendingCredits, 'num');
      cell(tr, e.counterparty);
      cell(tr, e.transactionID);
      cell(tr, e.pendingID);
      return tr;
    });
    $('history').tBodies[0].replaceChildren(...rows);
    history.next = page.next;
    const n = history.cursors.length;
    $('history-state').textContent = `${history.id}: page ${n}, ${rows.length} event(s)` +
      (page.next === null ? ', the last page' : `, next after seq ${page.next}`);
    $('history-first').disabled = n === 1;
    $('history-prev').disabled = n === 1;
    $('history-next').disabled = page.next === null || n >= HISTORY_PAGES_MAX;
  }

  function pageNext() {
    if (history.id === null || history.next === null) return;
    history.cursors.push(history.next);
    loadPage();
  }

  function pagePrev() {
    if (history.id === null || history.cursors.length < 2) return;
    history.cursors.pop();
    loadPage();
  }

  function pageFirst() {
    if (history.id === null) return;
    history.cursors = [null];
    loadPage();
  }

  // ---- the live stream ------------------------------------------------------------------

  const stream = {
    gen: 0, // each (re)start bumps it; a connection of an older generation stops by itself
    ctl: null, // the AbortController of the connection under way
    timer: null, // the pending reconnection
    paused: false,
    lastId: null, // the id of the last event received: the next connection's Last-Event-ID
    retries: 0, // failed connections in a row
    events: [], // the last STREAM_KEEP, oldest first
    received: 0,
    drawPending: false,
  };

  function streamState(text) {
    $('stream-state').textContent = text;
  }

  // Parses a text/event-stream body (the service's: "id:" and "data:" lines, comments, a
  // blank line after each event) and calls onEvent(id, data) per event. Returns when the
  // body ends; throws when it is aborted or a line grows past SSE_BUFFER_MAX.
  async function readSse(body, onEvent, onBytes) {
    const reader = body.pipeThrough(new TextDecoderStream()).getReader();
    let buf = '';
    let id = null;
    let data = [];
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return;
      onBytes();
      buf += value;
      let pos = 0;
      for (let nl; (nl = buf.indexOf('\n', pos)) >= 0; pos = nl + 1) {
        let line = buf.slice(pos, nl);
        if (line.endsWith('\r')) line = line.slice(0, -1);
        if (line === '') {
          if (data.length > 0) onEvent(id, data.join('\n'));
          data = [];
          continue;
        }
        if (line[0] === ':') continue; // a comment (": ok", ": ping")
        const colon = line.indexOf(':');
        const field = colon < 0 ? line : line.slice(0, colon);
        let v = colon < 0 ? '' : line.slice(colon + 1);
        if (v[0] === ' ') v = v.slice(1);
        if (field === 'data') data.push(v);
        else if (field === 'id' && !v.includes('\0')) id = v;
      }
      buf = buf.slice(pos);
      if (buf.length > SSE_BUFFER_MAX) throw new Error('a line of the stream is too long');
    }
  }

  function onStreamEvent(id, data) {
    let e;
    try {
      e = parseJson(data);
    } catch {
      e = { seq: id, type: '(not JSON)', accountID: data.slice(0, 80) };
    }
    stream.lastId = id;
    stream.received++;
    stream.events.push(e);
    if (stream.events.length > STREAM_KEEP) stream.events.splice(0, stream.events.length - STREAM_KEEP);
    if (!stream.drawPending) {
      stream.drawPending = true;
      setTimeout(drawStream, 50); // one redraw for a burst of events
    }
  }

  function drawStream() {
    stream.drawPending = false;
    const rows = [];
    for (let i = stream.events.length - 1; i >= 0; i--) {
      const e = stream.events[i];
      const tr = document.createElement('tr');
      tr.dataset.seq = shown(e.seq);
      cell(tr, e.seq, 'num');
      cell(tr, time(e.timestamp));
      cell(tr, e.type);
      cell(tr, e.accountID);
      cell(tr, e.amount, 'num');
      cell(tr, e.balance, 'num');
      cell(tr, e.transactionID);
      rows.push(tr);
    }
    $('stream').tBodies[0].replaceChildren(...rows);
    $('stream-count').textContent = `${stream.received} event(s) received since the page opened` +
      (stream.lastId === null ? '' : `, the last seq ${stream.lastId}`) +
      `; the newest ${STREAM_KEEP} shown, newest first`;
  }

  // Where a first connection starts: STREAM_KEEP events before the newest committed one
  // (wallet_last_seq of /metrics), so that a long log is not replayed into the page.
  async function startAfter(signal) {
    const text = await getText('/metrics', { signal });
    const m = /^wallet_last_seq (\d+)$/m.exec(text);
    const last = m ? Number(m[1]) : 0;
    return Math.max(0, last - STREAM_KEEP);
  }

  async function connect(gen) {
    const ctl = new AbortController();
    stream.ctl = ctl;
    streamState(stream.retries === 0 ? 'connecting' : `reconnecting (attempt ${stream.retries + 1})`);
    let since = 0;
    try {
      let path = `${API}events/stream`;
      const extra = {};
      if (stream.lastId !== null) extra['Last-Event-ID'] = stream.lastId;
      else path += `?after=${await startAfter(ctl.signal)}`;
      const res = await request(path, { signal: ctl.signal, extra });
      since = Date.now();
      showError($('stream-error'), null);
      streamState(stream.lastId === null ? 'live' : `live, resumed after seq ${stream.lastId}`);
      await readSse(res.body, onStreamEvent, () => {
        if (Date.now() - since >= STREAM_HEALTHY_MS) stream.retries = 0;
      });
      if (gen !== stream.gen) return;
      showError($('stream-error'), 'the stream ended (the service stopped or dropped it)');
    } catch (e) {
      if (gen !== stream.gen || ctl.signal.aborted) return;
      showError($('stream-error'), e);
      // Another attempt cannot help a refused key or a refused request.
      if (e instanceof ApiError && e.status >= 400 && e.status < 500) {
        streamState(e.status === 401 ? 'stopped: the service needs a valid key' : 'stopped');
        return;
      }
    }
    if (since !== 0 && Date.now() - since >= STREAM_HEALTHY_MS) stream.retries = 0;
    if (++stream.retries > STREAM_RETRIES_MAX) {
      streamState(`stopped after ${STREAM_RETRIES_MAX + 1} failed attempts in a row: press Resume`);
      stream.paused = true;
      $('stream-toggle').textContent = 'Resume';
      return;
    }
    const delay = Math.min(STREAM_BACKOFF_MAX_MS, STREAM_BACKOFF_MS * 2 ** (stream.retries - 1));
    streamState(`disconnected: retrying in ${(delay / 1000).toFixed(1)} s ` +
      `(attempt ${stream.retries + 1} of ${STREAM_RETRIES_MAX + 1})`);
    stream.timer = setTimeout(() => {
      if (gen === stream.gen) connect(gen);
    }, delay);
  }

  function streamStop() {
    stream.gen++;
    clearTimeout(stream.timer);
    if (stream.ctl) stream.ctl.abort();
    stream.ctl = null;
  }

  // A new key, or Resume: a fresh series of attempts, from the last event received.
  function streamRestart() {
    streamStop();
    if (stream.paused) return;
    stream.retries = 0;
    connect(stream.gen);
  }

  function streamToggle() {
    stream.paused = !stream.paused;
    $('stream-toggle').textContent = stream.paused ? 'Resume' : 'Pause';
    if (stream.paused) {
      streamStop();
      streamState(stream.lastId === null ? 'paused' : `paused after seq ${stream.lastId}`);
    } else {
      streamRestart();
    }
  }

  // ---- metrics --------------------------------------------------------------------------

  // The samples of the Prometheus text format 0.0.4 that this page reads: name -> list of
  // {labels, value}. Comments and malformed lines are skipped.
  function parseMetrics(text) {
    const out = new Map();
    for (const line of text.split('\n')) {
      if (line === '' || line[0] === '#') continue;
      const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)/.exec(line);
      if (!m) continue;
      const labels = {};
      for (const l of (m[2] ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) {
        labels[l[1]] = l[2];
      }
      if (!out.has(m[1])) out.set(m[1], []);
      out.get(m[1]).push({ labels, value: Number(m[3]) });
    }
    return out;
  }

  const one = (mm, name) => mm.get(name)?.[0]?.value;

  // What a poll keeps: the counters that rates and the histogram need, at time t.
  function sampleOf(mm, t) {
    let applied = 0;
    for (const s of mm.get('wallet_commands_total') ?? []) {
      if (s.labels.outcome === 'ok' || s.labels.outcome === 'created') applied += s.value;
    }
    const buckets = (mm.get('wallet_commit_seconds_bucket') ?? [])
      .map(s => ({ le: s.labels.le === '+Inf' ? Infinity : Number(s.labels.le), count: s.value }))
      .sort((a, b) => a.le - b.le);
    return {
      t,
      applied,
      commitSum: one(mm, 'wallet_commit_seconds_sum') ?? 0,
      commitCount: one(mm, 'wallet_commit_seconds_count') ?? 0,
      buckets,
    };
  }

  // The q-quantile of the commits between two samples, as Prometheus's histogram_quantile
  // estimates it: linear within the bucket that holds the rank; the highest finite bound if
  // the rank is in the +Inf bucket. null without commits.
  function quantile(q, a, b) {
    const total = b.commitCount - a.commitCount;
    if (total <= 0 || a.buckets.length !== b.buckets.length) return null;
    const rank = q * total;
    let below = 0;
    for (let i = 0; i < b.buckets.length; i++) {
      const cum = b.buckets[i].count - a.buckets[i].count;
      if (cum >= rank) {
        if (b.buckets[i].le === Infinity) return i > 0 ? b.buckets[i - 1].le : null;
        const lo = i === 0 ? 0 : b.buckets[i - 1].le;
        const inBucket = cum - below;
        return inBucket > 0 ? lo + (b.buckets[i].le - lo) * ((rank - below) / inBucket) : b.buckets[i].le;
      }
      below = cum;
    }
    return null;
  }

  const meanOf = (a, b) => (b.commitCount > a.commitCount
    ? (b.commitSum - a.commitSum) / (b.commitCount - a.commitCount) : null);
  const rateOf = (a, b) => (b.applied - a.applied) / ((b.t - a.t) / 1000);

  const metrics = { gen: 0, timer: null, samples: [], failures: 0 };

  function fmt(v, digits) {
    return v === null || !Number.isFinite(v) ? '-' : v.toFixed(digits);
  }

  function showMetrics(mm) {
    const s = metrics.samples;
    const last = s[s.length - 1];
    const prev = s.length > 1 ? s[s.length - 2] : null;
    const first = s[0];
    $('m-rate').textContent = prev ? fmt(rateOf(prev, last), 1) : '-';
    $('m-rate-minute').textContent = s.length > 1 ? fmt(rateOf(first, last), 1) : '-';
    const mean = s.length > 1 ? meanOf(first, last) : null;
    const p99 = s.length > 1 ? quantile(0.99, first, last) : null;
    $('m-mean').textContent = mean === null ? '-' : fmt(mean * 1000, 3);
    $('m-p99').textContent = p99 === null ? '-' : fmt(p99 * 1000, 3);
    $('m-seq').textContent = shown(one(mm, 'wallet_last_seq') ?? '-');
    $('m-accounts').textContent = shown(one(mm, 'wallet_accounts') ?? '-');
    $('m-queue').textContent = shown(one(mm, 'wallet_queue_depth') ?? '-');
    const ro = one(mm, 'wallet_read_only');
    $('m-read-only').textContent = ro === undefined ? '-' : ro === 1 ? 'yes' : 'no';
    const build = mm.get('wallet_build_info')?.[0]?.labels;
    if (build) $('build').textContent = `wallet-service ${build.version}, h2o ${build.h2o}`;
    const rates = [];
    const means = [];
    const p99s = [];
    for (let i = 1; i < s.length; i++) {
      rates.push([s[i].t, rateOf(s[i - 1], s[i])]);
      const m = meanOf(s[i - 1], s[i]);
      const p = quantile(0.99, s[i - 1], s[i]);
      if (m !== null) means.push([s[i].t, m * 1000]);
      if (p !== null) p99s.push([s[i].t, p * 1000]);
    }
    const now = last.t;
    drawChart($('chart-rate'), now, [{ points: rates, color: '#1f6feb', name: 'applied/s' }]);
    drawChart($('chart-latency'), now, [
      { points: means, color: '#1a7f37', name: 'mean' },
      { points: p99s, color: '#cf222e', name: 'p99' },
    ]);
  }

  async function poll(gen) {
    try {
      const text = await getText('/metrics');
      if (gen !== metrics.gen) return;
      const mm = parseMetrics(text);
      const sample = sampleOf(mm, Date.now());
      const prev = metrics.samples[metrics.samples.length - 1];
      // A counter that went down: the service restarted, and its counters with it.
      if (prev && (sample.applied < prev.applied || sample.commitCount < prev.commitCount)) {
        metrics.samples = [];
      }
      metrics.samples.push(sample);
      while (metrics.samples.length > 1 && sample.t - metrics.samples[0].t > METRICS_WINDOW_MS) {
        metrics.samples.shift();
      }
      metrics.failures = 0;
      showError($('metrics-error'), null);
      showMetrics(mm);
      $('metrics-state').textContent = `updated ${new Date().toISOString().slice(11, 19)} UTC, ` +
        `every ${METRICS_PERIOD_MS / 1000} s`;
    } catch (e) {
      if (gen !== metrics.gen) return;
      showError($('metrics-error'), e);
      const refused = e instanceof ApiError && e.status >= 400 && e.status < 500;
      if (refused || ++metrics.failures >= METRICS_FAILURES_MAX) {
        $('metrics-state').textContent = refused && e.status === 401
          ? 'stopped: the service needs a valid key'
          : `stopped after ${metrics.failures} failed polls`;
        $('metrics-retry').hidden = false;
        return;
      }
    }
    metrics.timer = setTimeout(() => poll(gen), METRICS_PERIOD_MS);
  }

  function metricsStart() {
    metrics.gen++;
    clearTimeout(metrics.timer);
    metrics.failures = 0;
    $('metrics-retry').hidden = true;
    poll(metrics.gen);
  }

  // A line chart of series ({points: [[t, y]], color, name}) over the last minute up to now.
  function drawChart(canvas, now, series) {
    const dpr = window.devicePixelRatio || 1;
    const w = canvas.clientWidth || 600;
    const h = canvas.clientHeight || 140;
    if (canvas.width !== Math.round(w * dpr)) canvas.width = Math.round(w * dpr);
    if (canvas.height !== Math.round(h * dpr)) canvas.height = Math.round(h * dpr);
    const g = canvas.getContext('2d');
    g.setTransform(dpr, 0, 0, dpr, 0, 0);
    g.clearRect(0, 0, w, h);
    const left = 56;
    const right = w - 8;
    const top = 18;
    const bottom = h - 20;
    let max = 0;
    for (const s of series) for (const [, y] of s.points) max = Math.max(max, y);
    max = max > 0 ? niceCeil(max) : 1;
    g.font = '11px "DejaVu Sans", sans-serif';
    g.fillStyle = '#57606a';
    g.strokeStyle = '#d0d7de';
    g.lineWidth = 1;
    for (let i = 0; i <= 4; i++) {
      const y = bottom - ((bottom - top) * i) / 4;
      g.beginPath();
      g.moveTo(left, y + 0.5);
      g.lineTo(right, y + 0.5);
      g.stroke();
      g.textAlign = 'right';
      g.fillText(fmtAxis((max * i) / 4), left - 4, y + 4);
    }
    g.textAlign = 'left';
    g.fillText('-60 s', left, h - 6);
    g.textAlign = 'right';
    g.fillText('now', right, h - 6);
    const x = t => left + ((right - left) * (t - (now - METRICS_WINDOW_MS))) / METRICS_WINDOW_MS;
    const yOf = v => bottom - ((bottom - top) * v) / max;
    let legend = left;
    for (const s of series) {
      g.strokeStyle = s.color;
      g.fillStyle = s.color;
      g.lineWidth = 2;
      g.beginPath();
      s.points.forEach(([t, v], i) => (i === 0 ? g.moveTo(x(t), yOf(v)) : g.lineTo(x(t), yOf(v))));
      g.stroke();
      // Each point a 3x3 square on whole pixels, so it has the series' colour exactly.
      for (const [t, v] of s.points) g.fillRect(Math.round(x(t)) - 1, Math.round(yOf(v)) - 1, 3, 3);
      g.textAlign = 'left';
      g.fillText(s.name, legend, 12);
      legend += g.measureText(s.name).width + 16;
    }
  }

  function niceCeil(v) {
    const p = 10 ** Math.floor(Math.log10(v));
    for (const m of [1, 2, 2.5, 5, 10]) if (v <= m * p) return m * p;
    return 10 * p;
  }

  function fmtAxis(v) {
    if (v === 0) return '0';
    if (v >= 1000) return v.toFixed(0);
    if (v >= 1) return String(Number(v.toFixed(2)));
    return String(Number(v.toPrecision(2)));
  }

  // ---- wiring ---------------------------------------------------------------------------

  $('key-form').addEventListener('submit', ev => {
    ev.preventDefault();
    useKey($('api-key').value.trim());
  });
  $('key-forget').addEventListener('click', () => useKey(''));
  $('account-form').addEventListener('submit', ev => {
    ev.preventDefault();
    lookUp();
  });
  $('history-next').addEventListener('click', pageNext);
  $('history-prev').addEventListener('click', pagePrev);
  $('history-first').addEventListener('click', pageFirst);
  $('stream-toggle').addEventListener('click', streamToggle);
  $('metrics-retry').addEventListener('click', metricsStart);

  showKeyState();
  streamRestart();
  metricsStart();
})();
