// fake-upstream.js: a fake Web PubSub REST service on 127.0.0.1 that records every request,
// verifies its JWT the way the service does, and answers what a test programs.
'use strict';

const http = require('node:http');
const { matchOp } = require('./optable');
const { verifyJwt } = require('./jwtcheck');

const MAX_JWT_AHEAD_S = 3600;

// The documented success answer of an operation, as the real service gives it.
function defaultResponse(rec) {
  if (!rec.op) {
    return { status: 404, headers: { 'content-type': 'application/json' },
             body: JSON.stringify({ code: 'FakeUpstreamNoRoute', message: `fake upstream: no operation for ${rec.method} ${rec.path}` }) };
  }
  if (rec.op.name === 'GenerateClientToken') {
    return { status: 200, headers: { 'content-type': 'application/json' }, body: JSON.stringify({ token: 'token-from-fake-upstream' }) };
  }
  if (rec.op.name === 'ListConnectionsInGroup') {
    return { status: 200, headers: { 'content-type': 'application/json' }, body: JSON.stringify({ value: [] }) };
  }
  return { status: rec.op.success, headers: {}, body: '' };
}

// Start the fake. opts.key: the access key the JWTs must be signed with.
// Resolves to an object:
//   port, endpoint ('http://127.0.0.1:PORT'), requests (records, in arrival order), tokens (every
//   bearer token received), once(spec) (queue a one-shot answer), respond(fn) (fn(rec) -> spec or
//   undefined for the default), reset(), waitForRequests(n, ms), close().
// A spec is { status, headers, body, delayMs? } or { hang: true } or { destroy: true }.
// respond(fn): fn may return { delayMs } alone to delay the default answer.
async function startUpstream(opts) {
  const key = opts.key;
  const requests = [];
  const tokens = [];
  const queue = [];
  const hung = new Set();
  const sockets = new Set();
  let responder = null;

  const server = http.createServer((req, res) => {
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => {
      const url = req.url;
      const qi = url.indexOf('?');
      const rec = {
        method: req.method,
        url,
        path: qi < 0 ? url : url.slice(0, qi),
        query: qi < 0 ? null : url.slice(qi + 1),
        headers: req.headers,
        rawHeaders: req.rawHeaders,
        body: Buffer.concat(chunks),
        op: matchOp(req.method, url),
        jwt: { ok: false, error: 'no Authorization header' },
      };
      const auth = req.headers.authorization;
      if (auth !== undefined) {
        const m = /^Bearer (.+)$/.exec(auth);
        if (!m) {
          rec.jwt = { ok: false, error: 'Authorization is not "Bearer <token>"' };
        } else {
          tokens.push(m[1]);
          rec.jwt = checkServerJwt(m[1], key, `http://127.0.0.1:${server.address().port}${url}`);
        }
      }
      requests.push(rec);
      let spec = queue.length ? queue.shift() : undefined;
      if (spec === undefined && responder) spec = responder(rec);
      if (spec === undefined) spec = defaultResponse(rec);
      else if (spec.status === undefined && spec.delayMs && !spec.hang && !spec.destroy) spec = Object.assign(defaultResponse(rec), { delayMs: spec.delayMs });
      if (spec.hang) { hung.add(res); res.on('close', () => hung.delete(res)); return; }
      if (spec.destroy) { req.socket.destroy(); return; }
      const body = spec.body === undefined ? Buffer.alloc(0) : Buffer.from(spec.body);
      const headers = Object.assign({}, spec.headers || {});
      if (spec.status !== 204 && spec.status !== 304) headers['content-length'] = String(body.length);
      const answer = () => {
        hung.delete(res);
        res.writeHead(spec.status, headers);
        res.end(req.method === 'HEAD' || spec.status === 204 ? undefined : body);
      };
      if (spec.delayMs) { hung.add(res); setTimeout(answer, spec.delayMs); } else answer();
    });
  });
  server.on('connection', (s) => { sockets.add(s); s.on('close', () => sockets.delete(s)); });
  await new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', resolve);
  });
  const port = server.address().port;

  return {
    port,
    endpoint: `http://127.0.0.1:${port}`,
    requests,
    tokens,
    once(spec) { queue.push(spec); },
    respond(fn) { responder = fn; },
    reset() { requests.length = 0; queue.length = 0; responder = null; },
    async waitForRequests(n, ms = 5000) {
      for (let i = 0; i < ms / 20 && requests.length < n; i++) await new Promise((r) => setTimeout(r, 20));
      return requests.length >= n;
    },
    close() {
      for (const res of hung) res.destroy();
      for (const s of sockets) s.destroy();
      return new Promise((resolve) => server.close(() => resolve()));
    },
  };
}

// Verify a server (REST) JWT: HS256 with the key, aud equal to the exact URL received, exp in the
// future and not more than an hour ahead. Returns { ok, error?, header?, claims?, token }.
function checkServerJwt(token, key, expectedAud) {
  try {
    const { header, claims } = verifyJwt(token, key);
    const now = Math.floor(Date.now() / 1000);
    if (claims.aud !== expectedAud) throw new Error(`aud ${JSON.stringify(claims.aud)} != URL received ${JSON.stringify(expectedAud)}`);
    if (typeof claims.exp !== 'number' || !Number.isInteger(claims.exp)) throw new Error('exp is not an integer');
    if (claims.exp <= now) throw new Error(`exp ${claims.exp} is not in the future (now ${now})`);
    if (claims.exp > now + MAX_JWT_AHEAD_S + 5) throw new Error(`exp ${claims.exp} is more than ${MAX_JWT_AHEAD_S} s ahead (now ${now})`);
    return { ok: true, header, claims, token };
  } catch (e) {
    return { ok: false, error: e.message, token };
  }
}

module.exports = { startUpstream, checkServerJwt };
