// gateway-sdk.js: @azure/web-pubsub pointed at wpsgated (placeholder key; the gateway signs) and the same
// SDK pointed straight at the emulator make the same calls on twin hubs and get the same answers.
'use strict';

const test = require('node:test');
const assert = require('node:assert');
const h = require('./lib/harness.js');

const { WebPubSubServiceClient, AzureKeyCredential } = h.req('@azure/web-pubsub');
const opts = { allowInsecureConnection: true, retryOptions: { maxRetries: 0 } };
const V = 'api-version=2024-12-01';

let emu;
let gw;
const clients = [];

test.before(async () => {
  emu = await h.startEmulator();
  gw = await h.startGateway(emu);
});

test.after(async () => {
  for (const c of clients) c.client.stop();
  if (gw) assert.deepStrictEqual(await gw.stop(), { code: 0, signal: null });
  if (emu) assert.deepStrictEqual(await emu.stop(), { code: 0, signal: null });
  h.killAll();
});

// Run one scenario with svc; urlFor(query) gives a client URL. Returns a transcript in which
// connection ids are replaced by labels, so that two runs can be compared.
async function scenario(svc, urlFor) {
  const t = [];
  const note = (what, v) => t.push([what, v]);
  const status = async (what, p) => {
    try {
      await p;
      note(what, 'ok');
    } catch (e) {
      note(what, e.statusCode || String(e));
    }
  };
  const c1 = await h.subscribe(await urlFor('userId=u1&group=g0'));
  const c2 = await h.subscribe(await urlFor('userId=u1'));
  const c3 = await h.subscribe(await urlFor('userId=u2&role=webpubsub.joinLeaveGroup'));
  clients.push(c1, c2, c3);
  const label = new Map([[c1.connectionId, 'c1'], [c2.connectionId, 'c2'], [c3.connectionId, 'c3']]);
  const members = async (g) => {
    const out = [];
    for await (const m of await svc.group(g).listConnections({ maxPageSize: 2 })) out.push([label.get(m.connectionId), m.userId]);
    return out.sort();
  };

  note('connectionExists c1', await svc.connectionExists(c1.connectionId));
  note('connectionExists nope', await svc.connectionExists('nope'));
  note('userExists u1', await svc.userExists('u1'));
  note('userExists u9', await svc.userExists('u9'));
  note('groupExists g0', await svc.groupExists('g0'));
  note('groupExists g1', await svc.groupExists('g1'));
  const st = [];
  const onResponse = (r) => st.push(r.status);
  await svc.sendToAll('t', { contentType: 'text/plain', onResponse });
  await svc.sendToAll({ j: 1 }, { excludedConnections: [c2.connectionId], onResponse });
  await svc.sendToUser('u2', new Uint8Array([1, 2]), { onResponse });
  await svc.sendToConnection(c2.connectionId, 'to c2', { contentType: 'text/plain', onResponse });
  await svc.group('g0').sendToAll({ g: 0 }, { onResponse });
  await svc.sendToAll('f', { contentType: 'text/plain', filter: "userId eq 'u2'", onResponse });
  note('send statuses', st);
  await h.waitFor(() => c1.all.length === 3 && c2.all.length === 2 && c3.all.length === 4, 5000, 'the sends');
  for (const [n, c] of [['c1', c1], ['c2', c2], ['c3', c3]]) {
    note(`${n} received`, c.all.map((m) => [m.from, m.group || null, m.dataType,
      m.data instanceof ArrayBuffer ? Buffer.from(m.data).toString('hex') : m.data]));
  }
  await status('addConnection c2 g1', svc.group('g1').addConnection(c2.connectionId));
  await status('addConnection missing', svc.group('g1').addConnection('missing'));
  note('members g1', await members('g1'));
  await status('removeConnection', svc.group('g1').removeConnection(c2.connectionId));
  await status('addUser u1 g2', svc.group('g2').addUser('u1'));
  await status('addUser nobody', svc.group('g2').addUser('nobody'));
  note('members g2', await members('g2'));
  await status('removeUser', svc.group('g2').removeUser('u1'));
  await status('addConnectionsToGroups', svc.addConnectionsToGroups(['g3', 'g4'], "startswith(userId, 'u')"));
  note('members g3', await members('g3'));
  await status('removeConnectionsFromGroups', svc.removeConnectionsFromGroups(['g3'], "userId eq 'u2'"));
  note('members g3 after', await members('g3'));
  await status('bad filter', svc.addConnectionsToGroups(['g5'], "userId eq 'x"));
  await status('removeConnectionFromAllGroups', svc.removeConnectionFromAllGroups(c1.connectionId));
  await status('removeUserFromAllGroups', svc.removeUserFromAllGroups('u1'));
  note('groupExists g4', await svc.groupExists('g4'));
  await status('grant', svc.grantPermission(c3.connectionId, 'sendToGroup', { targetName: 'g4' }));
  note('has', await svc.hasPermission(c3.connectionId, 'sendToGroup', { targetName: 'g4' }));
  note('has other', await svc.hasPermission(c3.connectionId, 'sendToGroup', { targetName: 'g5' }));
  await status('revoke', svc.revokePermission(c3.connectionId, 'sendToGroup', { targetName: 'g4' }));
  note('has after revoke', await svc.hasPermission(c3.connectionId, 'sendToGroup', { targetName: 'g4' }));
  await status('grant missing', svc.grantPermission('missing', 'joinLeaveGroup', { targetName: 'g4' }));
  await status('grant no target', svc.grantPermission(c3.connectionId, 'joinLeaveGroup'));
  await status('ttl 301', svc.sendToAll('x', { contentType: 'text/plain', messageTtlSeconds: 301 }));
  await status('closeConnection c2', svc.closeConnection(c2.connectionId, { reason: 'r2' }));
  await h.waitFor(() => c2.disconnected.length === 1, 5000, 'c2 disconnected');
  note('c2 reason', c2.disconnected[0].message.message);
  await status('closeUserConnections u1', svc.closeUserConnections('u1', { reason: 'ru' }));
  await h.waitFor(() => c1.disconnected.length === 1, 5000, 'c1 disconnected');
  note('c1 reason', c1.disconnected[0].message.message);
  await status('closeAllConnections', svc.closeAllConnections({ reason: 'all' }));
  await h.waitFor(() => c3.disconnected.length === 1, 5000, 'c3 disconnected');
  note('c3 reason', c3.disconnected[0].message.message);
  note('userExists u2 at the end', await svc.userExists('u2'));
  return t;
}

test('the SDK through the gateway agrees with the SDK straight to the emulator', { timeout: 50000 }, async () => {
  const direct = new WebPubSubServiceClient(emu.connectionString, 'direct', opts);
  const viaGw = new WebPubSubServiceClient(gw.endpoint, new AzureKeyCredential('placeholder-not-the-key'), 'viagw', opts);
  const directT = await scenario(direct, async (q) => {
    const p = new URLSearchParams(q);
    return (await direct.getClientAccessToken({
      userId: p.get('userId') || undefined, groups: p.getAll('group'), roles: p.getAll('role'),
    })).url;
  });
  const gwT = await scenario(viaGw, async (q) => {
    const r = await h.unixRequest(gw.sock, 'POST', `/api/hubs/viagw/:generateToken?${V}&${q}`);
    assert.strictEqual(r.status, 200, r.body);
    return JSON.parse(r.body).url;
  });
  assert.deepStrictEqual(gwT, directT);
  // and the direct transcript is what the service answers
  const m = new Map(directT);
  assert.deepStrictEqual(m.get('send statuses'), [202, 202, 202, 202, 202, 202]);
  assert.strictEqual(m.get('addConnection missing'), 404);
  assert.strictEqual(m.get('addUser nobody'), 404);
  assert.strictEqual(m.get('bad filter'), 400);
  assert.strictEqual(m.get('grant missing'), 404);
  assert.strictEqual(m.get('grant no target'), 400); // targetName is required (tests/vectors/service)
  assert.strictEqual(m.get('ttl 301'), 400);
  assert.deepStrictEqual(m.get('members g2'), [['c1', 'u1'], ['c2', 'u1']]);
  assert.strictEqual(m.get('c2 reason'), 'r2');
});
