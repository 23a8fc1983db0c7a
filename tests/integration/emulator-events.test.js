// emulator-events.test.js: wpsgate-emulator calls event handlers as the service does. A handler in the
// test records every call, checks its signature with the key, and answers; real clients (the SDK's
// WebPubSubClient with the JSON subprotocol, a plain WebSocket) connect and send. Also: a connect refused
// with 401, a failed abuse-protection handshake, a dead and a slow handler, and an app built with
// @azure/web-pubsub-express as the handler itself.
'use strict';

const { test, after } = require('node:test');
const assert = require('node:assert/strict');
const crypto = require('node:crypto');
const http = require('node:http');
const e2e = require('../e2e/lib/harness.js');

const servers = [];
const emus = [];
const clients = [];

function b64url(x) {
  return Buffer.from(typeof x === 'string' ? x : JSON.stringify(x)).toString('base64url');
}

// A client URL for hub, signed with the emulator's key as the service signs them.
function clientUrl(emu, hub, claims = {}) {
  const now = Math.floor(Date.now() / 1000);
  const body = b64url({ alg: 'HS256', typ: 'JWT' }) + '.' +
    b64url({ aud: `${emu.endpoint}/client/hubs/${hub}`, iat: now, exp: now + 300, ...claims });
  const sig = crypto.createHmac('sha256', emu.key).update(body).digest('base64url');
  return `${emu.endpoint.replace(/^http/, 'ws')}/client/hubs/${hub}?access_token=${body}.${sig}`;
}

// A handler: answer(rec) gives { status, headers, body, delayMs } for each POST; OPTIONS per options.
async function startHandler(answer, { options = 200, allowed = '*' } = {}) {
  const seen = [];
  const server = http.createServer((req, res) => {
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => {
      const rec = { method: req.method, url: req.url, headers: req.headers, body: Buffer.concat(chunks) };
      seen.push(rec);
      if (req.method === 'OPTIONS') {
        res.writeHead(options, allowed ? { 'WebHook-Allowed-Origin': allowed } : {});
        res.end();
        return;
      }
      const a = answer(rec) || { status: 204 };
      const send = () => { res.writeHead(a.status, a.headers || {}); res.end(a.body || ''); };
      if (a.delayMs) setTimeout(send, a.delayMs); else send();
    });
  });
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  servers.push(server);
  return { seen, url: `http://127.0.0.1:${server.address().port}`, server };
}

async function emulatorFor(handlerUrl, hub, extra = []) {
  const emu = await e2e.startEmulator(['--event-handler',
    `${hub}=${handlerUrl}/api/{hub}/{event};user=*;system=connect,connected,disconnected`, ...extra]);
  emus.push(emu);
  return emu;
}

function signature(key, conn) {
  return 'sha256=' + crypto.createHmac('sha256', key).update(conn).digest('hex');
}

after(async () => {
  for (const c of clients) c.client.stop();
  for (const e of emus) assert.deepEqual(await e.stop(), { code: 0, signal: null });
  for (const s of servers) s.close();
  e2e.killAll();
});

test('JSON clients: handshake, connect (user, groups, state), connected, a user event answered, disconnected', async () => {
  const h = await startHandler((rec) => {
    const ev = rec.headers['ce-eventname'];
    if (ev === 'connect') {
      return { status: 200, headers: { 'content-type': 'application/json; charset=utf-8', 'ce-connectionState': 'c3RhdGU=' },
        body: JSON.stringify({ userId: 'bob', groups: ['g1'], roles: ['webpubsub.sendToGroup.g1'] }) };
    }
    if (ev === 'hello') return { status: 200, headers: { 'content-type': 'text/plain' }, body: `hey ${rec.body}` };
    return { status: 204 };
  });
  const emu = await emulatorFor(h.url, 'chat');
  const c = await e2e.subscribe(clientUrl(emu, 'chat', { role: ['webpubsub.joinLeaveGroup'] }) + '&room=a%20b');
  clients.push(c);
  assert.equal(c.userId, 'bob', 'the handler named the user');

  const [opt, conn] = h.seen;
  assert.equal(opt.method, 'OPTIONS', 'the handshake comes first');
  assert.equal(opt.url, '/api/chat/validate');
  assert.equal(opt.headers['webhook-request-origin'], '127.0.0.1');
  assert.equal(opt.headers['ce-awpsversion'], '1.0');
  assert.equal(conn.method, 'POST');
  assert.equal(conn.url, '/api/chat/connect');
  const hd = conn.headers;
  assert.equal(hd['ce-specversion'], '1.0');
  assert.equal(hd['ce-awpsversion'], '1.0');
  assert.equal(hd['ce-type'], 'azure.webpubsub.sys.connect');
  assert.equal(hd['ce-eventname'], 'connect');
  assert.equal(hd['ce-hub'], 'chat');
  assert.equal(hd['ce-connectionid'], c.connectionId);
  assert.equal(hd['ce-source'], `/hubs/chat/client/${c.connectionId}`);
  assert.equal(hd['ce-id'], '0');
  assert.match(hd['ce-time'], /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
  assert.equal(hd['ce-signature'], signature(emu.key, c.connectionId));
  assert.equal(hd['webhook-request-origin'], '127.0.0.1');
  assert.equal(hd['ce-subprotocol'], undefined, 'not on connect');
  assert.match(hd['content-type'], /^application\/json/);
  const body = JSON.parse(conn.body);
  assert.deepEqual(body.subprotocols, ['json.reliable.webpubsub.azure.v1'], 'what the SDK offers');
  assert.deepEqual(body.claims.role, ['webpubsub.joinLeaveGroup']);
  assert.equal(body.query.access_token, undefined, 'the token is not passed on');
  assert.deepEqual(body.query.room, ['a b'], 'the query, decoded');
  assert.equal(body.headers.Authorization, undefined);
  assert.deepEqual(body.clientCertificates, []);

  await e2e.waitFor(() => h.seen.some((r) => r.headers['ce-eventname'] === 'connected'), 5000, 'connected');
  const cd = h.seen.find((r) => r.headers['ce-eventname'] === 'connected');
  assert.equal(cd.headers['ce-type'], 'azure.webpubsub.sys.connected');
  assert.equal(cd.headers['ce-userid'], 'bob');
  assert.equal(cd.headers['ce-subprotocol'], 'json.reliable.webpubsub.azure.v1');
  assert.equal(cd.headers['ce-connectionstate'], 'c3RhdGU=', 'the state the connect answer set');
  assert.equal(cd.body.toString(), '{}');

  await c.client.sendEvent('hello', 'there', 'text', { fireAndForget: false });
  await e2e.waitFor(() => c.server.some((m) => m.data === 'hey there'), 5000, 'the handler\'s answer');
  const ue = h.seen.find((r) => r.headers['ce-eventname'] === 'hello');
  assert.equal(ue.headers['ce-type'], 'azure.webpubsub.user.hello');
  assert.match(ue.headers['content-type'], /^text\/plain/);
  assert.equal(ue.body.toString(), 'there');
  assert.equal(ue.headers['ce-connectionstate'], 'c3RhdGU=');
  await c.client.sendEvent('data', { n: 1 }, 'json', { fireAndForget: false });
  await e2e.waitFor(() => h.seen.some((r) => r.headers['ce-eventname'] === 'data'), 5000, 'the json event');
  const je = h.seen.find((r) => r.headers['ce-eventname'] === 'data');
  assert.match(je.headers['content-type'], /^application\/json/);
  assert.deepEqual(JSON.parse(je.body), { n: 1 });

  c.client.stop();
  await e2e.waitFor(() => h.seen.some((r) => r.headers['ce-eventname'] === 'disconnected'), 5000, 'disconnected');
  const dis = h.seen.find((r) => r.headers['ce-eventname'] === 'disconnected');
  assert.equal(typeof JSON.parse(dis.body).reason, 'string');
  assert.ok(Number(dis.headers['ce-id']) > Number(cd.headers['ce-id']), 'ce-id grows per connection');
});

test('a plain WebSocket client: every frame is the event "message", the answer comes back as a frame', async () => {
  const h = await startHandler((rec) => (rec.headers['ce-eventname'] === 'message'
    ? { status: 200, headers: { 'content-type': 'text/plain' }, body: `echo ${rec.body}` } : { status: 204 }));
  const emu = await emulatorFor(h.url, 'plain');
  const ws = await e2e.rawClient(clientUrl(emu, 'plain', { sub: 'pat' }));
  ws.ws.send('ping');
  await e2e.waitFor(() => ws.frames.some((f) => f.data === 'echo ping'), 5000, 'the echo');
  const m = h.seen.find((r) => r.headers['ce-eventname'] === 'message');
  assert.equal(m.headers['ce-type'], 'azure.webpubsub.user.message');
  assert.match(m.headers['content-type'], /^text\/plain/);
  assert.equal(m.headers['ce-userid'], 'pat');
  ws.ws.close();
});

test('connect refused by the handler: the client gets its 401 and no other event follows', async () => {
  const h = await startHandler((rec) => (rec.headers['ce-eventname'] === 'connect' ? { status: 401 } : { status: 204 }));
  const emu = await emulatorFor(h.url, 'closed');
  await assert.rejects(e2e.rawClient(clientUrl(emu, 'closed')), (e) => e.rec && e.rec.status === 401);
  await e2e.sleep(200);
  assert.deepEqual(h.seen.map((r) => r.headers['ce-eventname'] || r.method), ['OPTIONS', 'connect']);
});

test('a failed handshake, a dead handler and a slow one refuse the connect with 500', async () => {
  const bad = await startHandler(() => ({ status: 204 }), { options: 403, allowed: null });
  const e1 = await emulatorFor(bad.url, 'h1');
  await assert.rejects(e2e.rawClient(clientUrl(e1, 'h1')), (e) => e.rec && e.rec.status === 500);
  assert.deepEqual(bad.seen.map((r) => r.method), ['OPTIONS'], 'nothing is posted to a handler that failed the handshake');

  const port = await e2e.freePort();
  const e2 = await emulatorFor(`http://127.0.0.1:${port}`, 'h2');
  await assert.rejects(e2e.rawClient(clientUrl(e2, 'h2')), (e) => e.rec && e.rec.status === 500);

  const slow = await startHandler(() => ({ status: 204, delayMs: 1500 }));
  const e3 = await emulatorFor(slow.url, 'h3', ['--event-timeout-ms', '300']);
  const t0 = Date.now();
  await assert.rejects(e2e.rawClient(clientUrl(e3, 'h3')), (e) => e.rec && e.rec.status === 500);
  assert.ok(Date.now() - t0 < 1400, 'refused at the timeout, not when the handler answers');
});

test('@azure/web-pubsub-express accepts the calls as the handler itself', async () => {
  const express = e2e.req('express');
  const { WebPubSubEventHandler } = e2e.req('@azure/web-pubsub-express');
  const handler = new WebPubSubEventHandler('expr', {
    path: '/api/expr',
    handleConnect: (req, res) => res.success({ userId: 'carol' }),
    handleUserEvent: (req, res) => res.success(`express got ${req.data}`, 'text'),
  });
  const app = express();
  app.use(handler.getMiddleware());
  const server = await new Promise((r) => { const s = app.listen(0, '127.0.0.1', () => r(s)); });
  servers.push(server);
  const emu = await e2e.startEmulator(['--event-handler',
    `expr=http://127.0.0.1:${server.address().port}/api/expr;user=*;system=connect`]);
  emus.push(emu);
  const c = await e2e.subscribe(clientUrl(emu, 'expr'));
  clients.push(c);
  assert.equal(c.userId, 'carol');
  await c.client.sendEvent('e', 'hi', 'text', { fireAndForget: false });
  await e2e.waitFor(() => c.server.some((m) => m.data === 'express got hi'), 5000, 'the express answer');
});
