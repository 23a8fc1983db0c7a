// emulator-delivery.js: @azure/web-pubsub sends to the real emulator, @azure/web-pubsub-client and raw
// WebSocket subscribers receive exactly what each target (all, group, user, connection, excluded,
// filter) and content type (text, json, binary) should give them, and nothing else.
'use strict';

const test = require('node:test');
const assert = require('node:assert');
const h = require('./lib/harness.js');

const { WebPubSubServiceClient } = h.req('@azure/web-pubsub');

let emu;
let svc;
const clients = [];

test.before(async () => {
  emu = await h.startEmulator();
  svc = new WebPubSubServiceClient(emu.connectionString, 'chat',
    { allowInsecureConnection: true, retryOptions: { maxRetries: 0 } });
});

test.after(async () => {
  for (const c of clients) {
    try { c.client ? c.client.stop() : c.ws.terminate(); } catch { /* gone */ }
  }
  if (emu) {
    const st = await emu.stop();
    assert.deepStrictEqual(st, { code: 0, signal: null }, 'the emulator exits 0 on SIGTERM');
    assert.ok(!/level=(err|warn)/.test(emu.stderr()), `no warnings or errors in the log:\n${emu.stderr()}`);
  }
  h.killAll();
});

// What a client saw, normalised: [kind, dataType, data] with binary as hex.
function seen(rec) {
  if (rec.frames) {
    return rec.frames.map((f) => (f.binary ? ['raw-binary', f.data.toString('hex')] : ['raw-text', f.data]));
  }
  const norm = (m) => {
    const d = m.data instanceof ArrayBuffer ? Buffer.from(m.data).toString('hex') : m.data;
    return m.group ? ['group:' + m.group, m.dataType, d] : ['server', m.dataType, d];
  };
  return rec.all.map(norm);
}

function count(rec) {
  return rec.frames ? rec.frames.length : rec.all.length;
}

const t0 = Date.now();
const mark = (what) => { if (process.env.E2E_TRACE) console.log(`# ${Date.now() - t0} ms: ${what}`); };

test('each target and content type reaches exactly its subscribers', { timeout: 40000 }, async () => {
  const a = await h.subscribe((await svc.getClientAccessToken({ userId: 'alice', groups: ['g1'] })).url);
  const b = await h.subscribe((await svc.getClientAccessToken({ userId: 'bob', groups: ['g1'] })).url,
    { protocol: h.req('@azure/web-pubsub-client').WebPubSubJsonProtocol() });
  const c = await h.subscribe((await svc.getClientAccessToken({ userId: 'carol' })).url);
  const d = await h.rawClient((await svc.getClientAccessToken({ groups: ['g2'] })).url);
  clients.push(a, b, c, d);
  assert.strictEqual(a.userId, 'alice');
  assert.strictEqual(b.userId, 'bob');
  assert.strictEqual(d.frames.length, 0, 'simple clients get no connected message');

  // D's connection id: the only connection in g2
  let dId;
  for await (const m of await svc.group('g2').listConnections()) dId = m.connectionId;
  assert.ok(dId, 'the simple client is listed in g2');
  assert.strictEqual(await svc.connectionExists(dId), true);

  const expect = { a: [], b: [], c: [], d: [] };
  const recs = { a, b, c, d };
  async function step(send, who) {
    mark('step');
    const before = Object.fromEntries(Object.entries(recs).map(([k, r]) => [k, count(r)]));
    await send();
    for (const [k, v] of Object.entries(who)) expect[k].push(v);
    await h.waitFor(() => Object.keys(who).every((k) => count(recs[k]) > before[k]), 5000,
      `delivery to ${Object.keys(who).join(',')}`);
  }

  await step(() => svc.sendToAll('hello all', { contentType: 'text/plain' }), {
    a: ['server', 'text', 'hello all'], b: ['server', 'text', 'hello all'],
    c: ['server', 'text', 'hello all'], d: ['raw-text', 'hello all'],
  });
  await step(() => svc.sendToAll({ n: 1, s: 'x' }, { excludedConnections: [b.connectionId] }), {
    a: ['server', 'json', { n: 1, s: 'x' }], c: ['server', 'json', { n: 1, s: 'x' }], d: ['raw-text', '{"n":1,"s":"x"}'],
  });
  await step(() => svc.group('g1').sendToAll(new Uint8Array([0, 1, 254, 255])), {
    a: ['group:g1', 'binary', '0001feff'], b: ['group:g1', 'binary', '0001feff'],
  });
  await step(() => svc.sendToUser('carol', { to: 'carol' }), { c: ['server', 'json', { to: 'carol' }] });
  await step(() => svc.sendToConnection(dId, 'just d', { contentType: 'text/plain' }), { d: ['raw-text', 'just d'] });
  await step(() => svc.sendToConnection(a.connectionId, new Uint8Array([7])), { a: ['server', 'binary', '07'] });
  await step(() => svc.sendToAll('filtered', { contentType: 'text/plain', filter: "userId eq 'alice' or 'g2' in groups" }), {
    a: ['server', 'text', 'filtered'], d: ['raw-text', 'filtered'],
  });
  await step(() => svc.group('g1').sendToAll('g1 but alice', { contentType: 'text/plain', filter: "userId ne 'alice'" }), {
    b: ['group:g1', 'text', 'g1 but alice'],
  });
  await step(() => svc.group('g1').sendToAll('g1 but a', { contentType: 'text/plain', excludedConnections: [a.connectionId] }), {
    b: ['group:g1', 'text', 'g1 but a'],
  });
  await step(() => svc.sendToAll(new Uint8Array([1, 2, 3])), {
    a: ['server', 'binary', '010203'], b: ['server', 'binary', '010203'],
    c: ['server', 'binary', '010203'], d: ['raw-binary', '010203'],
  });
  await step(() => svc.sendToAll("O'Brien", { contentType: 'text/plain', filter: "userId eq 'O''Brien' or startswith(userId, 'car')" }), {
    c: ['server', 'text', "O'Brien"],
  });
  // a final marker to everyone: messages are ordered per connection, so what did not arrive
  // before it never will
  await step(() => svc.sendToAll('marker', { contentType: 'text/plain' }), {
    a: ['server', 'text', 'marker'], b: ['server', 'text', 'marker'],
    c: ['server', 'text', 'marker'], d: ['raw-text', 'marker'],
  });
  for (const k of Object.keys(recs)) assert.deepStrictEqual(seen(recs[k]), expect[k], `what ${k} received`);
  // the reliable protocol numbers messages 1..n
  assert.deepStrictEqual(a.all.map((m) => m.sequenceId), expect.a.map((_, i) => i + 1));
  assert.ok(b.all.every((m) => m.sequenceId === undefined), 'json.webpubsub.azure.v1 has no sequenceId');

  // malformed filters are refused with 400 and reach nobody
  await assert.rejects(svc.sendToAll('x', { contentType: 'text/plain', filter: "userId eq 'a" }),
    (e) => e.statusCode === 400);
  await assert.rejects(svc.addConnectionsToGroups(['z'], 'userId eq'), (e) => e.statusCode === 400);
  await assert.rejects(svc.sendToAll('x', { contentType: 'text/plain', messageTtlSeconds: 301 }),
    (e) => e.statusCode === 400);
  await svc.sendToAll('ttl ok', { contentType: 'text/plain', messageTtlSeconds: 300 });
  await h.waitFor(() => count(d) === expect.d.length + 1, 5000, 'the ttl message');
  assert.deepStrictEqual(d.frames[d.frames.length - 1], { binary: false, data: 'ttl ok' });
});

test('a granted permission lets a client join a group it could not join before', { timeout: 20000 }, async () => {
  const e = await h.subscribe((await svc.getClientAccessToken({ userId: 'eve' })).url);
  clients.push(e);
  await assert.rejects(e.client.joinGroup('locked'), (err) => err.errorDetail && err.errorDetail.name === 'Forbidden');
  assert.strictEqual(await svc.groupExists('locked'), false);
  assert.strictEqual(await svc.hasPermission(e.connectionId, 'joinLeaveGroup', { targetName: 'locked' }), false);
  await svc.grantPermission(e.connectionId, 'joinLeaveGroup', { targetName: 'locked' });
  assert.strictEqual(await svc.hasPermission(e.connectionId, 'joinLeaveGroup', { targetName: 'locked' }), true);
  assert.strictEqual(await svc.hasPermission(e.connectionId, 'joinLeaveGroup', { targetName: 'other' }), false);
  await e.client.joinGroup('locked');
  assert.strictEqual(await svc.groupExists('locked'), true);
  await svc.group('locked').sendToAll('inside', { contentType: 'text/plain' });
  await h.waitFor(() => e.group.length === 1, 5000, 'the group message');
  assert.strictEqual(e.group[0].data, 'inside');
  assert.strictEqual(e.group[0].group, 'locked');

  // sending to the group needs sendToGroup
  await assert.rejects(e.client.sendToGroup('locked', 'hi', 'text'), (err) => err.errorDetail.name === 'Forbidden');
  await svc.grantPermission(e.connectionId, 'sendToGroup', { targetName: 'locked' });
  await e.client.sendToGroup('locked', 'hi', 'text');
  await h.waitFor(() => e.group.length === 2, 5000, 'the echo of its own group message');
  assert.strictEqual(e.group[1].fromUserId, 'eve');
  await e.client.sendToGroup('locked', 'quiet', 'text', { noEcho: true });
  // events are acknowledged (there is no upstream event handler)
  await e.client.sendEvent('evt', { a: 1 }, 'json');

  // revoked at once
  await svc.revokePermission(e.connectionId, 'joinLeaveGroup', { targetName: 'locked' });
  await assert.rejects(e.client.leaveGroup('locked'), (err) => err.errorDetail.name === 'Forbidden');
  await svc.group('locked').sendToAll('marker', { contentType: 'text/plain' });
  await h.waitFor(() => e.group.length === 3, 5000, 'the marker');
  assert.deepStrictEqual(e.group.map((m) => m.data), ['inside', 'hi', 'marker'], 'noEcho kept the echo away');
});

test('closing a connection disconnects the subscriber with its reason', { timeout: 20000 }, async () => {
  const f = await h.subscribe((await svc.getClientAccessToken({ userId: 'frank' })).url);
  const g = await h.subscribe((await svc.getClientAccessToken({ userId: 'gina', groups: ['gg'] })).url);
  const g2 = await h.subscribe((await svc.getClientAccessToken({ userId: 'gina' })).url);
  const k = await h.rawClient((await svc.getClientAccessToken({ userId: 'kim' })).url);
  clients.push(f, g, g2, k);

  await svc.closeConnection(f.connectionId, { reason: 'maintenance window' });
  await h.waitFor(() => f.disconnected.length === 1, 5000, 'the disconnected event');
  assert.strictEqual(f.disconnected[0].message.message, 'maintenance window');
  assert.strictEqual(f.disconnected[0].connectionId, f.connectionId);
  assert.strictEqual(await svc.connectionExists(f.connectionId), false);

  await svc.closeUserConnections('gina', { reason: 'user gone' });
  await h.waitFor(() => g.disconnected.length === 1 && g2.disconnected.length === 1, 5000, "gina's two connections");
  assert.strictEqual(g2.disconnected[0].message.message, 'user gone');
  assert.strictEqual(await svc.userExists('gina'), false);
  assert.strictEqual(await svc.groupExists('gg'), false);

  // a simple client sees the close frame with the reason
  assert.strictEqual(await svc.userExists('kim'), true);
  await svc.closeUserConnections('kim', { reason: 'raw bye' });
  await h.waitFor(() => k.closed, 5000, 'the close frame');
  assert.deepStrictEqual(k.closed, { code: 1000, reason: 'raw bye' });
});
