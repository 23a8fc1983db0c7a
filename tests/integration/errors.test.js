// errors.test.js: what bad requests and a failing upstream get from the real wpsgated: the right
// status with a JSON {"code","message"} body, nothing sent upstream, and a healthy gateway afterwards.
'use strict';

const { test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const { startGateway, gatewayWithUpstream, freePort, redact, sleep } = require('./lib/harness');
const { startUpstream } = require('./lib/fake-upstream');

const MAX_BODY = 1024;
const TIMEOUT_MS = 500;
const H = '/api/hubs/chat';

let key;
let up;
let gw;
let stop;

before(async () => {
  ({ key, up, gw, stop } = await gatewayWithUpstream({ maxBody: MAX_BODY, timeoutMs: TIMEOUT_MS }));
});

after(() => stop && stop());

function jsonError(res, what) {
  assert.match(res.headers['content-type'] || '', /^application\/(problem\+)?json\b/, `${what}: Content-Type`);
  let j;
  try { j = JSON.parse(res.body.toString()); } catch { assert.fail(`${what}: body is not JSON: ${redact(res.body.toString(), key)}`); }
  assert.equal(typeof j.code, 'string', `${what}: code`);
  assert.ok(j.code.length > 0, `${what}: code empty`);
  assert.equal(typeof j.message, 'string', `${what}: message`);
  return j;
}

// [name, request, expected status]
const LONG_HUB = 'h'.repeat(129);
const LONG_GROUP = 'g'.repeat(1025);
const VALIDATION = [
  ['unknown path', { method: 'GET', path: '/api/nope' }, 404],
  ['unknown path under a hub', { method: 'POST', path: `${H}/:explode` }, 404],
  ['unknown path: too many segments', { method: 'HEAD', path: `${H}/users/u1/extra/more` }, 404],
  ['root', { method: 'GET', path: '/' }, 404],
  ['wrong method on :send', { method: 'GET', path: `${H}/:send` }, 405],
  ['wrong method on /api/health', { method: 'PUT', path: '/api/health' }, 405],
  ['wrong method on a connection', { method: 'POST', path: `${H}/connections/c1` }, 405],
  ['hub starting with a digit', { method: 'POST', path: '/api/hubs/1chat/:send', headers: { 'content-type': 'text/plain' }, body: 'x' }, 400],
  ['hub with a hyphen', { method: 'POST', path: '/api/hubs/chat-room/:send', headers: { 'content-type': 'text/plain' }, body: 'x' }, 400],
  ['hub of 129 characters', { method: 'HEAD', path: `/api/hubs/${LONG_HUB}/users/u1` }, 400],
  ['empty userId', { method: 'POST', path: `${H}/users//:send`, headers: { 'content-type': 'text/plain' }, body: 'x' }, 400],
  ['empty connectionId', { method: 'DELETE', path: `${H}/connections/` }, 400],
  ['whitespace-only group', { method: 'HEAD', path: `${H}/groups/%20%20` }, 400],
  ['group of 1025 characters', { method: 'HEAD', path: `${H}/groups/${LONG_GROUP}` }, 400],
  ['unknown permission', { method: 'PUT', path: `${H}/permissions/admin/connections/c1` }, 400],
  ['messageTtlSeconds 301', { method: 'POST', path: `${H}/:send?messageTtlSeconds=301`, headers: { 'content-type': 'text/plain' }, body: 'x' }, 400],
  ['messageTtlSeconds -1', { method: 'POST', path: `${H}/:send?messageTtlSeconds=-1`, headers: { 'content-type': 'text/plain' }, body: 'x' }, 400],
  ['messageTtlSeconds not a number', { method: 'POST', path: `${H}/:send?messageTtlSeconds=ten`, headers: { 'content-type': 'text/plain' }, body: 'x' }, 400],
  ['minutesToExpire 0', { method: 'POST', path: `${H}/:generateToken?minutesToExpire=0` }, 400],
  ['clientType unknown', { method: 'POST', path: `${H}/:generateToken?clientType=Carrier` }, 400],
  ['maxpagesize 201', { method: 'GET', path: `${H}/groups/g1/connections?maxpagesize=201` }, 400],
  ['unknown query parameter', { method: 'POST', path: `${H}/:send?foo=1`, headers: { 'content-type': 'text/plain' }, body: 'x' }, 400],
  ['query parameter of another operation', { method: 'HEAD', path: `${H}/users/u1?excluded=c1` }, 400],
  ['repeated singular parameter', { method: 'POST', path: `${H}/:send?filter=a&filter=b`, headers: { 'content-type': 'text/plain' }, body: 'x' }, 400],
  ['bad escape in the path', { method: 'HEAD', path: `${H}/users/a%zz` }, 400],
  ['truncated escape in the path', { method: 'HEAD', path: `${H}/users/a%4` }, 400],
  ['bad escape in the query', { method: 'POST', path: `${H}/:send?filter=%4`, headers: { 'content-type': 'text/plain' }, body: 'x' }, 400],
  ['NUL in an id', { method: 'HEAD', path: `${H}/users/a%00b` }, 400],
  ['addToGroups: not JSON', { method: 'POST', path: `${H}/:addToGroups`, headers: { 'content-type': 'application/json' }, body: '{"groups":' }, 400],
  ['addToGroups: no groups', { method: 'POST', path: `${H}/:addToGroups`, headers: { 'content-type': 'application/json' }, body: '{"filter":"x"}' }, 400],
  ['addToGroups: extra member', { method: 'POST', path: `${H}/:addToGroups`, headers: { 'content-type': 'application/json' }, body: '{"groups":["g"],"x":1}' }, 400],
  ['send: text/html', { method: 'POST', path: `${H}/:send`, headers: { 'content-type': 'text/html' }, body: '<b>x</b>' }, 415],
  ['send: no Content-Type', { method: 'POST', path: `${H}/users/u1/:send`, body: 'x' }, 415],
  ['send: application/xml', { method: 'POST', path: `${H}/groups/g1/:send`, headers: { 'content-type': 'application/xml' }, body: '<x/>' }, 415],
  ['addToGroups: text/plain', { method: 'POST', path: `${H}/:addToGroups`, headers: { 'content-type': 'text/plain' }, body: '{"groups":["g"]}' }, 415],
  ['send: body over max_body_bytes (Content-Length)', { method: 'POST', path: `${H}/:send`, headers: { 'content-type': 'application/octet-stream' }, body: Buffer.alloc(MAX_BODY + 1, 0x61) }, 413],
];

for (const [name, req, status] of VALIDATION) {
  for (const via of ['unix', 'tcp']) {
    test(`${status} ${name} (${via})`, async () => {
      up.reset();
      const res = await gw.request(Object.assign({ via }, req));
      assert.equal(res.status, status, `${req.method} ${req.path.slice(0, 80)}: body ${redact(res.body.toString().slice(0, 300), key)}`);
      if (req.method !== 'HEAD') jsonError(res, name);
      assert.equal(up.requests.length, 0, 'nothing may reach the upstream');
    });
  }
}

test('413 for a chunked body over max_body_bytes', async () => {
  up.reset();
  const chunk = Buffer.alloc(300, 0x62);
  const chunks = [];
  for (let sent = 0; sent <= MAX_BODY; sent += chunk.length) chunks.push(chunk);
  const head = `POST ${H}/:send HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/octet-stream\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n`;
  const body = chunks.map((c) => `${c.length.toString(16)}\r\n${c.toString()}\r\n`).join('') + '0\r\n\r\n';
  for (const via of ['unix', 'tcp']) {
    const res = await gw.raw(via, Buffer.from(head + body));
    assert.equal(res.status, 413, `${via}: ${redact(res.raw.toString().slice(0, 300), key)}`);
    jsonError(res, `chunked 413 (${via})`);
  }
  assert.equal(up.requests.length, 0, 'nothing may reach the upstream');
});

test('a body of exactly max_body_bytes passes, chunked and with Content-Length', async () => {
  up.reset();
  const body = Buffer.alloc(MAX_BODY, 0x63);
  const r1 = await gw.request({ via: 'tcp', method: 'POST', path: `${H}/:send`, headers: { 'content-type': 'application/octet-stream' }, body });
  assert.equal(r1.status, 202);
  const r2 = await gw.request({ via: 'unix', method: 'POST', path: `${H}/:send`, headers: { 'content-type': 'application/octet-stream' },
    chunks: [body.subarray(0, 500), body.subarray(500)] });
  assert.equal(r2.status, 202);
  assert.equal(up.requests.length, 2);
  assert.ok(up.requests.every((r) => r.body.equals(body)), 'upstream bodies');
});

test('504 GatewayTimeout when the upstream does not answer within timeout_ms', async () => {
  up.reset();
  up.respond(() => ({ hang: true }));
  const t0 = Date.now();
  const res = await gw.request({ via: 'unix', method: 'POST', path: `${H}/:send`, headers: { 'content-type': 'text/plain' }, body: 'x' });
  const took = Date.now() - t0;
  up.respond(null);
  assert.equal(res.status, 504);
  assert.equal(jsonError(res, '504').code, 'GatewayTimeout');
  assert.ok(took >= TIMEOUT_MS - 50, `answered after ${took} ms, before the ${TIMEOUT_MS} ms deadline`);
  assert.ok(took < TIMEOUT_MS + 4000, `answered after ${took} ms, long past the ${TIMEOUT_MS} ms deadline`);
  assert.ok(up.requests.length >= 1, 'the request reached the upstream');
});

test('502 BadGateway when the upstream resets the connection', async () => {
  up.reset();
  up.respond(() => ({ destroy: true }));
  const res = await gw.request({ via: 'tcp', method: 'DELETE', path: `${H}/users/u1/groups` });
  up.respond(null);
  assert.equal(res.status, 502);
  const j = jsonError(res, '502');
  assert.equal(j.code, 'BadGateway');
  assert.match(j.message, /reply|reset|closed|recv|connection/i, 'the message names the cause');
});

test('502 BadGateway when the upstream port is closed', async (t) => {
  const closedPort = await freePort();
  const gw2 = await startGateway(t, { endpoint: `http://127.0.0.1:${closedPort}`, key, timeoutMs: 2000 });
  const t0 = Date.now();
  const res = await gw2.request({ via: 'unix', method: 'POST', path: `${H}/:send`, headers: { 'content-type': 'text/plain' }, body: 'x' });
  assert.equal(res.status, 502, redact(res.body.toString(), key));
  const j = jsonError(res, '502');
  assert.equal(j.code, 'BadGateway');
  assert.match(j.message, /connect|refused/i, 'the message names the cause');
  assert.ok(Date.now() - t0 < 2000, 'a refused connection is reported at once, not at the deadline');
  const h = await gw2.request({ via: 'tcp', method: 'GET', path: '/healthz' });
  assert.equal(h.status, 200);
  await gw2.stop();
});

test('redirects from the upstream are not followed (no credentials to another host)', async (t) => {
  const elsewhere = await startUpstream({ key });
  t.after(() => elsewhere.close());
  up.reset();
  up.once({ status: 307, headers: { location: `${elsewhere.endpoint}/api/hubs/chat/:send?api-version=2024-12-01`, 'content-type': 'text/plain' }, body: 'moved' });
  const res = await gw.request({ via: 'tcp', method: 'POST', path: `${H}/:send`, headers: { 'content-type': 'text/plain' }, body: 'x' });
  assert.equal(res.status, 307, 'the upstream status comes back as it is');
  assert.equal(up.requests.length, 1);
  await sleep(100);
  assert.equal(elsewhere.requests.length, 0, 'the gateway followed the redirect');
});

test('the gateway is healthy afterwards and still forwards', async () => {
  up.reset();
  await sleep(50);
  for (const via of ['unix', 'tcp']) {
    const h = await gw.request({ via, method: 'GET', path: '/healthz' });
    assert.equal(h.status, 200, `/healthz over ${via}`);
  }
  const res = await gw.request({ via: 'unix', method: 'POST', path: `${H}/groups/g1/:send`, headers: { 'content-type': 'application/json' }, body: '{"ok":true}' });
  assert.equal(res.status, 202);
  assert.equal(up.requests.length, 1);
  assert.ok(up.requests[0].jwt.ok, up.requests[0].jwt.error);
  assert.equal(gw.exited(), null, 'wpsgated is still running');
});
