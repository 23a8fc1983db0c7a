// emulator-sdk.js: the official @azure/web-pubsub SDK, given the emulator's connection string, calls
// every operation it offers and gets the emulator's answers (status codes, existence checks, paging).
'use strict';

const test = require('node:test');
const assert = require('node:assert');
const h = require('./lib/harness.js');

const { WebPubSubServiceClient } = h.req('@azure/web-pubsub');
const opts = { allowInsecureConnection: true, retryOptions: { maxRetries: 0 } };

let emu;
const clients = [];

test.before(async () => { emu = await h.startEmulator(); });
test.after(async () => {
  for (const c of clients) c.client.stop();
  if (emu) {
    const st = await emu.stop();
    assert.deepStrictEqual(st, { code: 0, signal: null });
    assert.ok(!emu.stderr().includes(emu.key), 'the key is not in the log');
  }
  h.killAll();
});

async function members(svc, group, options = {}) {
  const out = [];
  for await (const m of await svc.group(group).listConnections(options)) out.push(m);
  return out;
}

test('every SDK operation against the emulator', { timeout: 40000 }, async () => {
  const svc = new WebPubSubServiceClient(emu.connectionString, 'sdkhub', opts);
  // the token the SDK signs itself is accepted by the client endpoint
  const tok = await svc.getClientAccessToken({ userId: 'u1', roles: ['webpubsub.joinLeaveGroup'], groups: ['g0'] });
  assert.strictEqual(tok.baseUrl, `ws://127.0.0.1:${emu.port}/client/hubs/sdkhub`);
  const c1 = await h.subscribe(tok.url);
  const c2 = await h.subscribe((await svc.getClientAccessToken({ userId: 'u1' })).url);
  const c3 = await h.subscribe((await svc.getClientAccessToken({ userId: 'u2' })).url);
  clients.push(c1, c2, c3);

  // existence
  assert.strictEqual(await svc.connectionExists(c1.connectionId), true);
  assert.strictEqual(await svc.connectionExists('nope'), false);
  assert.strictEqual(await svc.userExists('u1'), true);
  assert.strictEqual(await svc.userExists('u3'), false);
  assert.strictEqual(await svc.groupExists('g0'), true);
  assert.strictEqual(await svc.groupExists('g1'), false);

  // sends (202)
  for (const send of [
    (o) => svc.sendToAll('t', { contentType: 'text/plain', ...o }),
    (o) => svc.sendToUser('u2', { j: 1 }, o),
    (o) => svc.sendToConnection(c3.connectionId, new Uint8Array([9]), o),
    (o) => svc.group('g0').sendToAll('g', { contentType: 'text/plain', ...o }),
  ]) {
    let status;
    await send({ onResponse: (r) => { status = r.status; } });
    assert.strictEqual(status, 202);
  }
  await h.waitFor(() => c3.all.length === 3 && c1.all.length === 2, 5000, 'the sends');
  assert.deepStrictEqual(c3.all.map((m) => m.dataType), ['text', 'json', 'binary']);
  assert.deepStrictEqual(c1.all.map((m) => m.data), ['t', 'g']);
  assert.strictEqual(c2.all.length, 1);

  // group membership
  await svc.group('g1').addConnection(c2.connectionId);
  assert.deepStrictEqual(await members(svc, 'g1'), [{ connectionId: c2.connectionId, userId: 'u1' }]);
  await assert.rejects(svc.group('g1').addConnection('missing'), (e) => e.statusCode === 404);
  await svc.group('g1').removeConnection(c2.connectionId);
  assert.strictEqual(await svc.groupExists('g1'), false);
  await svc.group('g2').addUser('u1');
  assert.deepStrictEqual((await members(svc, 'g2')).map((m) => m.connectionId).sort(),
    [c1.connectionId, c2.connectionId].sort());
  await svc.group('g2').removeUser('u1');
  assert.strictEqual(await svc.groupExists('g2'), false);
  await svc.addConnectionsToGroups(['g3', 'g4'], "userId eq 'u1'");
  assert.strictEqual((await members(svc, 'g3')).length, 2);
  await svc.removeConnectionsFromGroups(['g3'], `connectionId eq '${c1.connectionId}'`);
  assert.deepStrictEqual(await members(svc, 'g3'), [{ connectionId: c2.connectionId, userId: 'u1' }]);
  await svc.removeConnectionFromAllGroups(c2.connectionId);
  assert.strictEqual(await svc.groupExists('g3'), false);
  assert.strictEqual(await svc.groupExists('g4'), true);
  await svc.removeUserFromAllGroups('u1');
  assert.strictEqual(await svc.groupExists('g4'), false);
  assert.strictEqual(await svc.groupExists('g0'), false);

  // paging: three members, pages of two, the SDK follows nextLink
  await svc.addConnectionsToGroups(['big'], "startswith(userId, 'u')");
  const pages = [];
  const iter = (await svc.group('big').listConnections({ maxPageSize: 2 })).byPage();
  for await (const page of iter) pages.push(page.length);
  assert.deepStrictEqual(pages, [2, 1]);
  assert.strictEqual((await members(svc, 'big', { maxPageSize: 1 })).length, 3);

  // permissions
  assert.strictEqual(await svc.hasPermission(c3.connectionId, 'sendToGroup', { targetName: 'big' }), false);
  await svc.grantPermission(c3.connectionId, 'sendToGroup', { targetName: 'big' });
  assert.strictEqual(await svc.hasPermission(c3.connectionId, 'sendToGroup', { targetName: 'big' }), true);
  await svc.revokePermission(c3.connectionId, 'sendToGroup', { targetName: 'big' });
  assert.strictEqual(await svc.hasPermission(c3.connectionId, 'sendToGroup', { targetName: 'big' }), false);
  await assert.rejects(svc.grantPermission('missing', 'sendToGroup', { targetName: 'big' }),
    (e) => e.statusCode === 404);
  // targetName is required, as the service answers (tests/vectors/service/js.json)
  await assert.rejects(svc.grantPermission(c3.connectionId, 'sendToGroup'), (e) => e.statusCode === 400);

  // closes (204)
  let status;
  await svc.group('big').closeAllConnections({ reason: 'g', excluded: [c1.connectionId, c2.connectionId],
    onResponse: (r) => { status = r.status; } });
  assert.strictEqual(status, 204);
  await h.waitFor(() => c3.disconnected.length === 1, 5000, 'c3 closed');
  await svc.closeConnection(c2.connectionId, { reason: 'one' });
  await h.waitFor(() => c2.disconnected.length === 1, 5000, 'c2 closed');
  await svc.closeUserConnections('u1', { reason: 'user' });
  await h.waitFor(() => c1.disconnected.length === 1, 5000, 'c1 closed');
  assert.strictEqual(c1.disconnected[0].message.message, 'user');
  await svc.closeAllConnections({ reason: 'all' });
  assert.strictEqual(await svc.userExists('u1'), false);
});

test('requests the service would refuse are refused', { timeout: 20000 }, async () => {
  const wrongKey = emu.connectionString.replace(/AccessKey=[^;]*/, 'AccessKey=not-the-key');
  const bad = new WebPubSubServiceClient(wrongKey, 'sdkhub', opts);
  await assert.rejects(bad.sendToAll('x', { contentType: 'text/plain' }), (e) => e.statusCode === 401);
  // a client token signed with another key is refused before the upgrade
  const tok = await bad.getClientAccessToken({ userId: 'x' });
  await assert.rejects(h.rawClient(tok.url), (e) => e.rec && e.rec.status === 401);
  // a token for another hub
  const svc = new WebPubSubServiceClient(emu.connectionString, 'otherhub', opts);
  const other = await svc.getClientAccessToken();
  await assert.rejects(h.rawClient(other.url.replace('/otherhub?', '/sdkhub?')), (e) => e.rec.status === 401);
  // an expired one
  const old = await svc.getClientAccessToken({ expirationTimeInMinutes: -1 });
  await assert.rejects(h.rawClient(old.url), (e) => e.rec.status === 401);
  // unknown api-version: raw request with a valid token
  const jwt = h.req('jsonwebtoken');
  const url = `${emu.endpoint}/api/hubs/sdkhub/:send?api-version=1999-01-01`;
  const r = await fetch(url, {
    method: 'POST',
    headers: { authorization: 'Bearer ' + jwt.sign({}, emu.key, { audience: url, expiresIn: '5m' }), 'content-type': 'text/plain' },
    body: 'x',
  });
  assert.strictEqual(r.status, 400);
  assert.strictEqual((await r.json()).code, 'Error.BadRequest');
});
