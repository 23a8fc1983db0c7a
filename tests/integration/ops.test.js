// ops.test.js: every one of the 25 operations through the real wpsgated to a recording fake upstream:
// exact method, path, query, body and Content-Type upstream, a valid JWT, no application credential
// forwarded, and the upstream's answer back unchanged; api-version rules; :generateToken answered locally.
'use strict';

const { test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const { gatewayWithUpstream, redact } = require('./lib/harness');
const { verifyJwt } = require('./lib/jwtcheck');

const APP_AUTH = 'Bearer app-placeholder';
const V = 'api-version=2024-12-01';
const ALL_BYTES = Buffer.from(Array.from({ length: 256 }, (_, i) => i));

let key;
let up;
let gw;
let stop;

before(async () => {
  ({ key, up, gw, stop } = await gatewayWithUpstream());
});

after(() => stop && stop());

// A success answer with a marker body (so that the test sees the body come back), or none where
// HTTP allows none (HEAD, 204).
function okAnswer(status, method, marker) {
  if (method === 'HEAD' || status === 204) return { status, headers: {} };
  return { status, headers: { 'content-type': 'application/json; charset=utf-8' }, body: JSON.stringify({ marker }) };
}

// Run one case: send c.req through the gateway, check what the upstream got and what came back.
async function runCase(c) {
  up.reset();
  const answer = c.answer || okAnswer(c.success, c.req.method, c.name);
  up.once(answer);
  const headers = Object.assign({ authorization: APP_AUTH }, c.req.headers || {});
  const res = await gw.request(Object.assign({}, c.req, { headers }));

  // upstream side
  assert.equal(up.requests.length, 1, `${c.name}: upstream requests (got ${up.requests.map((r) => r.method + ' ' + r.url).join(', ')})`);
  const got = up.requests[0];
  assert.equal(got.method, c.expect.method || c.req.method, `${c.name}: upstream method`);
  assert.equal(got.path, c.expect.path, `${c.name}: upstream path`);
  assert.equal(got.query, c.expect.query, `${c.name}: upstream query string`);
  const wantBody = c.expect.body === undefined ? Buffer.alloc(0) : Buffer.from(c.expect.body);
  assert.ok(got.body.equals(wantBody), `${c.name}: upstream body (${got.body.length} bytes, expected ${wantBody.length}): ${JSON.stringify(got.body.toString('latin1').slice(0, 200))}`);
  assert.equal(got.headers['content-type'], c.expect.contentType, `${c.name}: upstream Content-Type`);
  assert.ok(got.jwt.ok, `${c.name}: upstream JWT: ${got.jwt.error}`);
  assert.notEqual(got.headers.authorization, APP_AUTH, `${c.name}: the application's Authorization reached the upstream`);
  assert.ok(!up.tokens.includes('app-placeholder'), `${c.name}: the application's token reached the upstream`);
  assert.equal(got.rawHeaders.filter((h, i) => i % 2 === 0 && h.toLowerCase() === 'authorization').length, 1,
    `${c.name}: exactly one Authorization header upstream`);

  // application side
  assert.equal(res.status, answer.status, `${c.name}: status to the application; body ${redact(res.body.toString(), key)}`);
  if (c.req.method !== 'HEAD' && answer.status !== 204) {
    assert.equal(res.body.toString('latin1'), Buffer.from(answer.body || '').toString('latin1'), `${c.name}: body to the application`);
  }
  const ah = answer.headers || {};
  if (ah['content-type'] !== undefined) assert.equal(res.headers['content-type'], ah['content-type'], `${c.name}: Content-Type to the application`);
  assert.equal(res.headers['x-ms-error-code'], ah['x-ms-error-code'], `${c.name}: x-ms-error-code to the application`);
  assert.equal(res.headers['retry-after'], ah['retry-after'], `${c.name}: Retry-After to the application`);
  return { res, got };
}

const H = '/api/hubs/chat';
const JSON_BODY = '{"msg":"hello","n":1,"u":"\u00e9\u4e2d"}';

const CASES = [
  { name: 'GetServiceStatus', success: 200,
    req: { via: 'unix', method: 'HEAD', path: '/api/health?api-version=2024-12-01' },
    expect: { path: '/api/health', query: V } },
  { name: 'SendToAll (json, repeated excluded, filter with quotes, ttl)', success: 202,
    req: { via: 'tcp', method: 'POST',
      path: `${H}/:send?excluded=conn1&excluded=conn%202&filter=userId%20ne%20'O''Brien'&messageTtlSeconds=30&api-version=2024-12-01`,
      headers: { 'content-type': 'application/json' }, body: JSON_BODY },
    expect: { path: `${H}/:send`, query: `${V}&excluded=conn1&excluded=conn%202&filter=userId%20ne%20%27O%27%27Brien%27&messageTtlSeconds=30`,
      body: JSON_BODY, contentType: 'application/json' } },
  { name: 'SendToAll (text with charset, + and %2B in query, hub with . and _)', success: 202,
    req: { via: 'unix', method: 'POST', path: '/api/hubs/Chat_1.v2/:send?excluded=a+b&excluded=c%2Bd&api-version=2024-12-01',
      headers: { 'content-type': 'text/plain; charset=utf-8' }, body: 'h\u00e9llo w\u00f6rld' },
    expect: { path: '/api/hubs/Chat_1.v2/:send', query: `${V}&excluded=a%20b&excluded=c%2Bd`,
      body: 'h\u00e9llo w\u00f6rld', contentType: 'text/plain; charset=utf-8' } },
  { name: 'SendToAll (binary, every byte value)', success: 202,
    req: { via: 'tcp', method: 'POST', path: `${H}/:send?api-version=2024-12-01`,
      headers: { 'content-type': 'application/octet-stream' }, body: ALL_BYTES },
    expect: { path: `${H}/:send`, query: V, body: ALL_BYTES, contentType: 'application/octet-stream' } },
  { name: 'SendToAll (upstream 429 with Retry-After)', success: 202,
    answer: { status: 429, headers: { 'content-type': 'application/json', 'retry-after': '7', 'x-ms-error-code': 'Error.Throttled' },
      body: '{"code":"TooManyRequests","message":"slow down"}' },
    req: { via: 'unix', method: 'POST', path: `${H}/:send?api-version=2024-12-01`,
      headers: { 'content-type': 'text/plain' }, body: 'x' },
    expect: { path: `${H}/:send`, query: V, body: 'x', contentType: 'text/plain' } },
  { name: 'CloseAllConnections', success: 204,
    req: { via: 'unix', method: 'POST', path: `${H}/:closeConnections?excluded=c1&reason=going+away&api-version=2024-12-01` },
    expect: { path: `${H}/:closeConnections`, query: `${V}&excluded=c1&reason=going%20away` } },
  { name: 'AddConnectionsToGroups (known older api-version passed through)', success: 200,
    req: { via: 'tcp', method: 'POST', path: `${H}/:addToGroups?api-version=2024-01-01`,
      headers: { 'content-type': 'application/json' }, body: '{"groups":["g1","my group"],"filter":"userId eq \'a b\'"}' },
    expect: { path: `${H}/:addToGroups`, query: 'api-version=2024-01-01',
      body: '{"groups":["g1","my group"],"filter":"userId eq \'a b\'"}', contentType: 'application/json' } },
  { name: 'RemoveConnectionsFromGroups', success: 200,
    req: { via: 'unix', method: 'POST', path: `${H}/:removeFromGroups?api-version=2024-12-01`,
      headers: { 'content-type': 'application/json' }, body: '{"groups":["g\u00e9"]}' },
    expect: { path: `${H}/:removeFromGroups`, query: V, body: '{"groups":["g\u00e9"]}', contentType: 'application/json' } },
  { name: 'ConnectionExists (encoded slash; upstream 404 with x-ms-error-code)', success: 200,
    answer: { status: 404, headers: { 'x-ms-error-code': 'Error.Connection.NotExisted' } },
    req: { via: 'tcp', method: 'HEAD', path: `${H}/connections/conn%2F1?api-version=2024-12-01` },
    expect: { path: `${H}/connections/conn%2F1`, query: V } },
  { name: 'CloseConnection (space in id, reserved char in reason)', success: 204,
    req: { via: 'unix', method: 'DELETE', path: `${H}/connections/conn%201?reason=bye%21&api-version=2024-12-01` },
    expect: { path: `${H}/connections/conn%201`, query: `${V}&reason=bye%21` } },
  { name: 'SendToConnection (%7E decoded to ~, ttl 0)', success: 202,
    req: { via: 'tcp', method: 'POST', path: `${H}/connections/c%7E1/:send?messageTtlSeconds=0&api-version=2024-12-01`,
      headers: { 'content-type': 'application/json' }, body: '[1,2,3]' },
    expect: { path: `${H}/connections/c~1/:send`, query: `${V}&messageTtlSeconds=0`, body: '[1,2,3]', contentType: 'application/json' } },
  { name: 'RemoveConnectionFromAllGroups', success: 204,
    req: { via: 'unix', method: 'DELETE', path: `${H}/connections/c1/groups?api-version=2024-12-01` },
    expect: { path: `${H}/connections/c1/groups`, query: V } },
  { name: 'GroupExists (group with a space)', success: 200,
    req: { via: 'tcp', method: 'HEAD', path: `${H}/groups/my%20group?api-version=2024-12-01` },
    expect: { path: `${H}/groups/my%20group`, query: V } },
  { name: 'CloseGroupConnections (+ in a path segment is a plus)', success: 204,
    req: { via: 'unix', method: 'POST', path: `${H}/groups/a+b/:closeConnections?excluded=x&excluded=y&reason=r&api-version=2024-12-01` },
    expect: { path: `${H}/groups/a%2Bb/:closeConnections`, query: `${V}&excluded=x&excluded=y&reason=r` } },
  { name: 'SendToGroup (lower-case escapes canonicalised, filter)', success: 202,
    req: { via: 'tcp', method: 'POST', path: `${H}/groups/g%c3%a9/:send?filter=%27g1%27+in+groups&excluded=c%3d1&api-version=2024-12-01`,
      headers: { 'content-type': 'text/plain' }, body: 'to the group' },
    expect: { path: `${H}/groups/g%C3%A9/:send`, query: `${V}&filter=%27g1%27%20in%20groups&excluded=c%3D1`, body: 'to the group', contentType: 'text/plain' } },
  { name: 'ListConnectionsInGroup (paging parameters)', success: 200,
    answer: { status: 200, headers: { 'content-type': 'application/json' },
      body: '{"value":[{"connectionId":"c1","userId":"u1"},{"connectionId":"c2"}],"nextLink":"/api/hubs/chat/groups/g1/connections?api-version=2024-12-01&continuationToken=next"}' },
    req: { via: 'unix', method: 'GET', path: `${H}/groups/g1/connections?maxpagesize=2&top=10&continuationToken=abc%3D%3D&api-version=2024-12-01` },
    expect: { path: `${H}/groups/g1/connections`, query: `${V}&maxpagesize=2&top=10&continuationToken=abc%3D%3D` } },
  { name: 'AddConnectionToGroup', success: 200,
    req: { via: 'tcp', method: 'PUT', path: `${H}/groups/g1/connections/c1?api-version=2024-12-01` },
    expect: { path: `${H}/groups/g1/connections/c1`, query: V } },
  { name: 'AddConnectionToGroup (upstream 404 with JSON error and x-ms-error-code)', success: 200,
    answer: { status: 404, headers: { 'content-type': 'application/json', 'x-ms-error-code': 'Error.Connection.NotExisted' },
      body: '{"code":"NotFound","message":"Connection does not exist.","target":"connectionId","details":[]}' },
    req: { via: 'unix', method: 'PUT', path: `${H}/groups/g1/connections/nope?api-version=2024-12-01` },
    expect: { path: `${H}/groups/g1/connections/nope`, query: V } },
  { name: 'RemoveConnectionFromGroup', success: 204,
    req: { via: 'unix', method: 'DELETE', path: `${H}/groups/g1/connections/c1?api-version=2024-12-01` },
    expect: { path: `${H}/groups/g1/connections/c1`, query: V } },
  { name: 'GrantPermission (targetName with +)', success: 200,
    req: { via: 'tcp', method: 'PUT', path: `${H}/permissions/sendToGroup/connections/c1?targetName=my+group&api-version=2024-12-01` },
    expect: { path: `${H}/permissions/sendToGroup/connections/c1`, query: `${V}&targetName=my%20group` } },
  { name: 'CheckPermission (upstream 404)', success: 200,
    answer: { status: 404, headers: { 'x-ms-error-code': 'Warning.Permission.NotGranted' } },
    req: { via: 'unix', method: 'HEAD', path: `${H}/permissions/joinLeaveGroup/connections/c1?targetName=g1&api-version=2024-12-01` },
    expect: { path: `${H}/permissions/joinLeaveGroup/connections/c1`, query: `${V}&targetName=g1` } },
  { name: 'RevokePermission', success: 204,
    req: { via: 'tcp', method: 'DELETE', path: `${H}/permissions/joinLeaveGroup/connections/c1?targetName=g1&api-version=2024-12-01` },
    expect: { path: `${H}/permissions/joinLeaveGroup/connections/c1`, query: `${V}&targetName=g1` } },
  { name: 'UserExists (user@example.com/x)', success: 200,
    req: { via: 'unix', method: 'HEAD', path: `${H}/users/user%40example.com%2Fx?api-version=2024-12-01` },
    expect: { path: `${H}/users/user%40example.com%2Fx`, query: V } },
  { name: 'CloseUserConnections (raw @ and lower-case %2f canonicalised)', success: 204,
    req: { via: 'tcp', method: 'POST', path: `${H}/users/user@example.com%2fx/:closeConnections?excluded=c1&reason=x&api-version=2024-12-01` },
    expect: { path: `${H}/users/user%40example.com%2Fx/:closeConnections`, query: `${V}&excluded=c1&reason=x` } },
  { name: 'SendToUser (upstream 400 problem+json)', success: 202,
    answer: { status: 400, headers: { 'content-type': 'application/problem+json', 'x-ms-error-code': 'Error.InvalidFilter' },
      body: '{"type":"about:blank","title":"Bad filter","status":400}' },
    req: { via: 'unix', method: 'POST', path: `${H}/users/user%40example.com%2Fx/:send?filter=userId%20eq%20%27a%27&messageTtlSeconds=300&api-version=2024-12-01`,
      headers: { 'content-type': 'text/plain' }, body: 'to a user' },
    expect: { path: `${H}/users/user%40example.com%2Fx/:send`, query: `${V}&filter=userId%20eq%20%27a%27&messageTtlSeconds=300`, body: 'to a user', contentType: 'text/plain' } },
  { name: 'SendToUser (json)', success: 202,
    req: { via: 'tcp', method: 'POST', path: `${H}/users/u1/:send?api-version=2024-12-01`,
      headers: { 'content-type': 'application/json' }, body: '"just a string"' },
    expect: { path: `${H}/users/u1/:send`, query: V, body: '"just a string"', contentType: 'application/json' } },
  { name: 'RemoveUserFromAllGroups', success: 204,
    req: { via: 'tcp', method: 'DELETE', path: `${H}/users/u1/groups?api-version=2024-12-01` },
    expect: { path: `${H}/users/u1/groups`, query: V } },
  { name: 'AddUserToGroup (space in user, slash in group)', success: 200,
    req: { via: 'unix', method: 'PUT', path: `${H}/users/u%201/groups/g%2F2?api-version=2024-12-01` },
    expect: { path: `${H}/users/u%201/groups/g%2F2`, query: V } },
  { name: 'RemoveUserFromGroup', success: 204,
    req: { via: 'tcp', method: 'DELETE', path: `${H}/users/u1/groups/g1?api-version=2024-12-01` },
    expect: { path: `${H}/users/u1/groups/g1`, query: V } },
  { name: 'SendToAll (hub with a comma is encoded)', success: 202,
    req: { via: 'unix', method: 'POST', path: '/api/hubs/h,1/:send?api-version=2024-12-01',
      headers: { 'content-type': 'text/plain' }, body: 'c' },
    expect: { path: '/api/hubs/h%2C1/:send', query: V, body: 'c', contentType: 'text/plain' } },
  // api-version rules
  { name: 'api-version missing: the configured default is sent', success: 202,
    req: { via: 'tcp', method: 'POST', path: `${H}/:send?excluded=c1`, headers: { 'content-type': 'text/plain' }, body: 'v' },
    expect: { path: `${H}/:send`, query: `${V}&excluded=c1`, body: 'v', contentType: 'text/plain' } },
  { name: 'api-version missing and no query at all', success: 200,
    req: { via: 'unix', method: 'HEAD', path: '/api/health' },
    expect: { path: '/api/health', query: V } },
  { name: 'api-version never published: forwarded unchanged (the service answers for it)', success: 204,
    req: { via: 'unix', method: 'DELETE', path: `${H}/users/u1/groups?api-version=2099-01-01` },
    expect: { path: `${H}/users/u1/groups`, query: 'api-version=2099-01-01' } },
  { name: 'api-version preview: forwarded unchanged, checked by its own rules ($filter)', success: 202,
    req: { via: 'tcp', method: 'POST', path: `${H}/:send?%24filter=userId%20eq%20%27a%27&api-version=2022-10-01-preview`,
      headers: { 'content-type': 'text/plain' }, body: 'p' },
    expect: { path: `${H}/:send`, query: "api-version=2022-10-01-preview&%24filter=userId%20eq%20%27a%27", body: 'p', contentType: 'text/plain' } },
  { name: 'api-version known non-default, given last: passed through first', success: 202,
    req: { via: 'tcp', method: 'POST', path: `${H}/groups/g1/:send?excluded=a&excluded=b&api-version=2023-07-01`,
      headers: { 'content-type': 'text/plain' }, body: 'old' },
    expect: { path: `${H}/groups/g1/:send`, query: 'api-version=2023-07-01&excluded=a&excluded=b', body: 'old', contentType: 'text/plain' } },
];

for (const c of CASES) {
  test(c.name, async () => { await runCase(c); });
}

test('ListConnectionsInGroup: a nextLink on the service\'s host comes back relative, so the next page goes through the gateway', async () => {
  up.reset();
  const abs = `${up.endpoint}/api/hubs/chat/groups/g1/connections?maxpagesize=2&continuationToken=t1&api-version=2024-12-01`;
  const other = 'https://elsewhere.example/api/hubs/chat/groups/g1/connections?continuationToken=t2';
  for (const [link, want] of [[abs, abs.slice(up.endpoint.length)], [other, other]]) {
    up.once({ status: 200, headers: { 'content-type': 'application/json; charset=utf-8' },
      body: JSON.stringify({ value: [{ connectionId: 'c1', userId: null }], nextLink: link }) });
    const res = await gw.request({ via: 'unix', method: 'GET', path: `${H}/groups/g1/connections?maxpagesize=2&${V}` });
    assert.equal(res.status, 200);
    assert.equal(res.body.toString(), JSON.stringify({ value: [{ connectionId: 'c1', userId: null }], nextLink: want }));
  }
});

// Refused before anything leaves the host: by the rules of the version the caller named.
const REFUSED = [
  { name: 'an operation the version does not have', method: 'GET', path: `${H}/groups/g1/connections?api-version=2024-01-01`,
    message: /api-version 2024-01-01 has no ListConnectionsInGroup \(the service added it in 2024-12-01\)/ },
  { name: 'a parameter the version does not take', method: 'POST', path: `${H}/:send?messageTtlSeconds=5&api-version=2022-11-01`,
    message: /SendToAll of api-version 2022-11-01 takes no query parameter messageTtlSeconds/ },
  { name: 'a parameter of an older preview in a newer version', method: 'POST', path: `${H}/:send?%24filter=x&api-version=2099-01-01`,
    message: /api-version 2024-12-01 takes no query parameter \$filter/ },
  { name: 'not an api-version', method: 'POST', path: `${H}/:send?api-version=latest`, message: /api-version must be a date/ },
];
for (const c of REFUSED) {
  test(`api-version: ${c.name} is 400 InvalidParameter, nothing forwarded`, async () => {
    up.reset();
    const res = await gw.request({ via: 'tcp', method: c.method, path: c.path, headers: { 'content-type': 'text/plain' },
      body: c.method === 'POST' ? 'x' : undefined });
    assert.equal(res.status, 400);
    const body = JSON.parse(res.body.toString());
    assert.equal(body.code, 'InvalidParameter');
    assert.match(body.message, c.message);
    assert.equal(up.requests.length, 0, 'nothing reached the upstream');
  });
}

test('all 25 operations are covered by the cases above', () => {
  const { OPS, matchOp } = require('./lib/optable');
  const seen = new Set(CASES.map((c) => matchOp(c.expect.method || c.req.method, c.expect.path)).filter(Boolean).map((o) => o.name));
  seen.add('GenerateClientToken'); // tested below, answered locally
  assert.deepEqual(OPS.map((o) => o.name).filter((n) => !seen.has(n)), []);
});

test('a body sent to an operation without one is not forwarded', async () => {
  up.reset();
  const res = await gw.request({ via: 'tcp', method: 'DELETE', path: `${H}/connections/c1?api-version=2024-12-01`,
    headers: { 'content-type': 'text/plain', authorization: APP_AUTH }, body: 'junk that must stay here' });
  assert.equal(res.status, 204);
  assert.equal(up.requests.length, 1);
  assert.equal(up.requests[0].body.length, 0, 'upstream body');
  assert.equal(up.requests[0].headers['content-type'], undefined, 'upstream Content-Type');
});

test('the upstream JWT is fresh for every request and never the application\'s', async () => {
  up.reset();
  for (let i = 0; i < 3; i++) {
    const res = await gw.request({ via: i % 2 ? 'unix' : 'tcp', method: 'HEAD', path: `${H}/users/u${i}?api-version=2024-12-01`, headers: { authorization: APP_AUTH } });
    assert.equal(res.status, 200);
  }
  assert.equal(up.requests.length, 3);
  const auds = up.requests.map((r) => r.jwt.claims && r.jwt.claims.aud);
  assert.deepEqual(auds, [0, 1, 2].map((i) => `${up.endpoint}${H}/users/u${i}?${V}`));
  for (const r of up.requests) {
    assert.ok(r.jwt.ok, r.jwt.error);
    const { exp } = r.jwt.claims;
    const now = Math.floor(Date.now() / 1000);
    assert.ok(exp > now + 30 && exp <= now + 3600, `exp ${exp - now} s ahead`);
  }
});

test('many requests in flight at once, over both listeners', async () => {
  up.reset();
  const N = 40;
  const reqs = [];
  for (let i = 0; i < N; i++) {
    reqs.push(gw.request({ via: i % 2 ? 'unix' : 'tcp', method: 'POST', path: `${H}/users/u${i}/:send`,
      headers: { 'content-type': 'text/plain', authorization: APP_AUTH }, body: `m${i}` }));
  }
  const res = await Promise.all(reqs);
  assert.deepEqual(res.map((r) => r.status), Array(N).fill(202));
  assert.equal(up.requests.length, N);
  const got = up.requests.map((r) => `${r.path}=${r.body.toString()}`).sort();
  const want = Array.from({ length: N }, (_, i) => `${H}/users/u${i}/:send=m${i}`).sort();
  assert.deepEqual(got, want);
  assert.ok(up.requests.every((r) => r.jwt.ok));
});

test('an application reusing one keep-alive connection: every request answered in order', async () => {
  const http = require('node:http');
  up.reset();
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  const sockets = new Set();
  try {
    for (let i = 0; i < 20; i++) {
      const res = await new Promise((resolve, reject) => {
        const r = http.request({ agent, host: '127.0.0.1', port: gw.tcpPort, method: 'POST', path: `${H}/groups/g${i}/:send`,
          headers: { 'content-type': 'text/plain', 'content-length': String(`k${i}`.length) } }, (rs) => {
          const c = [];
          rs.on('data', (d) => c.push(d));
          rs.on('end', () => resolve({ status: rs.statusCode, socket: r.socket }));
        });
        r.setTimeout(10000, () => r.destroy(new Error('timed out')));
        r.on('error', reject);
        r.end(`k${i}`);
      });
      assert.equal(res.status, 202, `request ${i}`);
      sockets.add(res.socket);
    }
  } finally {
    agent.destroy();
  }
  assert.equal(sockets.size, 1, 'the connection was kept alive');
  assert.deepEqual(up.requests.map((r) => `${r.path} ${r.body}`), Array.from({ length: 20 }, (_, i) => `${H}/groups/g${i}/:send k${i}`));
});

test('a large upstream answer comes back byte for byte', async () => {
  up.reset();
  const value = Array.from({ length: 3000 }, (_, i) => ({ connectionId: `conn-${i}-${'x'.repeat(20)}`, userId: `user ${i}` }));
  const body = JSON.stringify({ value });
  up.once({ status: 200, headers: { 'content-type': 'application/json' }, body });
  const res = await gw.request({ via: 'unix', method: 'GET', path: `${H}/groups/big/connections?maxpagesize=200` });
  assert.equal(res.status, 200);
  assert.ok(body.length > 100000);
  assert.equal(res.body.length, Buffer.byteLength(body));
  assert.ok(res.body.equals(Buffer.from(body)), 'body differs');
});

// ---- :generateToken, answered by the gateway itself

function checkTokenResponse(res, { path, minutes, sub, role, group }) {
  assert.equal(res.status, 200, `status; body ${redact(res.body.toString(), key)}`);
  assert.match(res.headers['content-type'] || '', /^application\/json/);
  const j = JSON.parse(res.body.toString());
  assert.deepEqual(Object.keys(j).sort(), ['baseUrl', 'token', 'url']);
  const upPort = up.port;
  const baseUrl = `ws://127.0.0.1:${upPort}/${path}`;
  assert.equal(j.baseUrl, baseUrl, 'baseUrl');
  assert.ok(j.url === `${baseUrl}?access_token=${j.token}`, 'url is baseUrl?access_token=<token>');
  let v;
  try { v = verifyJwt(j.token, key); } catch (e) { assert.fail(`client token: ${e.message}`); }
  const c = v.claims;
  assert.equal(c.aud, `http://127.0.0.1:${upPort}/${path}`, 'aud');
  assert.ok(Number.isInteger(c.iat) && Number.isInteger(c.exp), 'iat and exp are integers');
  const now = Math.floor(Date.now() / 1000);
  assert.ok(Math.abs(c.iat - now) <= 10, `iat ${c.iat} vs now ${now}`);
  assert.equal(c.exp - c.iat, minutes * 60, 'exp - iat');
  assert.deepEqual(c.sub, sub, 'sub');
  assert.deepEqual(c.role, role, 'role');
  assert.deepEqual(c['webpubsub.group'], group, 'webpubsub.group');
  const order = ['aud', 'iat', 'exp', 'sub', 'role', 'webpubsub.group'].filter((k) => c[k] !== undefined);
  assert.deepEqual(Object.keys(c), order, 'claims and their order (shared/vectors/jwt-signing.json)');
  return j;
}

test('GenerateClientToken: user, roles, groups, minutes; answered without the upstream', async () => {
  up.reset();
  const res = await gw.request({ via: 'unix', method: 'POST', headers: { authorization: APP_AUTH },
    path: `${H}/:generateToken?userId=user%40example.com&role=webpubsub.joinLeaveGroup&role=webpubsub.sendToGroup.g1&group=g1&group=my+group&minutesToExpire=5&api-version=2024-12-01` });
  checkTokenResponse(res, { path: 'client/hubs/chat', minutes: 5, sub: 'user@example.com',
    role: ['webpubsub.joinLeaveGroup', 'webpubsub.sendToGroup.g1'], group: ['g1', 'my group'] });
  assert.equal(up.requests.length, 0, 'no upstream request');
});

test('GenerateClientToken: defaults (60 minutes, no sub, role or group claim)', async () => {
  up.reset();
  const res = await gw.request({ via: 'tcp', method: 'POST', path: `${H}/:generateToken?api-version=2024-12-01` });
  checkTokenResponse(res, { path: 'client/hubs/chat', minutes: 60, sub: undefined, role: undefined, group: undefined });
  assert.equal(up.requests.length, 0, 'no upstream request');
});

test('GenerateClientToken: clientType MQTT (case-insensitive) uses the MQTT client path', async () => {
  up.reset();
  for (const ct of ['MQTT', 'mqtt']) {
    const res = await gw.request({ via: 'tcp', method: 'POST', path: `${H}/:generateToken?clientType=${ct}&userId=dev1&minutesToExpire=1` });
    checkTokenResponse(res, { path: 'clients/mqtt/hubs/chat', minutes: 1, sub: 'dev1', role: undefined, group: undefined });
  }
  const res = await gw.request({ via: 'unix', method: 'POST', path: '/api/hubs/Other_hub/:generateToken?clientType=Default&api-version=2099-01-01' });
  checkTokenResponse(res, { path: 'client/hubs/Other_hub', minutes: 60, sub: undefined, role: undefined, group: undefined });
  assert.equal(up.requests.length, 0, 'no upstream request');
});

test('the gateway logged one line per request with the operation', async () => {
  const log = gw.stderr();
  // logfmt: msg=request and msg="request" are the same value
  assert.match(log, /msg="?request"? .*\bmethod=POST op=SendToAll hub=chat status=202 upstream_status=202 attempts=1 /);
  assert.match(log, /msg="?request"? .*\bop=GenerateClientToken hub=chat status=200 /);
  assert.match(log, /msg="?request"? .*\bop=ConnectionExists hub=chat status=404 upstream_status=404 /);
  assert.ok(!log.includes(key), 'the key is in the log');
});
