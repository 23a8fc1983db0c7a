// gateway-delivery.js: the application posts plain HTTP to wpsgated's Unix socket; the gateway signs and
// forwards to the real emulator; subscribers connected with URLs from the gateway's :generateToken
// receive per target and content type exactly what they should; permission grants and closes made
// through the gateway reach the clients.
'use strict';

const test = require('node:test');
const assert = require('node:assert');
const h = require('./lib/harness.js');

const V = 'api-version=2024-12-01';
let emu;
let gw;
const clients = [];

test.before(async () => {
  emu = await h.startEmulator();
  gw = await h.startGateway(emu);
});

test.after(async () => {
  for (const c of clients) {
    try { c.client ? c.client.stop() : c.ws.terminate(); } catch { /* gone */ }
  }
  if (gw) assert.deepStrictEqual(await gw.stop(), { code: 0, signal: null }, 'wpsgated exits 0 on SIGTERM');
  if (emu) assert.deepStrictEqual(await emu.stop(), { code: 0, signal: null }, 'the emulator exits 0 on SIGTERM');
  if (gw) assert.ok(!gw.stderr().includes(emu.key), 'the key is not in the gateway log');
  h.killAll();
});

function post(p, contentType, body) {
  return h.unixRequest(gw.sock, 'POST', p, { contentType, body });
}

// A client URL from the gateway's :generateToken (signed by the gateway, no round trip).
async function clientUrl(query) {
  const r = await post(`/api/hubs/chat/:generateToken?${V}&${query}`);
  assert.strictEqual(r.status, 200, r.body);
  const o = JSON.parse(r.body);
  assert.strictEqual(o.baseUrl, `ws://127.0.0.1:${emu.port}/client/hubs/chat`);
  // compared as a boolean so that a failure never prints the token
  assert.ok(o.url === `${o.baseUrl}?access_token=${o.token}`, 'url = baseUrl?access_token=token');
  return o.url;
}

function seen(rec) {
  if (rec.frames) return rec.frames.map((f) => (f.binary ? ['raw-binary', f.data.toString('hex')] : ['raw-text', f.data]));
  return rec.all.map((m) => {
    const d = m.data instanceof ArrayBuffer ? Buffer.from(m.data).toString('hex') : m.data;
    return m.group ? ['group:' + m.group, m.dataType, d] : ['server', m.dataType, d];
  });
}
const count = (rec) => (rec.frames ? rec.frames.length : rec.all.length);

test('posts to the gateway socket reach exactly the right subscribers', { timeout: 40000 }, async () => {
  const a = await h.subscribe(await clientUrl('userId=alice&group=g1'));
  const b = await h.subscribe(await clientUrl('userId=bob&group=g1'));
  const c = await h.subscribe(await clientUrl('userId=carol'));
  const d = await h.rawClient(await clientUrl('group=g2'));
  clients.push(a, b, c, d);
  const list = await h.unixRequest(gw.sock, 'GET', `/api/hubs/chat/groups/g2/connections?${V}`);
  assert.strictEqual(list.status, 200);
  const dId = JSON.parse(list.body).value[0].connectionId;

  const recs = { a, b, c, d };
  const expect = { a: [], b: [], c: [], d: [] };
  async function step(p, ct, body, who) {
    const before = Object.fromEntries(Object.entries(recs).map(([k, r]) => [k, count(r)]));
    const r = await post(p, ct, body);
    assert.strictEqual(r.status, 202, `${p}: ${r.body}`);
    for (const [k, v] of Object.entries(who)) expect[k].push(v);
    await h.waitFor(() => Object.keys(who).every((k) => count(recs[k]) > before[k]), 5000, `delivery of ${p}`);
  }
  const enc = encodeURIComponent;
  await step(`/api/hubs/chat/:send?${V}`, 'text/plain', 'hello all', {
    a: ['server', 'text', 'hello all'], b: ['server', 'text', 'hello all'], c: ['server', 'text', 'hello all'],
    d: ['raw-text', 'hello all'],
  });
  await step(`/api/hubs/chat/:send?${V}&excluded=${b.connectionId}&excluded=${c.connectionId}`, 'application/json', '{"n":1}', {
    a: ['server', 'json', { n: 1 }], d: ['raw-text', '{"n":1}'],
  });
  await step(`/api/hubs/chat/groups/g1/:send?${V}`, 'application/octet-stream', Buffer.from([0, 255]), {
    a: ['group:g1', 'binary', '00ff'], b: ['group:g1', 'binary', '00ff'],
  });
  await step(`/api/hubs/chat/users/carol/:send?${V}`, 'application/json', '[1,"two"]', { c: ['server', 'json', [1, 'two']] });
  await step(`/api/hubs/chat/connections/${dId}/:send?${V}`, 'application/octet-stream', Buffer.from([5]), {
    d: ['raw-binary', '05'],
  });
  await step(`/api/hubs/chat/:send?${V}&filter=${enc("userId eq 'bob' or 'g2' in groups")}`, 'text/plain', 'filtered', {
    b: ['server', 'text', 'filtered'], d: ['raw-text', 'filtered'],
  });
  await step(`/api/hubs/chat/groups/g1/:send?${V}&filter=${enc("not(userId eq 'bob')")}`, 'text/plain', 'g1 not bob', {
    a: ['group:g1', 'text', 'g1 not bob'],
  });
  await step(`/api/hubs/chat/users/alice/:send?${V}&messageTtlSeconds=10`, 'application/octet-stream', Buffer.from('hi'), {
    a: ['server', 'binary', '6869'],
  });
  await step(`/api/hubs/chat/:send?${V}`, 'text/plain', 'marker', {
    a: ['server', 'text', 'marker'], b: ['server', 'text', 'marker'], c: ['server', 'text', 'marker'], d: ['raw-text', 'marker'],
  });
  for (const k of Object.keys(recs)) assert.deepStrictEqual(seen(recs[k]), expect[k], `what ${k} received`);

  // the gateway refuses a malformed request before it leaves the host; the emulator refuses a bad filter
  const bad = await post(`/api/hubs/chat/:send?${V}&messageTtlSeconds=301`, 'text/plain', 'x');
  assert.strictEqual(bad.status, 400);
  const badFilter = await post(`/api/hubs/chat/:send?${V}&filter=${enc("userId eq 'x")}`, 'text/plain', 'x');
  assert.strictEqual(badFilter.status, 400);
  // as the service answers it: a validation problem (tests/vectors/service/js.json)
  assert.strictEqual(JSON.parse(badFilter.body).code, 'Error.BadRequest');
  assert.match(JSON.parse(badFilter.body).message, /^Invalid syntax for 'userId eq 'x': Syntax error at position 10 /);
});

test('a permission granted through the gateway lets a client join a group', { timeout: 20000 }, async () => {
  const e = await h.subscribe(await clientUrl('userId=eve'));
  clients.push(e);
  await assert.rejects(e.client.joinGroup('locked'), (err) => err.errorDetail.name === 'Forbidden');
  const perm = `/api/hubs/chat/permissions/joinLeaveGroup/connections/${e.connectionId}?${V}&targetName=locked`;
  assert.strictEqual((await h.unixRequest(gw.sock, 'HEAD', perm)).status, 404);
  assert.strictEqual((await h.unixRequest(gw.sock, 'PUT', perm)).status, 200);
  assert.strictEqual((await h.unixRequest(gw.sock, 'HEAD', perm)).status, 200);
  await e.client.joinGroup('locked');
  assert.strictEqual((await h.unixRequest(gw.sock, 'HEAD', `/api/hubs/chat/groups/locked?${V}`)).status, 200);
  const r = await post(`/api/hubs/chat/groups/locked/:send?${V}`, 'text/plain', 'welcome');
  assert.strictEqual(r.status, 202);
  await h.waitFor(() => e.group.length === 1, 5000, 'the group message');
  assert.strictEqual(e.group[0].data, 'welcome');
  assert.strictEqual((await h.unixRequest(gw.sock, 'DELETE', perm)).status, 204);
  await assert.rejects(e.client.leaveGroup('locked'), (err) => err.errorDetail.name === 'Forbidden');
});

test('closing a connection through the gateway disconnects the subscriber with its reason', { timeout: 20000 }, async () => {
  const f = await h.subscribe(await clientUrl('userId=frank'));
  clients.push(f);
  const r = await h.unixRequest(gw.sock, 'DELETE',
    `/api/hubs/chat/connections/${f.connectionId}?${V}&reason=${encodeURIComponent('closed by the app')}`);
  assert.strictEqual(r.status, 204);
  await h.waitFor(() => f.disconnected.length === 1, 5000, 'the disconnected event');
  assert.strictEqual(f.disconnected[0].message.message, 'closed by the app');
  assert.strictEqual((await h.unixRequest(gw.sock, 'HEAD', `/api/hubs/chat/connections/${f.connectionId}?${V}`)).status, 404);
});
