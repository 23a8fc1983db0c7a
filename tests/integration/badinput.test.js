// badinput.test.js: hundreds of malformed and hostile requests, sent as raw bytes over TCP and the
// Unix socket to the real wpsgated in front of a recording fake upstream. Each gets the expected
// answer (a JSON 4xx from the gateway, or libmicrohttpd's own page where it answers before the
// gateway sees the request), nothing reaches the upstream that should not (count and exact contents),
// and afterwards the gateway is healthy with flat memory. The case table is lib/badinput-cases.js.
'use strict';

// WPSGATE_VALGRIND=1 (see tests/lib/paths.js) runs the gateway under valgrind: then the table goes once over
// TCP only and the RSS rounds are skipped (valgrind's leak check at exit takes their place).
const { VALGRIND } = require('./lib/gwkit');
const { test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const net = require('node:net');
const { startGateway, gatewayWithUpstream, redact } = require('./lib/harness');
const { exchange, statuses, firstFinal } = require('./lib/badinput-raw');
const { cases, MAX_BODY, MAX_HEADER, STD_UP_HEADERS, V, H } = require('./lib/badinput-cases');

const IDLE_S = 2;                  // limits.idle_timeout_s: bounds the cases libmicrohttpd leaves hanging
const CASE_TIMEOUT_MS = 5000;      // per exchange; every case ends well before (Connection: close or EOF)
const MEM_ROUNDS = 2;              // rounds of the whole table (TCP) after the warm-up, for the memory check
const RSS_GROWTH_MAX_KB = 3072;    // allowed VmRSS growth over those rounds

let key;
let up;
let gw;
let stop;

// In a sanitizer build ASan keeps freed memory in a quarantine (256 MiB by default), which would read
// as growth: keep it small for the gateway this test starts (it inherits the environment).
process.env.ASAN_OPTIONS = [process.env.ASAN_OPTIONS, 'quarantine_size_mb=1', 'thread_local_quarantine_size_kb=64']
  .filter(Boolean).join(':');

before(async () => {
  ({ key, up, gw, stop } = await gatewayWithUpstream({
    timeoutMs: 5000, maxBody: MAX_BODY, limits: { max_header_bytes: MAX_HEADER, idle_timeout_s: IDLE_S },
  }));
  const cfg = fs.readFileSync(gw.cfgFile, 'utf8');
  assert.match(cfg, new RegExp(`^limits = \\{ max_body_bytes = ${MAX_BODY}; max_header_bytes = ${MAX_HEADER}; idle_timeout_s = ${IDLE_S}; \\};$`, 'm'),
    'the gateway config carries the limits this test needs');
});

after(() => stop && stop()); // gw.stop asserts exit 0 (a sanitizer build exits non-zero on a leak)

function vmRssKb(pid) {
  const m = /^VmRSS:\s+(\d+) kB$/m.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
  assert.ok(m, 'VmRSS in /proc/PID/status');
  return Number(m[1]);
}

function expectFor(c, via) {
  return c.expect[via] || c.expect;
}

function target(via) {
  return via === 'unix' ? gw.unix : gw.tcp;
}

const show = (b) => redact(JSON.stringify(b.toString('latin1').slice(0, 300)), key);

// Check one exchange against the case; throws with the case's name.
function check(c, via, res, recs) {
  const e = expectFor(c, via);
  const what = `${c.name} [${via}]`;
  const sts = statuses(res.data, !!e.head);
  if (e.status === 'none') {
    assert.equal(res.data.length, 0, `${what}: no answer expected, got ${show(res.data)}`);
    assert.ok(res.closed, `${what}: the gateway closes the connection`);
  } else {
    assert.ok(res.closed, `${what}: closed within ${CASE_TIMEOUT_MS} ms (got ${show(res.data)})`);
    assert.deepEqual(sts, e.statuses || [e.status], `${what}: statuses; got ${show(res.data)}`);
    const r = firstFinal(res.data, e.head);
    assert.ok(r, `${what}: a parsable response`);
    if (e.closeHeader) assert.equal(r.headers.connection, 'close', `${what}: Connection: close`);
    const by = e.by || 'gw';
    if (by === 'gw' && !e.head) {
      assert.match(r.headers['content-type'] || '', /^application\/json/, `${what}: Content-Type`);
      let j;
      try { j = JSON.parse(r.body.toString()); } catch { assert.fail(`${what}: not JSON: ${show(r.body)}`); }
      assert.equal(typeof j.message, 'string', `${what}: message`);
      if (e.code) assert.equal(j.code, e.code, `${what}: code (${j.message})`);
      else assert.equal(typeof j.code, 'string', `${what}: code`);
    } else if (by === 'mhd') {
      // libmicrohttpd's own error page: never the gateway's JSON, never a request id from us
      assert.equal(r.headers['x-ms-client-request-id'], undefined, `${what}: answered by libmicrohttpd`);
      // (its 0.9.75 repeats the header block of some pages: then the "body" starts with it)
      assert.ok(r.body.length === 0 || /^(<html>|HTTP\/1\.1 )/.test(r.body.toString('latin1')), `${what}: body ${show(r.body)}`);
    } else if (by === 'local') {
      assert.deepEqual(JSON.parse(r.body.toString()).status, 'ok', `${what}: /healthz body`);
    } else if (by === 'batch') {
      const j = JSON.parse(r.body.toString());
      const got = {};
      for (const x of j.responses) got[x.id] = x.status;
      assert.deepEqual(got, Object.fromEntries(Object.entries(e.batch).map(([k, v]) => [k, v])), `${what}: sub-request statuses`);
    }
  }
  // what reached the upstream
  for (const rec of recs) {
    assert.ok(rec.jwt.ok, `${what}: upstream JWT: ${rec.jwt.error}`);
    const names = rec.rawHeaders.filter((_, i) => i % 2 === 0).map((n) => n.toLowerCase());
    for (const n of names) assert.ok(STD_UP_HEADERS.includes(n), `${what}: header ${n} reached the upstream`);
    assert.equal(names.filter((n) => n === 'authorization').length, 1, `${what}: one Authorization`);
  }
  if (e.upCheck) {
    e.upCheck(recs);
    return;
  }
  const want = e.up || [];
  assert.equal(recs.length, want.length, `${what}: requests upstream: ${recs.map((r) => `${r.method} ${r.url}`).join(', ')}`);
  want.forEach((w, i) => {
    assert.equal(recs[i].method, w.method, `${what}: upstream method`);
    assert.equal(recs[i].url, w.url, `${what}: upstream URL`);
    assert.equal(recs[i].body.toString('latin1'), w.body, `${what}: upstream body`);
    assert.equal(recs[i].headers['content-type'], w.ct, `${what}: upstream Content-Type`);
  });
}

// One case over one transport; resolves to the status seen (for the summary).
async function runCase(c, via) {
  const e = expectFor(c, via);
  const n0 = up.requests.length;
  const res = await exchange(target(via), c.bytes, { half: !!e.half, timeoutMs: CASE_TIMEOUT_MS });
  // the upstream answers before the gateway does: its records are complete once we have the response
  check(c, via, res, up.requests.slice(n0));
  return e.status;
}

async function healthy(via) {
  const res = await exchange(target(via), 'GET /healthz HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n');
  assert.deepEqual(statuses(res.data), [200], `/healthz over ${via}: ${show(res.data)}`);
}

const tally = {};

test(`${cases.length} bad-input cases over TCP${VALGRIND ? '' : ' and the Unix socket'}`, async () => {
  const failures = [];
  for (const via of VALGRIND ? ['tcp'] : ['tcp', 'unix']) {
    for (const c of cases) {
      try {
        const st = await runCase(c, via);
        tally[st] = (tally[st] || 0) + 1;
      } catch (err) {
        failures.push(err.message);
      }
    }
  }
  assert.ok(failures.length === 0, `${failures.length} exchanges differ:\n${failures.join('\n')}`);
  await healthy('tcp');
  await healthy('unix');
  console.log(`# statuses: ${JSON.stringify(tally)}`);
});

// More query parameters than WPS_QUERY_PARAMS_MAX, or a target longer than WPS_URL_MAX: api_uri_check (the
// URI log callback) cuts the query before libmicrohttpd 0.9.75 splits it -- 500 parameters used to exhaust
// its per-connection pool, and it logged a 431 it never sent, leaving the connection to the idle timeout.
test('500 query parameters get 400 at once, a target over 8192 bytes 414, nothing upstream', async () => {
  const q = Array.from({ length: 500 }, (_, i) => `excluded=c${i}`).join('&');
  const many = `POST ${H}/:send?${q} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\nContent-Type: text/plain\r\nContent-Length: 1\r\n\r\nx`;
  const long = `HEAD ${H}/users/u?filter=${'a'.repeat(9000)} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n`;
  const n0 = up.requests.length;
  for (const sock of [gw.tcp, gw.unix]) {
    const r = await exchange(sock, many, { timeoutMs: 2000 });
    assert.ok(r.ms < 1000, `answered at once: ${r.ms} ms`);
    assert.deepEqual(statuses(r.data), [400], show(r.data));
    assert.equal(JSON.parse(firstFinal(r.data, false).body.toString()).code, 'InvalidParameter');
    const l = await exchange(sock, long, { timeoutMs: 2000 });
    assert.deepEqual(statuses(l.data, true), [414], show(l.data));
  }
  assert.equal(up.requests.length, n0, 'nothing upstream');
  await healthy('tcp');
});

test(`memory stays flat over ${MEM_ROUNDS} more rounds`, { skip: VALGRIND && 'under valgrind (its leak check at exit instead)' }, async () => {
  const pid = gw.proc.pid;
  const rss0 = vmRssKb(pid);   // after the warm-up round above
  for (let i = 0; i < MEM_ROUNDS; i++) for (const c of cases) await runCase(c, 'tcp');
  const rss1 = vmRssKb(pid);
  await healthy('tcp');
  console.log(`# VmRSS ${rss0} kB -> ${rss1} kB over ${MEM_ROUNDS * cases.length} requests`);
  assert.ok(rss1 - rss0 <= RSS_GROWTH_MAX_KB, `VmRSS grew by ${rss1 - rss0} kB (limit ${RSS_GROWTH_MAX_KB})`);
});

// RFC 9112 framing and header limits, once todo tests (H11), now answered by the gateway before any
// body is read: exact status, JSON code, Connection: close where asked, nothing upstream.
const SMUGGLED = `POST ${H}/users/victim/:send HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\nContent-Type: text/plain\r\nContent-Length: 8\r\n\r\nSMUGGLED`;
const FIXED = [
  ['Content-Length and Transfer-Encoding together: 400, connection closed',
    `POST ${H}/:send HTTP/1.1\r\nHost: localhost\r\nContent-Type: text/plain\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n${SMUGGLED}`, 400, 'InvalidFraming', true],
  ['two different Content-Length: 400, connection closed',
    `POST ${H}/:send HTTP/1.1\r\nHost: localhost\r\nContent-Type: text/plain\r\nContent-Length: 1\r\nContent-Length: 200\r\n\r\nx${SMUGGLED}`, 400, 'InvalidFraming', true],
  ['Transfer-Encoding gzip: 501 at once',
    `POST ${H}/:send HTTP/1.1\r\nHost: localhost\r\nContent-Type: text/plain\r\nTransfer-Encoding: gzip\r\n\r\nxyz`, 501, 'NotImplemented', true],
  [`a header over limits.max_header_bytes (${MAX_HEADER}): 431`,
    `GET /healthz HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\nX-Big: ${'a'.repeat(MAX_HEADER + 8000)}\r\n\r\n`, 431, 'RequestHeaderFieldsTooLarge', false],
];
for (const [name, bytes, status, code, close] of FIXED) {
  test(name, async () => {
    const n0 = up.requests.length;
    // no Connection: close from the client in the framing cases: the gateway must close by itself, at once
    const res = await exchange(gw.tcp, bytes, { timeoutMs: 1000 });
    assert.ok(res.closed, `closed by the gateway within 1 s: ${show(res.data)}`);
    assert.deepEqual(statuses(res.data), [status], show(res.data));
    const r = firstFinal(res.data, false);
    assert.equal(JSON.parse(r.body.toString()).code, code);
    if (close) assert.equal(r.headers.connection, 'close');
    assert.equal(up.requests.length, n0, 'nothing upstream');
  });
}

// What RFC 9112 asks for and libmicrohttpd 0.9.75 does before the gateway sees the request (so the
// gateway cannot change it). Marked todo: they report, they do not fail the suite.
const TODO = [
  ['a malformed Content-Length: one 400 (libmicrohttpd 0.9.75 writes its header block twice)',
    `POST ${H}/:send HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\nContent-Type: text/plain\r\nContent-Length: -1\r\n\r\nx`, [400]],
];
for (const [name, bytes, want, head] of TODO) {
  test(name, { todo: 'libmicrohttpd 0.9.75: see the case table and wpsgated(8)' }, async () => {
    const n0 = up.requests.length;
    const res = await exchange(gw.tcp, bytes, { timeoutMs: 1000 });
    assert.deepEqual(statuses(res.data, !!head), want);
    assert.equal(up.requests.length, n0, 'nothing upstream');
  });
}

// ---- what a broken or hostile upstream answers: raw bytes from a TCP server standing in for the service ----
function rawUpstream() {
  const answers = [];
  const got = [];
  const server = net.createServer((s) => {
    let buf = Buffer.alloc(0);
    s.on('error', () => {});
    s.on('data', (c) => {
      buf = Buffer.concat([buf, c]);
      const e = buf.indexOf('\r\n\r\n');
      if (e < 0) return;
      const cl = /\r\ncontent-length: *(\d+)/i.exec(buf.subarray(0, e).toString('latin1'));
      if (cl && buf.length < e + 4 + Number(cl[1])) return;
      got.push(buf.toString('latin1'));
      buf = Buffer.alloc(0);
      s.end(Buffer.from(answers.length ? answers.shift() : 'HTTP/1.1 500 No answer programmed\r\nContent-Length: 0\r\n\r\n', 'latin1'));
    });
  });
  return { server, answers, got };
}

const UPSTREAM_ANSWERS = [
  // [name, raw answer, status to the application, header lines it must have (lower-case name: value) or lack (value null)]
  ['bare CR in Content-Type (header injection)', 'HTTP/1.1 202 Accepted\r\nContent-Type: text/plain\rX-Injected: 1\r\nContent-Length: 0\r\n\r\n',
    202, { 'content-type': null, 'x-injected': null }],
  ['bare CR in Retry-After, NUL in x-ms-error-code', 'HTTP/1.1 429 Too Many\r\nRetry-After: 5\rSet-Cookie: a=b\r\nx-ms-error-code: A\0B\r\nContent-Length: 0\r\n\r\n',
    502, { 'set-cookie': null, 'retry-after': null, 'x-ms-error-code': null }],
  ['x-ms-error-code of 2000 bytes is dropped', `HTTP/1.1 400 Bad\r\nx-ms-error-code: ${'E'.repeat(2000)}\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}`,
    400, { 'x-ms-error-code': null, 'content-type': 'application/json' }],
  ['100 Continue, then the answer', 'HTTP/1.1 100 Continue\r\nx-ms-error-code: early\r\n\r\nHTTP/1.1 202 Accepted\r\nContent-Length: 0\r\n\r\n',
    202, { 'x-ms-error-code': null }],
  ['not HTTP', 'GARBAGE\r\n\r\n', 502, {}],
  ['malformed chunk', 'HTTP/1.1 202 Accepted\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n', 502, {}],
  ['body shorter than Content-Length', 'HTTP/1.1 202 Accepted\r\nContent-Length: 5\r\n\r\nab', 502, {}],
  ['body until close', 'HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n\r\n{"a":1}', 200, { 'content-type': 'application/json' }],
  ['redirect is not followed', 'HTTP/1.1 302 Found\r\nLocation: http://evil.example/\r\nContent-Length: 0\r\n\r\n', 302, { location: null }],
  ['unparsable retry hints pass through as text', 'HTTP/1.1 503 Busy\r\nRetry-After: Sun, 06 Nov 1994 08:49:37 GMT\r\nretry-after-ms: -1\r\nContent-Length: 0\r\n\r\n',
    503, { 'retry-after': 'Sun, 06 Nov 1994 08:49:37 GMT', 'retry-after-ms': '-1' }],
  ['two Content-Types: the last', 'HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Type: application/json\r\nContent-Length: 0\r\n\r\n',
    200, { 'content-type': 'application/json' }],
  // a status outside 100..599 is not passed on: 502 BadGateway, nothing of that answer kept
  ['status 999', 'HTTP/1.1 999 Odd\r\nContent-Type: text/plain\r\nx-ms-error-code: Odd\r\nRetry-After: 1\r\nContent-Length: 3\r\n\r\nodd',
    502, { 'x-ms-error-code': null, 'retry-after': null, 'content-type': 'application/json' }],
  ['status 600', 'HTTP/1.1 600 Odd\r\nContent-Length: 0\r\n\r\n', 502, {}],
  ['status 099', 'HTTP/1.1 099 Odd\r\nContent-Length: 0\r\n\r\n', 502, {}],
  ['status 599 passes', 'HTTP/1.1 599 Odd\r\nContent-Length: 0\r\n\r\n', 599, {}],
];

test(`${UPSTREAM_ANSWERS.length} malformed upstream answers`, async (t) => {
  const ru = rawUpstream();
  await new Promise((r) => ru.server.listen(0, '127.0.0.1', r));
  t.after(() => new Promise((r) => ru.server.close(r)));
  const gw2 = await startGateway(t, { endpoint: `http://127.0.0.1:${ru.server.address().port}`, key, timeoutMs: 3000 });
  const body = 'x';
  for (const [name, answer, status, hdrs] of UPSTREAM_ANSWERS) {
    ru.answers.push(answer);
    const n0 = ru.got.length;
    const res = await exchange(gw2.tcp, `POST ${H}/:send HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\nContent-Type: text/plain\r\nContent-Length: ${body.length}\r\n\r\n${body}`);
    assert.equal(ru.got.length - n0, 1, `${name}: one attempt upstream`);
    const r = firstFinal(res.data, false);
    assert.ok(r, `${name}: an answer: ${show(res.data)}`);
    assert.equal(r.status, status, `${name}: status; ${show(res.data)}`);
    // no header of the answer may split into two: every header line of ours is a known name
    const names = res.data.toString('latin1').split('\r\n\r\n')[0].split('\r\n').slice(1).map((l) => l.split(':')[0].toLowerCase());
    for (const n of names) {
      assert.ok(['date', 'connection', 'content-type', 'content-length', 'x-ms-client-request-id', 'x-ms-error-code', 'retry-after',
        'retry-after-ms', 'x-ms-retry-after-ms', 'traceparent'].includes(n), `${name}: header ${JSON.stringify(n)} in the answer`);
    }
    for (const [h, v] of Object.entries(hdrs)) assert.equal(r.headers[h], v === null ? undefined : v, `${name}: ${h}`);
    if (status === 502) {
      assert.equal(JSON.parse(r.body.toString()).code, 'BadGateway', `${name}: JSON 502`);
    }
  }
  await healthy('tcp');
  await gw2.stop();
});

test('the gateway logged no secret and is still running', async () => {
  assert.equal(gw.exited(), null, 'still running');
  assert.ok(!gw.stderr().includes(key), 'the key is not in the log');
  assert.ok(!gw.stdout().includes(key), 'the key is not in the log');
  for (const t of up.tokens) assert.ok(!gw.stderr().includes(t), 'no upstream JWT in the log');
});
