// mqtt.test.js: MQTT clients of wpsgate-emulator end to end. The `mqtt` npm package (MQTT 5.0 and 3.1.1
// over WebSocket) connects with a URL from `wpsgate token --mqtt` (the CLI, through wpsgated), subscribes
// and receives what an app sends through the gateway (group, hub, user), and talks with a JSON WebSocket
// client (@azure/web-pubsub-client) in the same group both ways. Refusals as the service makes them: a
// wrong token (CONNACK not authorized), a missing role (SUBACK / PUBACK not authorized), a bad client id,
// an oversized packet (DISCONNECT 0x95). With an event handler: the connect event's mqtt fields, its
// refusal becoming the CONNACK, a user event from $webpubsub/server/events/<e> and its answer.
'use strict';

const { test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const http = require('node:http');
const { spawnSync } = require('node:child_process');
const e2e = require('../e2e/lib/harness.js');
const { WPSGATE } = require('../lib/paths.js');

const mqtt = e2e.req('mqtt');
const HUB = 'chat';
const MAX_PACKET = 4096; // --max-mqtt-packet-bytes of the emulator under test

let emu, gw;
const clients = [];

before(async () => {
  emu = await e2e.startEmulator(['--max-mqtt-packet-bytes', String(MAX_PACKET)]);
  gw = await e2e.startGateway(emu);
});

after(async () => {
  for (const c of clients) { try { c.end(true); } catch { /* gone */ } }
  for (const c of jsonClients) { try { c.stop(); } catch { /* gone */ } }
  if (gw) await gw.stop();
  if (emu) await emu.stop();
  for (const s of servers) s.close();
  for (const x of extraEmus) await x.stop();
});

const jsonClients = [];
const servers = [];
const extraEmus = [];

// `wpsgate token` through the gateway's socket; returns the parsed --json answer.
function cliToken(args) {
  const r = spawnSync(WPSGATE, ['--socket', gw.sock, '--timeout', '10', 'token', '--hub', HUB, '--client-type', 'mqtt', '--json', ...args],
    { encoding: 'utf8', timeout: 15000 });
  assert.equal(r.status, 0, `wpsgate token: ${r.stderr}`);
  return JSON.parse(r.stdout);
}

function appSend(path, contentType, body) {
  return e2e.unixRequest(gw.sock, 'POST', `/api/hubs/${HUB}${path}`, { contentType, body });
}

// Connect an MQTT client and record what it receives; rejects with the client's error (CONNACK refusals).
function connect(url, opts) {
  return new Promise((resolve, reject) => {
    const c = mqtt.connect(url, { reconnectPeriod: 0, connectTimeout: 5000, keepalive: 30, ...opts });
    clients.push(c);
    const rec = { c, msgs: [], disconnects: [], packets: [], closed: false };
    c.on('packetreceive', (p) => rec.packets.push(p));
    c.on('message', (topic, payload, packet) => rec.msgs.push({ topic, payload: payload.toString(), packet }));
    c.on('disconnect', (p) => rec.disconnects.push(p));
    c.on('close', () => { rec.closed = true; });
    c.once('connect', (connack) => { rec.connack = connack; resolve(rec); });
    c.once('error', (e) => { c.end(true); reject(e); });
  });
}

const ROLES = ['--role', 'webpubsub.joinLeaveGroup', '--role', 'webpubsub.sendToGroup'];

test('wpsgate token --mqtt gives the MQTT client URL', () => {
  const t = cliToken(['--user', 'dev1', ...ROLES]);
  assert.match(t.url, new RegExp(`^ws://127\\.0\\.0\\.1:${emu.port}/clients/mqtt/hubs/${HUB}\\?access_token=`));
  const claims = JSON.parse(Buffer.from(t.token.split('.')[1], 'base64url'));
  assert.equal(claims.aud, `${emu.endpoint}/clients/mqtt/hubs/${HUB}`);
});

test('MQTT 5.0 and 3.1.1 clients subscribe and receive group, hub and user sends from the app', async () => {
  const url = cliToken(['--user', 'dev1', ...ROLES]).url;
  const v5 = await connect(url, { protocolVersion: 5, clientId: 'dev1v5' });
  const v3 = await connect(url, { protocolVersion: 4, clientId: 'dev1v3' });
  assert.equal(v5.connack.reasonCode, 0);
  assert.equal(v5.connack.properties.maximumPacketSize, MAX_PACKET);
  assert.equal(v3.connack.returnCode, 0);
  const g5 = await v5.c.subscribeAsync('room1', { qos: 1 });
  const g3 = await v3.c.subscribeAsync('room1', { qos: 0 });
  assert.deepEqual(g5.map((g) => g.qos), [1]);
  assert.deepEqual(g3.map((g) => g.qos), [0]);

  assert.equal((await appSend('/groups/room1/:send', 'text/plain', 'hello room')).status, 202);
  assert.equal((await appSend('/:send', 'application/json', '{"all":true}')).status, 202);
  assert.equal((await appSend('/users/dev1/:send', 'application/octet-stream', Buffer.from([1, 2, 3]))).status, 202);
  assert.equal((await appSend('/connections/dev1v5/:send', 'text/plain', 'just v5')).status, 202);
  await e2e.waitFor(() => v5.msgs.length >= 4 && v3.msgs.length >= 3, 5000, 'the messages');

  const [m1, m2, m3, m4] = v5.msgs;
  assert.equal(m1.topic, 'room1');
  assert.equal(m1.payload, 'hello room');
  assert.equal(m1.packet.qos, 1);
  assert.equal(m1.packet.properties.contentType, 'text/plain');
  assert.equal(m2.topic, '$webpubsub/server/messages');
  assert.equal(m2.payload, '{"all":true}');
  assert.equal(m2.packet.properties.contentType, 'application/json');
  assert.equal(m3.topic, '$webpubsub/server/messages');
  assert.deepEqual([...m3.packet.payload], [1, 2, 3]);
  assert.equal(m4.payload, 'just v5');
  assert.deepEqual(v3.msgs.map((m) => [m.topic, m.packet.qos]),
    [['room1', 0], ['$webpubsub/server/messages', 1], ['$webpubsub/server/messages', 1]]);

  // UNSUBSCRIBE leaves the group
  await v3.c.unsubscribeAsync('room1');
  assert.equal((await appSend('/groups/room1/:send', 'text/plain', 'second')).status, 202);
  await e2e.waitFor(() => v5.msgs.length >= 5, 5000, 'the second group message');
  await e2e.sleep(200);
  assert.equal(v3.msgs.length, 3);
  // the connection is the client id: the REST API sees it
  assert.equal((await e2e.unixRequest(gw.sock, 'HEAD', `/api/hubs/${HUB}/connections/dev1v3`)).status, 200);
  await v5.c.endAsync();
  await v3.c.endAsync();
  await e2e.waitFor(async () => (await e2e.unixRequest(gw.sock, 'HEAD', `/api/hubs/${HUB}/connections/dev1v3`)).status === 404, 5000, 'the connection to go');
});

test('MQTT and JSON WebSocket clients in one group talk both ways', async () => {
  const url = cliToken(['--user', 'dev2', ...ROLES]).url;
  const m5 = await connect(url, { protocolVersion: 5, clientId: 'dev2v5' });
  const m3 = await connect(url, { protocolVersion: 4, clientId: 'dev2v3' });
  await m5.c.subscribeAsync('room2', { qos: 1 });
  const jurl = spawnSync(WPSGATE, ['--socket', gw.sock, 'token', '--hub', HUB, '--user', 'web', ...ROLES],
    { encoding: 'utf8', timeout: 15000 }).stdout.trim();
  const js = await e2e.subscribe(jurl);
  jsonClients.push(js.client);
  await js.client.joinGroup('room2');

  await m5.c.publishAsync('room2', 'from v5', { qos: 1, properties: { contentType: 'text/plain' } });
  await m5.c.publishAsync('room2', '{"n":5}', { qos: 0, properties: { contentType: 'application/json' } });
  await m3.c.publishAsync('room2', 'from v3', { qos: 1 });
  await e2e.waitFor(() => js.group.length >= 3, 5000, 'the MQTT publishes at the JSON client');
  const pick = (m) => ({ group: m.group, dataType: m.dataType, data: m.data, fromUserId: m.fromUserId });
  assert.deepEqual(pick(js.group[0]), { group: 'room2', dataType: 'text', data: 'from v5', fromUserId: 'dev2' });
  // two connections: the order between them is not fixed
  assert.ok(js.group.some((m) => m.dataType === 'json' && m.data?.n === 5));
  const b = js.group.find((m) => m.dataType === 'binary'); // MQTT 3.1.1 has no content type
  assert.equal(Buffer.from(b.data).toString(), 'from v3');

  await js.client.sendToGroup('room2', 'from json', 'text');
  await e2e.waitFor(() => m5.msgs.some((m) => m.payload === 'from json'), 5000, 'the JSON send at the MQTT client');
  const got = m5.msgs.find((m) => m.payload === 'from json');
  assert.equal(got.topic, 'room2');
  assert.equal(got.packet.properties.contentType, 'text/plain');
  // the MQTT client also gets its own publishes (No Local is not set), like a JSON client without noEcho
  assert.ok(m5.msgs.some((m) => m.payload === 'from v5'));
  // between MQTT 5.0 clients the publish keeps its properties (content type, user properties, ...)
  await m5.c.publishAsync('room2', Buffer.from([0xa1, 0x01]), { qos: 1, properties: { contentType: 'application/cbor',
    userProperties: { sensor: 't1' }, correlationData: Buffer.from('r1'), responseTopic: 'replies' } });
  await e2e.waitFor(() => m5.msgs.some((m) => m.packet.properties?.contentType === 'application/cbor'), 5000, 'the cbor publish');
  const cb = m5.msgs.find((m) => m.packet.properties?.contentType === 'application/cbor').packet;
  assert.equal(cb.properties.userProperties.sensor, 't1');
  assert.equal(cb.properties.correlationData.toString(), 'r1');
  assert.equal(cb.properties.responseTopic, 'replies');
  // a content type outside the JSON client's data types: binary
  await e2e.waitFor(() => js.group.some((m) => m.dataType === 'binary' && Buffer.from(m.data)[0] === 0xa1), 5000,
    'the cbor publish at the JSON client');
});

test('REST operations act on MQTT connections; the will message goes out on an abrupt close', async () => {
  const url = cliToken(['--user', 'dev6']).url; // no roles
  const c = await connect(url, { protocolVersion: 5, clientId: 'dev6v5' });
  const w = await connect(url, { protocolVersion: 5, clientId: 'dev6will',
    will: { topic: 'room6', payload: Buffer.from('gone'), qos: 0, retain: false } });
  const rq = (method, p) => e2e.unixRequest(gw.sock, method, `/api/hubs/${HUB}${p}`);
  // AddConnectionToGroup: a subscription with default options (QoS 0), seen by ListConnectionsInGroup
  assert.equal((await rq('PUT', '/groups/room6/connections/dev6v5')).status, 200);
  const list = JSON.parse((await rq('GET', '/groups/room6/connections')).body);
  assert.deepEqual(list.value, [{ connectionId: 'dev6v5', userId: 'dev6' }]);
  assert.equal((await appSend('/groups/room6/:send', 'text/plain', 'via rest')).status, 202);
  await e2e.waitFor(() => c.msgs.length >= 1, 5000, 'the group message');
  assert.equal(c.msgs[0].packet.qos, 0);
  // GrantPermission sendToGroup: the publish that was refused is taken
  await assert.rejects(w.c.publishAsync('room6', 'x', { qos: 1 }), (e) => e.code === 135);
  assert.equal((await rq('PUT', '/permissions/sendToGroup/connections/dev6will?targetName=room6')).status, 200);
  await w.c.publishAsync('room6', 'now allowed', { qos: 1 });
  await e2e.waitFor(() => c.msgs.some((m) => m.payload === 'now allowed'), 5000, 'the granted publish');
  // the socket dies without DISCONNECT: the will goes to the group
  w.c.stream.destroy();
  await e2e.waitFor(() => c.msgs.some((m) => m.payload === 'gone'), 5000, 'the will message');
  // CloseConnection: DISCONNECT administrative action (0x98) with the reason
  assert.equal((await rq('DELETE', '/connections/dev6v5?reason=maintenance')).status, 204);
  await e2e.waitFor(() => c.closed, 5000, 'the close');
  assert.equal(c.disconnects[0]?.reasonCode, 0x98);
  assert.equal(c.disconnects[0]?.properties?.reasonString, 'maintenance');
});

test('raw WebSocket: subprotocol mqtt required, binary frames only, keep-alive enforced', async () => {
  const url = cliToken(['--user', 'dev7']).url;
  // without the subprotocol: 400 before the upgrade
  await assert.rejects(e2e.rawClient(url), (e) => e.rec?.status === 400 && /UnsupportedSubprotocol/.test(e.rec.body));
  // CONNECT (5.0, client id k7, keep-alive 1 s), then silence: DISCONNECT 0x8D after 1.5 s
  const connect5 = Buffer.from([0x10, 0x0F, 0, 4, 0x4D, 0x51, 0x54, 0x54, 5, 0x02, 0, 1, 0, 0, 2, 0x6B, 0x37]);
  const r = await e2e.rawClient(url, ['mqtt']);
  const t0 = Date.now();
  r.ws.send(connect5.subarray(0, 5)); // a packet may span WebSocket messages
  r.ws.send(connect5.subarray(5));
  await e2e.waitFor(() => r.frames.length >= 1, 5000, 'the CONNACK');
  assert.equal(r.frames[0].binary, true);
  assert.equal(r.frames[0].data[0], 0x20);
  assert.equal(r.frames[0].data[3], 0);
  await e2e.waitFor(() => r.closed, 5000, 'the keep-alive close');
  assert.ok(Date.now() - t0 >= 1400, 'not before 1.5 x keep-alive');
  const d = r.frames[r.frames.length - 1].data;
  assert.deepEqual([d[0], d[2]], [0xE0, 0x8D]);
  // a text frame breaks MQTT over WebSocket: closed
  const r2 = await e2e.rawClient(url, ['mqtt']);
  r2.ws.send(connect5);
  await e2e.waitFor(() => r2.frames.length >= 1, 5000, 'the CONNACK');
  r2.ws.send('not binary');
  await e2e.waitFor(() => r2.closed, 5000, 'the close');
});

test('a wrong or expired token is refused in the CONNACK (not authorized)', async () => {
  const t = cliToken(['--user', 'dev3', ...ROLES]);
  const bad = t.url.slice(0, -3) + (t.url.endsWith('AAA') ? 'BBB' : 'AAA');
  await assert.rejects(connect(bad, { protocolVersion: 5, clientId: 'dev3a' }), (e) => e.code === 135);
  await assert.rejects(connect(bad, { protocolVersion: 4, clientId: 'dev3b' }), (e) => e.code === 5);
  // a token for the JSON client endpoint is not one for MQTT
  const jurl = spawnSync(WPSGATE, ['--socket', gw.sock, 'token', '--hub', HUB], { encoding: 'utf8' }).stdout.trim();
  const q = new URL(jurl).search;
  await assert.rejects(connect(`${emu.endpoint.replace('http', 'ws')}/clients/mqtt/hubs/${HUB}${q}`,
    { protocolVersion: 5, clientId: 'dev3c' }), (e) => e.code === 135);
  // the client id rules of the service: 0-9, a-z, A-Z
  await assert.rejects(connect(t.url, { protocolVersion: 5, clientId: 'bad_id' }), (e) => e.code === 133);
  await assert.rejects(connect(t.url, { protocolVersion: 4, clientId: 'bad-id' }), (e) => e.code === 2);
  assert.match(emu.stderr(), /refused on hub chat/);
  assert.doesNotMatch(emu.stderr(), new RegExp(t.token.split('.')[2]));
});

test('without the roles, SUBSCRIBE and PUBLISH are refused as not authorized', async () => {
  const url = cliToken(['--user', 'dev4', '--role', 'webpubsub.joinLeaveGroup.mine']).url;
  const c5 = await connect(url, { protocolVersion: 5, clientId: 'dev4v5' });
  await assert.rejects(c5.c.subscribeAsync(['mine', 'other'], { qos: 1 }), /Not authorized/);
  assert.deepEqual(c5.packets.find((p) => p.cmd === 'suback').granted, [1, 135]);
  await assert.rejects(c5.c.publishAsync('mine', 'x', { qos: 1 }), (e) => e.code === 135);
  assert.equal(c5.closed, false);
  // a refused QoS 0 publish closes the connection (as the service does), with DISCONNECT 0x87
  c5.c.publish('mine', 'x', { qos: 0 });
  await e2e.waitFor(() => c5.closed, 5000, 'the close');
  assert.equal(c5.disconnects[0]?.reasonCode, 135);
  const c3 = await connect(url, { protocolVersion: 4, clientId: 'dev4v3' });
  await assert.rejects(c3.c.subscribeAsync(['mine', 'other'], { qos: 0 }), /Subscribe error/);
  assert.deepEqual(c3.packets.find((p) => p.cmd === 'suback').granted, [0, 128]);
});

test('a packet over --max-mqtt-packet-bytes is refused with DISCONNECT 0x95', async () => {
  const url = cliToken(['--user', 'dev5', ...ROLES]).url;
  const c = await connect(url, { protocolVersion: 5, clientId: 'dev5v5' });
  await c.c.subscribeAsync('big', { qos: 0 });
  // the client would refuse it itself when it honours the CONNACK's Maximum Packet Size: clear that
  if (c.c.options.properties) delete c.c.options.properties.maximumPacketSize;
  c.c.publish('big', Buffer.alloc(MAX_PACKET * 2, 0x61), { qos: 0 });
  await e2e.waitFor(() => c.closed, 5000, 'the close');
  assert.equal(c.disconnects[0]?.reasonCode, 0x95);
  assert.match(emu.stderr(), /over the limit of 4096/);
  // MQTT 3.1.1 has no DISCONNECT from the server: the connection is closed
  const c3 = await connect(url, { protocolVersion: 4, clientId: 'dev5v3' });
  c3.c.publish('big', Buffer.alloc(MAX_PACKET * 2, 0x61), { qos: 0 });
  await e2e.waitFor(() => c3.closed, 5000, 'the close');
});

test('event handler: the connect event carries mqtt, its refusal becomes the CONNACK, user events answer', async () => {
  const seen = [];
  const server = http.createServer((req, res) => {
    const chunks = [];
    req.on('data', (d) => chunks.push(d));
    req.on('end', () => {
      const rec = { method: req.method, url: req.url, headers: req.headers, body: Buffer.concat(chunks).toString() };
      seen.push(rec);
      if (req.method === 'OPTIONS') { res.writeHead(200, { 'WebHook-Allowed-Origin': '*' }); res.end(); return; }
      const ev = req.headers['ce-eventname'];
      if (ev === 'connect') {
        const b = JSON.parse(rec.body);
        if (b.mqtt.username === 'banned') {
          res.writeHead(403, { 'Content-Type': 'application/json' });
          res.end(JSON.stringify({ mqtt: { code: 138, reason: 'banned by server' } }));
          return;
        }
        res.writeHead(200, { 'Content-Type': 'application/json' });
        res.end(JSON.stringify({ userId: b.mqtt.username, roles: ['webpubsub.joinLeaveGroup'], mqtt: { userProperties: [{ name: 'hi', value: 'there' }] } }));
        return;
      }
      if (ev === 'ping') {
        res.writeHead(200, { 'Content-Type': 'text/plain', 'mqtt-answer': 'yes' });
        res.end('pong:' + rec.body);
        return;
      }
      res.writeHead(204);
      res.end();
    });
  });
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  servers.push(server);
  const url0 = `http://127.0.0.1:${server.address().port}`;
  const emu2 = await e2e.startEmulator(['--event-handler',
    `evhub=${url0}/api/{hub}/{event};user=*;system=connect,connected,disconnected`]);
  extraEmus.push(emu2);
  const crypto = require('node:crypto');
  const b64u = (x) => Buffer.from(JSON.stringify(x)).toString('base64url');
  const now = Math.floor(Date.now() / 1000);
  const body = b64u({ alg: 'HS256', typ: 'JWT' }) + '.' + b64u({ aud: `${emu2.endpoint}/clients/mqtt/hubs/evhub`, iat: now, exp: now + 300 });
  const tok = body + '.' + crypto.createHmac('sha256', emu2.key).update(body).digest('base64url');
  const url = `${emu2.endpoint.replace('http', 'ws')}/clients/mqtt/hubs/evhub?access_token=${tok}`;

  await assert.rejects(connect(url, { protocolVersion: 5, clientId: 'evbad', username: 'banned', password: 'pw' }),
    (e) => e.code === 138);
  const c = await connect(url, { protocolVersion: 5, clientId: 'evgood', username: 'alice', password: 'secret',
    properties: { userProperties: { dev: 'kit' } } });
  assert.deepEqual({ ...c.connack.properties.userProperties }, { hi: 'there' });
  const conn = seen.filter((r) => r.headers['ce-eventname'] === 'connect').pop();
  const cb = JSON.parse(conn.body);
  assert.deepEqual(cb.mqtt, { protocolVersion: 5, cleanStart: true, username: 'alice',
    password: Buffer.from('secret').toString('base64'), userProperties: [{ name: 'dev', value: 'kit' }] });
  assert.deepEqual(cb.subprotocols, ['mqtt']);
  assert.equal(conn.headers['ce-connectionid'], 'evgood');
  const phys = conn.headers['ce-physicalconnectionid'];
  assert.match(phys, /^[A-Za-z0-9]+$/);
  assert.equal(conn.headers['ce-source'], `/hubs/evhub/client/evgood/${phys}`);

  c.c.publish('$webpubsub/server/events/ping', 'hi', { qos: 1, properties: { contentType: 'text/plain',
    correlationData: Buffer.from('c1'), userProperties: { k: 'v' } } });
  await e2e.waitFor(() => c.msgs.length >= 1, 5000, 'the event answer');
  const a = c.msgs[0];
  assert.equal(a.topic, '$webpubsub/server/events/ping/succeeded');
  assert.equal(a.payload, 'pong:hi');
  assert.equal(a.packet.properties.correlationData.toString(), 'c1');
  assert.equal(a.packet.properties.userProperties['azure-status-code'], '200');
  assert.equal(a.packet.properties.userProperties.answer, 'yes');
  const ue = seen.find((r) => r.headers['ce-eventname'] === 'ping');
  assert.equal(ue.headers['ce-type'], 'azure.webpubsub.user.ping');
  assert.equal(ue.headers['ce-userid'], 'alice');
  assert.equal(ue.headers['ce-subprotocol'], 'mqtt');
  assert.equal(ue.headers['mqtt-k'], 'v');
  assert.ok(ue.headers['ce-sessionid']);
  assert.equal(ue.headers['content-type'], 'text/plain');

  await c.c.endAsync();
  await e2e.waitFor(() => seen.some((r) => r.headers['ce-eventname'] === 'disconnected'), 5000, 'the disconnected event');
  const d = JSON.parse(seen.find((r) => r.headers['ce-eventname'] === 'disconnected').body);
  assert.deepEqual(d.mqtt, { initiatedByClient: true, disconnectPacket: { code: 0, userProperties: null } });
});
