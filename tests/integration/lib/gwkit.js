// gwkit.js: helpers for the delivery, observability and access tests: a fake upstream that can go down
// and come back on the same port and switch keys, a Prometheus text parser, log-line helpers.
'use strict';

const http = require('node:http');
// WPSGATE_VALGRIND=1: every wpsgated the tests start runs under valgrind (lib/vgwrap.sh, through
// tests/lib/paths.js), which makes it exit 99 on a memory error or a definite leak.
const { VALGRIND } = require('../../lib/paths.js');
const { checkServerJwt } = require('./fake-upstream');
const { matchOp } = require('./optable');

function sleep(ms) { return new Promise((r) => setTimeout(r, ms)); }

// Poll cond() every 20 ms until it is true or ms passed; resolves to its last value.
async function waitFor(cond, ms = 5000) {
  const until = Date.now() + ms;
  for (;;) {
    const v = await cond();
    if (v || Date.now() >= until) return v;
    await sleep(20);
  }
}

// A fake Web PubSub service on a fixed 127.0.0.1 port that can be stopped and started again.
// opts: { port, key }. Every request is recorded { t (ms, monotonic), method, url, path, headers, body, jwt }.
// A request whose JWT does not verify with the current key (setKey) is answered 401 when strictKey is on.
// behave(fn): fn(rec) -> spec | undefined (default: the operation's success status);
// spec: { status, headers, body, delay (ms before answering) } | { hang: true } | { destroy: true }.
function flexUpstream(opts) {
  let keys = [opts.key];
  let server = null;
  let behaviour = null;
  const sockets = new Set();
  const hung = new Set();
  const up = {
    port: opts.port,
    endpoint: `http://127.0.0.1:${opts.port}`,
    requests: [],
    strictKey: true,
    setKey(...k) { keys = k; },   // the JWT must verify with one of these
    behave(fn) { behaviour = fn; },
    isUp() { return server !== null; },
    start() {
      return new Promise((resolve, reject) => {
        const s = http.createServer((req, res) => {
          const chunks = [];
          req.on('data', (c) => chunks.push(c));
          req.on('end', () => {
            const qi = req.url.indexOf('?');
            const rec = {
              t: performance.now(), method: req.method, url: req.url,
              path: qi < 0 ? req.url : req.url.slice(0, qi), headers: req.headers,
              body: Buffer.concat(chunks), op: matchOp(req.method, req.url),
            };
            const m = /^Bearer (.+)$/.exec(req.headers.authorization || '');
            rec.jwt = { ok: false, error: 'no bearer token' };
            for (const key of m ? keys : []) {
              rec.jwt = checkServerJwt(m[1], key, `http://127.0.0.1:${up.port}${req.url}`);
              if (rec.jwt.ok) { rec.keyIndex = keys.indexOf(key); break; }
            }
            up.requests.push(rec);
            let spec;
            if (up.strictKey && !rec.jwt.ok) spec = { status: 401, headers: { 'content-type': 'application/json' }, body: '{"code":"Unauthorized"}' };
            if (spec === undefined && behaviour) spec = behaviour(rec);
            if (spec === undefined) spec = { status: rec.op ? rec.op.success : 404 };
            if (spec.hang) { hung.add(res); res.on('close', () => hung.delete(res)); return; }
            if (spec.destroy) { req.socket.destroy(); return; }
            const send = () => {
            const body = Buffer.from(spec.body || '');
            const headers = Object.assign({}, spec.headers || {});
            if (spec.status !== 204) headers['content-length'] = String(body.length);
            res.writeHead(spec.status, headers);
            res.end(req.method === 'HEAD' || spec.status === 204 ? undefined : body);
            };
            if (spec.delay) { hung.add(res); setTimeout(() => { hung.delete(res); if (!res.destroyed) send(); }, spec.delay); } else send();
          });
        });
        s.keepAliveTimeout = 60000;
        s.on('connection', (c) => { sockets.add(c); c.on('close', () => sockets.delete(c)); });
        s.once('error', reject);
        s.listen(up.port, '127.0.0.1', () => { server = s; resolve(); });
      });
    },
    stop() {
      if (!server) return Promise.resolve();
      const s = server;
      server = null;
      for (const r of hung) r.destroy();
      for (const c of sockets) c.destroy();
      return new Promise((resolve) => s.close(() => resolve()));
    },
  };
  return up;
}

// Parse Prometheus text format into { samples: Map(name{labels} -> value), types: Map(family -> type), help }.
function parseMetrics(text) {
  const samples = new Map();
  const types = new Map();
  const help = new Map();
  for (const line of text.split('\n')) {
    if (line === '') continue;
    let m;
    if ((m = /^# TYPE (\S+) (\S+)$/.exec(line))) { types.set(m[1], m[2]); continue; }
    if ((m = /^# HELP (\S+) (.*)$/.exec(line))) { help.set(m[1], m[2]); continue; }
    if (line.startsWith('#')) continue;
    m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})? (\S+)( \d+)?$/.exec(line);
    if (!m) throw new Error(`bad exposition line: ${line}`);
    samples.set(m[1] + (m[2] || ''), Number(m[3]));
  }
  return { samples, types, help };
}

// The value of metric name with exactly the labels given (order-insensitive); 0 when absent.
function metric(parsed, name, labels = {}) {
  const want = Object.entries(labels).map(([k, v]) => `${k}="${v}"`).sort().join(',');
  for (const [k, v] of parsed.samples) {
    const m = /^([^{]+)(?:\{(.*)\})?$/.exec(k);
    if (m[1] !== name) continue;
    const have = (m[2] ? m[2].match(/[a-zA-Z_]+="(?:[^"\\]|\\.)*"/g) : []).sort().join(',');
    if (have === want) return v;
  }
  return 0;
}

// Sum of metric name over every sample whose labels include the given ones.
function metricSum(parsed, name, labels = {}) {
  let sum = 0;
  for (const [k, v] of parsed.samples) {
    const m = /^([^{]+)(?:\{(.*)\})?$/.exec(k);
    if (m[1] !== name) continue;
    const lab = m[2] || '';
    if (Object.entries(labels).every(([a, b]) => lab.includes(`${a}="${b}"`))) sum += v;
  }
  return sum;
}

// logfmt lines of a log text whose msg is msg, as objects.
function logfmtLines(text, msg) {
  const out = [];
  for (const line of text.split('\n')) {
    const o = {};
    const re = /([a-zA-Z_][a-zA-Z0-9_.]*)=("(?:[^"\\]|\\.)*"|\S*)/g;
    let m;
    while ((m = re.exec(line)) !== null) o[m[1]] = m[2].startsWith('"') ? JSON.parse(m[2]) : m[2];
    if (o.msg === msg) out.push(o);
  }
  return out;
}

// One HTTP request over a Unix socket from a child process running as uid/gid (the caller must be root).
// Resolves to { status, headers, body (string), pid }.
function requestAs(uid, gid, socketPath, req, timeoutMs = 10000) {
  const { spawn } = require('node:child_process');
  const script = `
    const http = require('node:http');
    const r = JSON.parse(process.argv[1]);
    const q = http.request({ socketPath: r.socketPath, method: r.method, path: r.path, headers: r.headers, agent: false }, (res) => {
      const c = []; res.on('data', (d) => c.push(d));
      res.on('end', () => { process.stdout.write(JSON.stringify({ status: res.statusCode, headers: res.headers, body: Buffer.concat(c).toString(), pid: process.pid })); });
    });
    q.on('error', (e) => { process.stdout.write(JSON.stringify({ error: e.code || e.message })); });
    q.end(r.body === undefined ? undefined : r.body);`;
  return new Promise((resolve, reject) => {
    const p = spawn(process.execPath, ['-e', script, JSON.stringify(Object.assign({ socketPath }, req))],
      { uid, gid, stdio: ['ignore', 'pipe', 'pipe'], cwd: '/' });
    const out = [];
    const err = [];
    const timer = setTimeout(() => p.kill('SIGKILL'), timeoutMs);
    p.stdout.on('data', (c) => out.push(c));
    p.stderr.on('data', (c) => err.push(c));
    p.on('error', reject);
    p.on('close', () => {
      clearTimeout(timer);
      try { resolve(JSON.parse(Buffer.concat(out).toString())); } catch { reject(new Error(`child failed: ${Buffer.concat(err)}`)); }
    });
  });
}

module.exports = { requestAs, VALGRIND, sleep, waitFor, flexUpstream, parseMetrics, metric, metricSum, logfmtLines };
