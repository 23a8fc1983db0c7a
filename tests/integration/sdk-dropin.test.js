// sdk-dropin.test.js: the official @azure/web-pubsub WebPubSubServiceClient, pointed at wpsgated with a
// placeholder key, calls every method it offers; the fake upstream sees each request signed with the REAL key.
//
// What we found about getClientAccessToken (SDK 1.2.0, dist/commonjs/hubClient.js): with a key credential
// (a connection string) the SDK signs the client token itself with the key it holds and never calls the
// service, so with a placeholder key it returns a token the service will refuse; the gateway cannot help
// there. With a TokenCredential (Entra ID) it calls POST /api/hubs/{hub}/:generateToken instead, which the
// gateway answers locally with a token signed with the real key. The SDK refuses bearer tokens over
// http:// (core-rest-pipeline), so that client is given an https:// endpoint and an httpClient that sends
// the same request over plain http to the gateway's loopback port. Applications holding only a placeholder
// key should therefore either use that TokenCredential form or call :generateToken on the gateway directly.
// Also: core-rest-pipeline refuses plain http unless the client is given { allowInsecureConnection: true },
// so an application pointing the SDK at the gateway's http://127.0.0.1 listener must pass that option.
'use strict';

const { test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const { gatewayWithUpstream } = require('./lib/harness');
const { verifyJwt, signedWith } = require('./lib/jwtcheck');

const { requireModule } = require('../lib/paths.js');
const { WebPubSubServiceClient } = requireModule('@azure/web-pubsub');
const { createDefaultHttpClient } = requireModule('@azure/core-rest-pipeline');

const PLACEHOLDER = 'placeholder-key-the-app-holds-not-the-real-one';
const HUB = 'chat';
const V = 'api-version=2024-12-01';
const H = `/api/hubs/${HUB}`;

let key;
let up;
let gw;
let stop;
let client;
const sdkSent = []; // what the SDK put on the wire to the gateway

// An httpClient that records each request the SDK makes and sends it on unchanged.
function spyClient(rewriteToHttp) {
  const inner = createDefaultHttpClient();
  return {
    async sendRequest(req) {
      if (rewriteToHttp) req.url = req.url.replace(/^https:/, 'http:');
      sdkSent.push({ method: req.method, url: req.url, authorization: req.headers.get('authorization') });
      return inner.sendRequest(req);
    },
  };
}

before(async () => {
  ({ key, up, gw, stop } = await gatewayWithUpstream());
  client = new WebPubSubServiceClient(`Endpoint=http://127.0.0.1:${gw.tcpPort};AccessKey=${PLACEHOLDER};Version=1.0;`, HUB,
    { allowInsecureConnection: true, httpClient: spyClient(false), retryOptions: { maxRetries: 0 } });
});

after(() => stop && stop());

// Run fn (an SDK call), then check that exactly the expected requests reached the upstream, each with a
// JWT signed with the real key (never the placeholder) and aud = the URL received.
async function expectUpstream(fn, want) {
  up.reset();
  sdkSent.length = 0;
  const result = await fn();
  assert.ok(sdkSent.length >= 1, 'the SDK sent nothing to the gateway');
  assert.ok(sdkSent.every((s) => s.url.startsWith(`http://127.0.0.1:${gw.tcpPort}/`)), 'the SDK went to the gateway');
  const got = up.requests.map((r) => ({ method: r.method, path: r.path, query: r.query,
    contentType: r.headers['content-type'], body: r.body.toString('latin1') }));
  assert.deepEqual(got, want.map((w) => Object.assign({ body: '', contentType: undefined }, w,
    w.body !== undefined ? { body: Buffer.from(w.body).toString('latin1') } : {})));
  for (const r of up.requests) {
    assert.ok(r.jwt.ok, `upstream JWT for ${r.method} ${r.path}: ${r.jwt.error}`);
    assert.ok(!signedWith(r.jwt.token, PLACEHOLDER), 'the upstream got a token signed with the placeholder key');
  }
  return result;
}

test('sendToAll: json, with excluded, filter and ttl', async () => {
  await expectUpstream(() => client.sendToAll({ hello: 'world', n: 1 },
    { excludedConnections: ['c1', 'c 2'], filter: "userId ne 'O''Brien'", messageTtlSeconds: 60 }), [
    { method: 'POST', path: `${H}/:send`, query: `${V}&excluded=c1&excluded=c%202&filter=userId%20ne%20%27O%27%27Brien%27&messageTtlSeconds=60`,
      contentType: 'application/json', body: '{"hello":"world","n":1}' },
  ]);
});

test('sendToAll: text', async () => {
  await expectUpstream(() => client.sendToAll('hi there \u00e9', { contentType: 'text/plain' }), [
    { method: 'POST', path: `${H}/:send`, query: V, contentType: 'text/plain', body: 'hi there \u00e9' },
  ]);
});

test('sendToAll: binary', async () => {
  const bin = Buffer.from([0, 1, 2, 0xfe, 0xff]);
  await expectUpstream(() => client.sendToAll(bin), [
    { method: 'POST', path: `${H}/:send`, query: V, contentType: 'application/octet-stream', body: bin },
  ]);
});

test('sendToUser (user id that needs encoding), json and text', async () => {
  await expectUpstream(() => client.sendToUser('user@example.com/x', { a: [1, 2] }, { filter: "'g1' in groups", messageTtlSeconds: 5 }), [
    { method: 'POST', path: `${H}/users/user%40example.com%2Fx/:send`, query: `${V}&filter=%27g1%27%20in%20groups&messageTtlSeconds=5`,
      contentType: 'application/json', body: '{"a":[1,2]}' },
  ]);
  await expectUpstream(() => client.sendToUser('u1', 'plain', { contentType: 'text/plain' }), [
    { method: 'POST', path: `${H}/users/u1/:send`, query: V, contentType: 'text/plain', body: 'plain' },
  ]);
});

test('sendToConnection, binary and text', async () => {
  await expectUpstream(() => client.sendToConnection('conn 1', new Uint8Array([7, 8, 9]), { messageTtlSeconds: 0 }), [
    { method: 'POST', path: `${H}/connections/conn%201/:send`, query: `${V}&messageTtlSeconds=0`, contentType: 'application/octet-stream', body: Buffer.from([7, 8, 9]) },
  ]);
  await expectUpstream(() => client.sendToConnection('c1', 't', { contentType: 'text/plain' }), [
    { method: 'POST', path: `${H}/connections/c1/:send`, query: V, contentType: 'text/plain', body: 't' },
  ]);
});

test('group(...).sendToAll, json and text', async () => {
  await expectUpstream(() => client.group('my group').sendToAll({ x: 1 }, { excludedConnections: ['c1'] }), [
    { method: 'POST', path: `${H}/groups/my%20group/:send`, query: `${V}&excluded=c1`, contentType: 'application/json', body: '{"x":1}' },
  ]);
  await expectUpstream(() => client.group('g1').sendToAll('to group', { contentType: 'text/plain', filter: "userId eq 'u1'" }), [
    { method: 'POST', path: `${H}/groups/g1/:send`, query: `${V}&filter=userId%20eq%20%27u1%27`, contentType: 'text/plain', body: 'to group' },
  ]);
});

test('group membership: addConnection, removeConnection, addUser, removeUser', async () => {
  const g = client.group('g/1');
  await expectUpstream(() => g.addConnection('c1'), [{ method: 'PUT', path: `${H}/groups/g%2F1/connections/c1`, query: V }]);
  await expectUpstream(() => g.removeConnection('c1'), [{ method: 'DELETE', path: `${H}/groups/g%2F1/connections/c1`, query: V }]);
  await expectUpstream(() => g.addUser('user@example.com'), [{ method: 'PUT', path: `${H}/users/user%40example.com/groups/g%2F1`, query: V }]);
  await expectUpstream(() => g.removeUser('user@example.com'), [{ method: 'DELETE', path: `${H}/users/user%40example.com/groups/g%2F1`, query: V }]);
});

test('group(...).listConnections follows nextLink through the gateway', async () => {
  up.reset();
  const g = client.group('g1');
  up.respond((rec) => {
    if (rec.op && rec.op.name === 'ListConnectionsInGroup') {
      const page2 = /continuationToken=tok2/.test(rec.query || '');
      return { status: 200, headers: { 'content-type': 'application/json' }, body: JSON.stringify(page2
        ? { value: [{ connectionId: 'c3' }] }
        : { value: [{ connectionId: 'c1', userId: 'u1' }, { connectionId: 'c2' }],
            nextLink: `${H}/groups/g1/connections?${V}&maxpagesize=2&continuationToken=tok2` }) };
    }
    return undefined;
  });
  sdkSent.length = 0;
  const members = [];
  for await (const m of await g.listConnections({ maxPageSize: 2 })) members.push(m);
  up.respond(null);
  assert.deepEqual(members, [{ connectionId: 'c1', userId: 'u1' }, { connectionId: 'c2' }, { connectionId: 'c3' }]);
  assert.equal(up.requests.length, 2);
  assert.equal(up.requests[0].url, `${H}/groups/g1/connections?${V}&maxpagesize=2`);
  assert.equal(up.requests[1].path, `${H}/groups/g1/connections`);
  assert.match(up.requests[1].query, /^api-version=2024-12-01&.*continuationToken=tok2/);
  assert.ok(up.requests.every((r) => r.jwt.ok));
  assert.ok(sdkSent.every((s) => s.url.startsWith(`http://127.0.0.1:${gw.tcpPort}/`)), 'every page went through the gateway');
});

test('close operations: connection, all, user, group', async () => {
  await expectUpstream(() => client.closeConnection('c1', { reason: 'bye now' }), [
    { method: 'DELETE', path: `${H}/connections/c1`, query: `${V}&reason=bye%20now` }]);
  await expectUpstream(() => client.closeAllConnections({ reason: 'maintenance' }), [
    { method: 'POST', path: `${H}/:closeConnections`, query: `${V}&reason=maintenance` }]);
  await expectUpstream(() => client.closeUserConnections('u 1', { reason: 'r' }), [
    { method: 'POST', path: `${H}/users/u%201/:closeConnections`, query: `${V}&reason=r` }]);
  await expectUpstream(() => client.group('g1').closeAllConnections({ reason: 'x' }), [
    { method: 'POST', path: `${H}/groups/g1/:closeConnections`, query: `${V}&reason=x` }]);
});

test('existence checks: connectionExists, groupExists, userExists (true and false)', async () => {
  assert.equal(await expectUpstream(() => client.connectionExists('c1'), [{ method: 'HEAD', path: `${H}/connections/c1`, query: V }]), true);
  assert.equal(await expectUpstream(() => client.groupExists('g 1'), [{ method: 'HEAD', path: `${H}/groups/g%201`, query: V }]), true);
  assert.equal(await expectUpstream(() => client.userExists('u1'), [{ method: 'HEAD', path: `${H}/users/u1`, query: V }]), true);
  const notFound = () => ({ status: 404, headers: { 'x-ms-error-code': 'Warning.NotExisted' } });
  up.respond(notFound);
  try {
    assert.equal(await expectUpstream(() => { up.respond(notFound); return client.connectionExists('c9'); }, [{ method: 'HEAD', path: `${H}/connections/c9`, query: V }]), false);
    assert.equal(await expectUpstream(() => { up.respond(notFound); return client.groupExists('g9'); }, [{ method: 'HEAD', path: `${H}/groups/g9`, query: V }]), false);
    assert.equal(await expectUpstream(() => { up.respond(notFound); return client.userExists('u9'); }, [{ method: 'HEAD', path: `${H}/users/u9`, query: V }]), false);
  } finally {
    up.respond(null);
  }
});

test('removeConnectionFromAllGroups, removeUserFromAllGroups', async () => {
  await expectUpstream(() => client.removeConnectionFromAllGroups('c1'), [{ method: 'DELETE', path: `${H}/connections/c1/groups`, query: V }]);
  await expectUpstream(() => client.removeUserFromAllGroups('u1'), [{ method: 'DELETE', path: `${H}/users/u1/groups`, query: V }]);
});

test('addConnectionsToGroups, removeConnectionsFromGroups', async () => {
  await expectUpstream(() => client.addConnectionsToGroups(['g1', 'g 2'], "userId eq 'u1'"), [
    { method: 'POST', path: `${H}/:addToGroups`, query: V, contentType: 'application/json', body: '{"groups":["g1","g 2"],"filter":"userId eq \'u1\'"}' }]);
  await expectUpstream(() => client.removeConnectionsFromGroups(['g1'], "'g1' in groups"), [
    { method: 'POST', path: `${H}/:removeFromGroups`, query: V, contentType: 'application/json', body: '{"groups":["g1"],"filter":"\'g1\' in groups"}' }]);
});

test('permissions: grantPermission, revokePermission, hasPermission', async () => {
  await expectUpstream(() => client.grantPermission('c1', 'sendToGroup', { targetName: 'my group' }), [
    { method: 'PUT', path: `${H}/permissions/sendToGroup/connections/c1`, query: `${V}&targetName=my%20group` }]);
  await expectUpstream(() => client.revokePermission('c1', 'joinLeaveGroup', { targetName: 'g1' }), [
    { method: 'DELETE', path: `${H}/permissions/joinLeaveGroup/connections/c1`, query: `${V}&targetName=g1` }]);
  assert.equal(await expectUpstream(() => client.hasPermission('c1', 'joinLeaveGroup'), [
    { method: 'HEAD', path: `${H}/permissions/joinLeaveGroup/connections/c1`, query: V }]), true);
  up.respond(() => ({ status: 404, headers: {} }));
  try {
    assert.equal(await expectUpstream(() => { up.respond(() => ({ status: 404, headers: {} })); return client.hasPermission('c1', 'sendToGroup', { targetName: 'g1' }); }, [
      { method: 'HEAD', path: `${H}/permissions/sendToGroup/connections/c1`, query: `${V}&targetName=g1` }]), false);
  } finally {
    up.respond(null);
  }
});

test('an upstream error reaches the SDK as a RestError with status and code', async () => {
  up.reset();
  up.once({ status: 404, headers: { 'content-type': 'application/json', 'x-ms-error-code': 'Error.Connection.NotExisted' },
    body: '{"code":"NotFound","message":"Connection c404 does not exist."}' });
  await assert.rejects(() => client.group('g1').addConnection('c404'), (e) => {
    assert.equal(e.statusCode, 404);
    assert.equal(e.code, 'NotFound');
    return true;
  });
});

test('getClientAccessToken with the placeholder key signs locally: documented limitation', async () => {
  up.reset();
  sdkSent.length = 0;
  const r = await client.getClientAccessToken({ userId: 'u1', roles: ['webpubsub.joinLeaveGroup'] });
  assert.equal(sdkSent.length, 0, 'the SDK made no request for a key-signed client token');
  assert.equal(up.requests.length, 0);
  assert.ok(signedWith(r.token, PLACEHOLDER), 'the SDK signed with the placeholder it holds');
  assert.ok(!signedWith(r.token, key), 'a placeholder token cannot verify with the real key');
});

test('getClientAccessToken through a TokenCredential client: the gateway signs with the real key', async () => {
  up.reset();
  sdkSent.length = 0;
  const cred = { getToken: async () => ({ token: 'entra-placeholder-token', expiresOnTimestamp: Date.now() + 3600e3 }) };
  const tc = new WebPubSubServiceClient(`https://127.0.0.1:${gw.tcpPort}`, cred, HUB, { allowInsecureConnection: true, httpClient: spyClient(true), retryOptions: { maxRetries: 0 } });
  const now = Math.floor(Date.now() / 1000);

  const r = await tc.getClientAccessToken({ userId: 'user@example.com', roles: ['webpubsub.joinLeaveGroup', 'webpubsub.sendToGroup.g1'],
    groups: ['g1', 'my group'], expirationTimeInMinutes: 7 });
  assert.equal(sdkSent.length, 1);
  assert.equal(sdkSent[0].method, 'POST');
  assert.match(sdkSent[0].url, new RegExp(`^http://127\\.0\\.0\\.1:${gw.tcpPort}/api/hubs/chat/:generateToken\\?`));
  let c;
  try { c = verifyJwt(r.token, key).claims; } catch (e) { assert.fail(`token from the gateway: ${e.message}`); }
  assert.equal(c.aud, `${up.endpoint}/client/hubs/${HUB}`);
  assert.equal(c.sub, 'user@example.com');
  assert.deepEqual(c.role, ['webpubsub.joinLeaveGroup', 'webpubsub.sendToGroup.g1']);
  assert.deepEqual(c['webpubsub.group'], ['g1', 'my group']);
  assert.equal(c.exp - c.iat, 7 * 60);
  assert.ok(Math.abs(c.iat - now) <= 10);
  assert.equal(r.url, `${r.baseUrl}?access_token=${r.token}`);

  const m = await tc.getClientAccessToken({ clientProtocol: 'mqtt' });
  const mc = verifyJwt(m.token, key).claims;
  assert.equal(mc.aud, `${up.endpoint}/clients/mqtt/hubs/${HUB}`);
  assert.equal(mc.exp - mc.iat, 3600);
  assert.equal(mc.sub, undefined);
  assert.equal(up.requests.length, 0, 'no upstream request for client tokens');

  // the same TokenCredential client also sends through the gateway; its bearer token is dropped
  await expectUpstream(() => tc.sendToAll('via entra-style client', { contentType: 'text/plain' }), [
    { method: 'POST', path: `${H}/:send`, query: V, contentType: 'text/plain', body: 'via entra-style client' }]);
  assert.ok(!up.requests.some((q) => (q.headers.authorization || '').includes('entra-placeholder-token')), 'the app bearer token leaked upstream');
});

test('the SDK sent its placeholder-signed JWTs, and none reached the upstream', async () => {
  up.reset();
  sdkSent.length = 0;
  await client.sendToAll({ last: true });
  assert.equal(sdkSent.length, 1);
  const appToken = /^Bearer (.+)$/.exec(sdkSent[0].authorization || '');
  assert.ok(appToken && signedWith(appToken[1], PLACEHOLDER), 'the SDK signed with the placeholder');
  assert.equal(up.requests.length, 1);
  assert.notEqual(up.requests[0].headers.authorization, sdkSent[0].authorization);
  assert.ok(up.requests[0].jwt.ok, up.requests[0].jwt.error);
});
