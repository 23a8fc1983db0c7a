// fidelity.test.js: the service's own recorded exchanges (tests/vectors/service) replayed (a) against
// the real wpsgate-emulator, signed as the service requires, after building the state each one
// implies with real WebSocket clients, comparing status, x-ms-error-code, Content-Type,
// api-supported-versions, Content-Length and body; (b) unsigned through the real wpsgated to a
// recording fake upstream, comparing the request the upstream receives with the recorded one and
// the answer the caller gets with the recorded answer.
'use strict';

const { test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const crypto = require('node:crypto');
const fs = require('node:fs');
const http = require('node:http');
const path = require('node:path');
const e2e = require('../e2e/lib/harness.js');
const { gatewayWithUpstream, SRCDIR } = require('./lib/harness');

const VDIR = path.join(SRCDIR, 'tests', 'vectors', 'service');
const FILES = fs.readdirSync(VDIR).filter((f) => f.endsWith('.json')).sort();
const VECTORS = FILES.map((f) => ({ file: f, doc: JSON.parse(fs.readFileSync(path.join(VDIR, f), 'utf8')) }));
const JSON_PROTOCOL = 'json.webpubsub.azure.v1';
const REQUEST_MS = 10000;   // one request
const CONNECT_MS = 5000;    // one WebSocket client to its connected message
const GONE_TRIES = 100;     // x 20 ms: a client the test closed leaves the emulator
const TOKEN_LIFETIME_S = 300;

// ---- small helpers ----

function b64u(v) { return Buffer.from(v).toString('base64url'); }
function signJwt(claims, key) {
  const hp = `${b64u(JSON.stringify({ alg: 'HS256', typ: 'JWT' }))}.${b64u(JSON.stringify(claims))}`;
  return `${hp}.${crypto.createHmac('sha256', key).update(hp).digest('base64url')}`;
}
function verifyJwt(tok, key) {
  const parts = tok.split('.');
  assert.equal(parts.length, 3, 'a JWT has three parts');
  const mac = crypto.createHmac('sha256', key).update(`${parts[0]}.${parts[1]}`).digest('base64url');
  assert.equal(parts[2], mac, 'the token is signed with the access key');
  return { header: JSON.parse(Buffer.from(parts[0], 'base64url')), claims: JSON.parse(Buffer.from(parts[1], 'base64url')) };
}
const now = () => Math.floor(Date.now() / 1000);

// One HTTP request on a fresh connection to 127.0.0.1:port; target is sent as it is.
function send(port, method, target, headers, body) {
  return new Promise((resolve, reject) => {
    const r = http.request({ host: '127.0.0.1', port, method, path: target, headers, agent: false }, (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode, headers: res.headers, body: Buffer.concat(chunks) }));
      res.on('error', reject);
    });
    r.setTimeout(REQUEST_MS, () => r.destroy(new Error(`${method} ${target} timed out`)));
    r.on('error', reject);
    r.end(body && body.length ? body : undefined);
  });
}

function bodyOf(req) {
  if (!req.body) return Buffer.alloc(0);
  return req.body.base64 !== undefined ? Buffer.from(req.body.base64, 'base64') : Buffer.from(req.body.text, 'utf8');
}

// Query string -> [[key, value]] decoded ('+' is a space, as the service reads it).
function pairs(q) {
  if (q === null || q === undefined || q === '') return [];
  return q.split('&').filter((s) => s.length).map((s) => {
    const i = s.indexOf('=');
    const dec = (x) => decodeURIComponent(x.replace(/\+/g, ' '));
    return i < 0 ? [dec(s), ''] : [dec(s.slice(0, i)), dec(s.slice(i + 1))];
  });
}
// Grouped by key, each key's values in order: what the service sees whatever the order of keys.
function grouped(q) {
  const m = new Map();
  for (const [k, v] of pairs(q)) { if (!m.has(k)) m.set(k, []); m.get(k).push(v); }
  return [...m.entries()].sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
}

const unsettled = (step, ex, what) => [...(step.unsettled || []), ...(ex.unsettled || [])].some((u) => u.startsWith(what));

test('the vectors are well formed: a source for each, bodies of the recorded length, no token value', () => {
  let n = 0;
  for (const { file, doc } of VECTORS) {
    assert.ok(Array.isArray(doc.exchanges) && doc.exchanges.length > 0, `${file}: exchanges`);
    for (const ex of doc.exchanges) {
      assert.ok(ex.name && ex.source && ex.source.repo && ex.source.path && ex.source.commit, `${file}: ${ex.name}: source`);
      assert.match(ex.source.commit, /^[0-9a-f]{40}$/, `${ex.name}: commit`);
      for (const st of ex.steps) {
        if (!st.request) { assert.ok(st.connect || st.disconnect, `${ex.name}: a step is a request or a client change`); continue; }
        n++;
        const r = st.request;
        assert.match(r.method, /^(GET|HEAD|POST|PUT|DELETE)$/, `${ex.name}: method`);
        assert.match(r.path, /^\/api\//, `${ex.name}: path`);
        if (r.contentLength !== undefined) assert.equal(bodyOf(r).length, r.contentLength, `${ex.name}: ${r.method} ${r.path}: body length`);
        assert.ok(st.response && Number.isInteger(st.response.status), `${ex.name}: response status`);
      }
    }
    // no JWT of the service copied: three base64url parts starting with a JSON header
    assert.doesNotMatch(JSON.stringify(doc), /eyJ[\w-]{8,}\.eyJ[\w-]{8,}\.[\w-]{20,}/, `${file}: a token value`);
  }
  assert.ok(n >= 150, `requests in the vectors: ${n}`);
});

// ---- (a) the emulator ----

function hubOf(ex) {
  if (ex.state && ex.state.hub) return ex.state.hub;
  for (const st of ex.steps) {
    const m = st.request && /^\/api\/hubs\/([^/]+)/.exec(st.request.path);
    if (m) return decodeURIComponent(m[1]);
  }
  return 'hub';
}

// A real client of the emulator with the connection's user and groups in its token.
function connect(emu, hub, spec) {
  const WebSocket = e2e.req('ws');
  const claims = { aud: `${emu.endpoint}/client/hubs/${hub}`, iat: now(), exp: now() + TOKEN_LIFETIME_S };
  if (spec.user) claims.sub = spec.user;
  if (spec.groups && spec.groups.length) claims['webpubsub.group'] = spec.groups;
  const url = `${emu.endpoint.replace('http://', 'ws://')}/client/hubs/${encodeURIComponent(hub)}?access_token=${signJwt(claims, emu.key)}`;
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, spec.protocol || JSON_PROTOCOL);
    const timer = setTimeout(() => { ws.terminate(); reject(new Error('no connected message')); }, CONNECT_MS);
    ws.on('error', (e) => { clearTimeout(timer); reject(e); });
    ws.once('message', (d) => {
      clearTimeout(timer);
      const m = JSON.parse(d.toString());
      assert.equal(m.event, 'connected');
      ws.removeAllListeners('error');
      ws.on('error', () => {});
      resolve({ ws, id: m.connectionId });
    });
  });
}

async function waitGone(emu, hub, id) {
  for (let i = 0; i < GONE_TRIES; i++) {
    const target = `/api/hubs/${hub}/connections/${id}?api-version=2024-12-01`;
    const r = await send(emu.port, 'HEAD', target, { authorization: `Bearer ${signJwt({ aud: `${emu.endpoint}${target}`, exp: now() + 60 }, emu.key)}` });
    if (r.status === 404) return;
    await new Promise((res) => setTimeout(res, 20));
  }
  assert.fail(`connection ${id} did not leave`);
}

function matchShape(got, want, ctx, where) {
  if (typeof want === 'string') {
    if (want === '<string>') return assert.equal(typeof got, 'string', `${where}: a string`);
    if (want === '<conn>') return assert.ok(ctx.ids.has(got), `${where}: ${JSON.stringify(got)} is a connection of the state`);
    if (want === '<jwt>') { ctx.tokens.push(got); return verifyJwt(got, ctx.key); }
    const nl = /^<nextLink:([^?]*)\?(.*)>$/.exec(want);
    if (nl) {
      assert.equal(typeof got, 'string', `${where}: nextLink`);
      const u = new URL(got);
      assert.equal(u.origin, ctx.endpoint, `${where}: nextLink is absolute, on the emulator`);
      assert.equal(u.pathname, nl[1], `${where}: nextLink path`);
      const g = pairs(u.search.slice(1)), w = pairs(nl[2]);
      assert.deepEqual(g.map((p) => p[0]), w.map((p) => p[0]), `${where}: nextLink parameters, in order`);
      w.forEach(([k, v], i) => { if (v !== '*') assert.equal(g[i][1], v, `${where}: nextLink ${k}`); });
      return undefined;
    }
    return assert.equal(got, want, where);
  }
  if (want === null || typeof want !== 'object') return assert.equal(got, want, where);
  if (Array.isArray(want)) {
    assert.ok(Array.isArray(got), `${where}: an array`);
    assert.equal(got.length, want.length, `${where}: length`);
    return want.forEach((w, i) => matchShape(got[i], w, ctx, `${where}[${i}]`));
  }
  assert.ok(got !== null && typeof got === 'object' && !Array.isArray(got), `${where}: an object`);
  assert.deepEqual(Object.keys(got), Object.keys(want), `${where}: members, in order`);
  for (const k of Object.keys(want)) matchShape(got[k], want[k], ctx, `${where}.${k}`);
  return undefined;
}

function checkToken(tok, want, ctx, where) {
  const { header, claims } = verifyJwt(tok, ctx.key);
  assert.deepEqual(Object.keys(header), want.header, `${where}: token header members`);
  for (const [k, v] of Object.entries(want.headerValues || {})) assert.equal(header[k], v, `${where}: header ${k}`);
  assert.deepEqual(Object.keys(claims), want.claims, `${where}: token claims`);
  if (want.lifetimeSeconds !== undefined) assert.equal(claims.exp - claims.iat, want.lifetimeSeconds, `${where}: lifetime`);
  if (want.nbfEqualsIat) assert.equal(claims.nbf, claims.iat, `${where}: nbf = iat`);
  if (want.audPath) assert.equal(new URL(claims.aud).pathname, want.audPath, `${where}: aud path`);
  assert.equal(new URL(claims.aud).host, new URL(ctx.endpoint).host, `${where}: aud host`);
}

// Compare an answer with the recorded one (only what the source gives).
function compareAnswer(label, method, want, res, ctx, skipLength) {
  assert.equal(res.status, want.status, `${label}: status; body ${res.body.toString().slice(0, 300)}`);
  const hdr = (n) => (res.headers[n] === undefined ? null : res.headers[n]);
  if ('errorCode' in want) assert.equal(hdr('x-ms-error-code'), want.errorCode, `${label}: x-ms-error-code`);
  if ('contentType' in want) assert.equal(hdr('content-type'), want.contentType, `${label}: Content-Type`);
  if ('apiSupportedVersions' in want && ctx.versions) assert.equal(hdr('api-supported-versions'), want.apiSupportedVersions, `${label}: api-supported-versions`);
  if (want.contentLength !== undefined && want.contentLength !== null && !skipLength) {
    // an error body echoes the id of the path once: the emulator's ids have other lengths
    assert.equal(Number(hdr('content-length')), want.contentLength + (want.status >= 400 ? ctx.lengthDelta || 0 : 0), `${label}: Content-Length`);
  }
  if (want.body !== undefined && want.body !== null) {
    assert.equal(res.body.toString(), ctx.subst(JSON.stringify(want.body)), `${label}: body, byte for byte`);
  } else if (want.body === null && !want.bodyShape && method !== 'HEAD') {
    assert.equal(res.body.length, 0, `${label}: no body`);
  }
  if (want.bodyShape) {
    const got = JSON.parse(res.body.toString());
    matchShape(got, JSON.parse(ctx.subst(JSON.stringify(want.bodyShape))), ctx, `${label}: body`);
    if (want.token) checkToken(got.token, want.token, ctx, label);
  }
}

async function replayOnEmulator(ex) {
  const emu = await e2e.startEmulator();
  const live = {};
  try {
    const hub = hubOf(ex);
    const state = ex.state || {};
    const conns = state.connections || {};
    for (const id of state.connectAtStart || []) live[id] = await connect(emu, hub, conns[id]);
    const bind = Object.entries(ex.bind || {});
    const ctx = {
      key: emu.key, endpoint: emu.endpoint, tokens: [], versions: true,
      ids: new Set(),
      subst: (s) => bind.reduce((acc, [rec, sid]) => (live[sid] ? acc.split(rec).join(live[sid].id) : acc), s),
    };
    let prev = null;
    for (const [i, st] of ex.steps.entries()) {
      if (st.connect) { live[st.connect] = await connect(emu, hub, conns[st.connect]); continue; }
      if (st.disconnect) {
        const c = live[st.disconnect];
        c.ws.close();
        await waitGone(emu, hub, c.id);
        continue;
      }
      ctx.ids = new Set(Object.values(live).map((c) => c.id));
      const r = st.request;
      let target;
      if (r.followNextLink) {
        const link = JSON.parse(prev.body.toString()).nextLink;
        assert.equal(typeof link, 'string', `${ex.name} #${i}: the previous page has a nextLink`);
        const u = new URL(link);
        target = u.pathname + u.search;
      } else {
        target = ctx.subst(r.path) + (r.query !== null && r.query !== undefined ? `?${ctx.subst(r.query)}` : '');
      }
      const body = Buffer.from(ctx.subst(bodyOf(r).toString('latin1')), 'latin1');
      const headers = { authorization: `Bearer ${signJwt({ aud: `${emu.endpoint}${target}`, exp: now() + TOKEN_LIFETIME_S }, emu.key)}` };
      if (r.contentType) headers['content-type'] = r.contentType;
      if (body.length || r.method === 'POST' || r.method === 'PUT') headers['content-length'] = String(body.length);
      const res = await send(emu.port, r.method, target, headers, body);
      ctx.lengthDelta = bind.reduce((d, [rec, sid]) => (live[sid] && r.path.includes(rec) ? d + live[sid].id.length - rec.length : d), 0);
      compareAnswer(`${ex.name} #${i} ${r.method} ${r.path}`, r.method, st.response, res, ctx, unsettled(st, ex, 'contentLength'));
      prev = res;
    }
    assert.ok(!emu.stderr().includes(emu.key), 'the key is not in the emulator log');
  } finally {
    for (const c of Object.values(live)) c.ws.terminate();
    await emu.stop();
  }
}

for (const { file, doc } of VECTORS) {
  for (const ex of doc.exchanges) {
    test(`emulator answers as the service: ${file}: ${ex.name}`, { timeout: 60000 }, async () => { await replayOnEmulator(ex); });
  }
}

// ---- (b) the gateway ----

let key;
let up;
let gw;
let stop;

before(async () => {
  ({ key, up, gw, stop } = await gatewayWithUpstream());
});

after(() => stop && stop());

// What the fake upstream answers: the recorded answer where the recording gives all of it.
function recordedAnswer(want) {
  if (want.bodyShape !== undefined || want.body === undefined) return undefined;
  const headers = {};
  if (want.contentType) headers['content-type'] = want.contentType;
  if (want.errorCode) headers['x-ms-error-code'] = want.errorCode;
  if (want.apiSupportedVersions) headers['api-supported-versions'] = want.apiSupportedVersions;
  return { status: want.status, headers, body: want.body ? JSON.stringify(want.body) : '' };
}

async function replayThroughGateway(ex) {
  for (const [i, st] of ex.steps.entries()) {
    if (!st.request) continue;
    const r = st.request;
    const label = `${ex.name} #${i} ${r.method} ${r.path}`;
    const target = r.path + (r.query !== null && r.query !== undefined ? `?${r.query}` : '');
    const body = bodyOf(r);
    up.reset();
    const answer = recordedAnswer(st.response);
    if (answer) up.once(answer);
    const headers = {};
    if (r.contentType) headers['content-type'] = r.contentType;
    const res = await gw.request({ via: i % 2 ? 'unix' : 'tcp', method: r.method, path: target, headers, body: body.length ? body : undefined });
    if (r.method === 'POST' && /\/:generateToken$/.test(r.path)) {
      // With the access key the gateway signs client tokens itself and never forwards this
      // operation (wpsgated(8)); the recorded request cannot reach the upstream.
      assert.equal(res.status, 200, `${label}: answered locally; ${res.body}`);
      assert.equal(up.requests.length, 0, `${label}: nothing forwarded`);
      const tok = JSON.parse(res.body.toString()).token;
      const { claims } = verifyJwt(tok, key);
      const q = new URLSearchParams(r.query);
      assert.equal(claims.sub, q.get('userId') || undefined, `${label}: sub`);
      if (q.getAll('group').length) assert.deepEqual(claims['webpubsub.group'], q.getAll('group'), `${label}: groups`);
      if (q.getAll('role').length) assert.deepEqual(claims.role, q.getAll('role'), `${label}: roles`);
      continue;
    }
    assert.equal(up.requests.length, 1, `${label}: one upstream request; answer ${res.status} ${res.body}`);
    const got = up.requests[0];
    assert.equal(got.method, r.method, `${label}: upstream method`);
    assert.equal(got.path, r.path, `${label}: upstream path`);
    assert.deepEqual(grouped(got.query), grouped(r.query), `${label}: upstream query parameters (api-version unchanged)`);
    assert.equal(pairs(got.query)[0][0], 'api-version', `${label}: api-version first`);
    assert.equal(got.headers['content-type'], r.contentType || undefined, `${label}: upstream Content-Type`);
    assert.ok(got.body.equals(body), `${label}: upstream body (${got.body.length} bytes, recorded ${body.length})`);
    assert.ok(got.jwt.ok, `${label}: upstream JWT: ${got.jwt.error}`);
    // the recorded answer comes back unchanged
    if (answer) {
      compareAnswer(`${label} (through the gateway)`, r.method, st.response, res,
        { subst: (s) => s, versions: true }, true);
    }
  }
}

for (const { file, doc } of VECTORS) {
  for (const ex of doc.exchanges) {
    test(`gateway forwards as recorded: ${file}: ${ex.name}`, { timeout: 60000 }, async () => { await replayThroughGateway(ex); });
  }
}
