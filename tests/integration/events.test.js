// events.test.js: wpsgated's events listener. The test plays the service (it signs its calls with the key,
// as webpubsub-events.md says) and the application (a plain node HTTP server on a Unix socket that records
// what reaches it). Verified calls reach the app without the signature and with the gateway's identity
// headers, and the app's answer comes back; forged, replayed, unsigned, malformed and oversized calls are
// refused with a JSON body and reach no app; a slow app gives 504 and a dead one 502.
'use strict';

const { test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const crypto = require('node:crypto');
const fs = require('node:fs');
const http = require('node:http');
const path = require('node:path');
const { startGateway, makeKey, makeTmpDir, writeSecretFile, freePort } = require('./lib/harness');
const { startUpstream } = require('./lib/fake-upstream');

const HUB = 'chat';
let key;
let key2;
let up;
let gw;
let evPort;
let dir;
let appSock;
let app;
const seen = []; // what reached the app
let answer = () => ({ status: 204 }); // how the app answers the next call

function sign(conn, k) {
  return 'sha256=' + crypto.createHmac('sha256', k).update(conn).digest('hex');
}

function startApp(sock) {
  const server = http.createServer((req, res) => {
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => {
      const rec = { method: req.method, url: req.url, headers: req.headers, body: Buffer.concat(chunks).toString() };
      seen.push(rec);
      const a = answer(rec);
      const send = () => {
        if (res.destroyed) return;
        res.writeHead(a.status, a.headers || {});
        res.end(a.body || '');
      };
      if (a.delayMs) setTimeout(send, a.delayMs); else send();
    });
  });
  return new Promise((resolve) => server.listen(sock, () => resolve(server)));
}

// One call of the service: event is 'connect', 'connected', 'disconnected' or a user event name.
function call({ event = 'message', conn = 'conn-1', user = 'alice', hub = HUB, body = '', ct, sig, headers = {},
  method = 'POST', urlPath = '/eventhandler', origin = '127.0.0.1' } = {}) {
  const sys = ['connect', 'connected', 'disconnected'].includes(event);
  const h = {
    'ce-specversion': '1.0',
    'ce-awpsversion': '1.0',
    'ce-type': sys ? `azure.webpubsub.sys.${event}` : `azure.webpubsub.user.${event}`,
    'ce-source': `/hubs/${hub}/client/${conn}`,
    'ce-id': '1',
    'ce-time': '2026-12-04T00:00:00Z',
    'ce-userId': user,
    'ce-connectionId': conn,
    'ce-hub': hub,
    'ce-eventName': event,
    'WebHook-Request-Origin': origin,
  };
  if (sig !== null) h['ce-signature'] = sig === undefined ? sign(conn, key) : sig;
  if (user === null) delete h['ce-userId'];
  if (ct) h['content-type'] = ct;
  for (const [k, v] of Object.entries(headers)) {
    if (v === undefined) delete h[k]; else h[k] = v;
  }
  const data = Buffer.from(body);
  if (method !== 'OPTIONS' && h['transfer-encoding'] === undefined) h['content-length'] = data.length;
  return new Promise((resolve, reject) => {
    const r = http.request({ host: '127.0.0.1', port: evPort, method, path: urlPath, headers: h, agent: false, timeout: 10000 },
      (res) => {
        const chunks = [];
        res.on('data', (c) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode, headers: res.headers, body: Buffer.concat(chunks).toString() }));
      });
    r.on('timeout', () => r.destroy(new Error('no answer in 10 s')));
    r.on('error', reject);
    r.end(method === 'OPTIONS' ? undefined : data);
  });
}

function jsonError(r, status, code) {
  assert.equal(r.status, status, r.body);
  assert.match(r.headers['content-type'], /^application\/json/);
  const j = JSON.parse(r.body);
  assert.equal(j.code, code);
  assert.equal(typeof j.message, 'string');
  return j;
}

before(async () => {
  key = makeKey();
  key2 = makeKey();
  dir = makeTmpDir('wpsgate-ev-');
  appSock = path.join(dir, 'app.sock');
  app = await startApp(appSock);
  up = await startUpstream({ key });
  evPort = await freePort();
  const k2 = path.join(dir, 'secondary-key');
  writeSecretFile(k2, key2 + '\n');
  gw = await startGateway(null, {
    endpoint: up.endpoint, key,
    extra: `events = { listen = [ "127.0.0.1:${evPort}" ]; forward = "unix:${appSock}"; path = "/eventhandler";
      timeout_ms = 800; max_body_bytes = 4096; secondary_key_file = "${k2}"; };`,
  });
});

after(async () => {
  if (gw) await gw.stop();
  if (app) app.close();
  if (up) await up.close();
  fs.rmSync(dir, { recursive: true, force: true });
});

test('the abuse-protection handshake is answered by the gateway for the service\'s host only', async () => {
  const n = seen.length;
  const ok = await call({ method: 'OPTIONS', sig: null });
  assert.equal(ok.status, 200);
  assert.equal(ok.headers['webhook-allowed-origin'], '127.0.0.1');
  const list = await call({ method: 'OPTIONS', sig: null, origin: 'other.example, 127.0.0.1' });
  assert.equal(list.status, 200, 'one host of a list matches');
  jsonError(await call({ method: 'OPTIONS', sig: null, origin: 'evil.example' }), 400, 'InvalidOrigin');
  jsonError(await call({ method: 'OPTIONS', sig: null, headers: { 'WebHook-Request-Origin': undefined } }), 400, 'InvalidRequest');
  assert.equal(seen.length, n, 'the app saw none of it');
});

test('connect: verified, forwarded without the signature, the app\'s answer and state come back', async () => {
  seen.length = 0;
  answer = () => ({ status: 200, headers: { 'content-type': 'application/json; charset=utf-8', 'ce-connectionState': 'eyJrIjoidiJ9', 'x-other': 'not passed' },
    body: '{"userId":"alice","groups":["room"],"roles":["webpubsub.sendToGroup.room"],"subprotocol":"json.webpubsub.azure.v1"}' });
  const body = '{"claims":{},"query":{},"headers":{},"subprotocols":["json.webpubsub.azure.v1"],"clientCertificates":[]}';
  const r = await call({ event: 'connect', body, ct: 'application/json; charset=utf-8',
    headers: { 'X-Wpsgate-User-Id': 'mallory', 'Authorization': 'Bearer x' }, urlPath: '/eventhandler/chat/connect?code=abc' });
  assert.equal(r.status, 200, r.body);
  assert.equal(r.headers['content-type'], 'application/json; charset=utf-8');
  assert.equal(r.headers['ce-connectionstate'], 'eyJrIjoidiJ9');
  assert.equal(r.headers['x-other'], undefined);
  assert.equal(JSON.parse(r.body).userId, 'alice');
  assert.equal(seen.length, 1);
  const s = seen[0];
  assert.equal(s.method, 'POST');
  assert.equal(s.url, '/eventhandler/chat/connect?code=abc', 'path and query unchanged');
  assert.equal(s.body, body);
  assert.equal(s.headers['content-type'], 'application/json; charset=utf-8');
  assert.equal(s.headers['ce-signature'], undefined, 'the signature is removed');
  assert.equal(s.headers.authorization, undefined);
  assert.equal(s.headers['ce-eventname'], 'connect');
  assert.equal(s.headers['ce-awpsversion'], '1.0');
  assert.equal(s.headers['x-wpsgate-verified'], 'ce-signature');
  assert.equal(s.headers['x-wpsgate-hub'], HUB);
  assert.equal(s.headers['x-wpsgate-connection-id'], 'conn-1');
  assert.equal(s.headers['x-wpsgate-user-id'], 'alice', 'the caller\'s own X-Wpsgate-* header is dropped');
  assert.equal(s.headers['x-wpsgate-event'], 'connect');
});

test('connect refused by the app: its status goes back to the service', async () => {
  answer = () => ({ status: 401, headers: { 'content-type': 'text/plain' }, body: 'no' });
  const r = await call({ event: 'connect', body: '{}', ct: 'application/json' });
  assert.equal(r.status, 401);
  assert.equal(r.body, 'no');
});

test('user events, connected and disconnected are forwarded; the answer body and type come back', async () => {
  seen.length = 0;
  answer = (rec) => (rec.headers['ce-eventname'] === 'message'
    ? { status: 200, headers: { 'content-type': 'text/plain; charset=utf-8' }, body: `echo: ${rec.body}` }
    : { status: 204 });
  const m = await call({ event: 'message', body: 'hello', ct: 'text/plain', headers: { 'ce-connectionState': 'eyJrIjoidiJ9' } });
  assert.equal(m.status, 200);
  assert.equal(m.body, 'echo: hello');
  assert.equal(m.headers['content-type'], 'text/plain; charset=utf-8');
  assert.equal(seen[0].headers['ce-connectionstate'], 'eyJrIjoidiJ9', 'the state reaches the app');
  const bin = await call({ event: 'message', body: '\u0001\u0002', ct: 'application/octet-stream', user: null });
  assert.equal(bin.status, 200);
  assert.equal(seen[1].headers['x-wpsgate-user-id'], undefined, 'no user, no user header');
  assert.equal((await call({ event: 'connected', body: '{}', ct: 'application/json' })).status, 204);
  assert.equal((await call({ event: 'disconnected', body: '{"reason":"bye"}', ct: 'application/json' })).status, 204);
  assert.deepEqual(seen.map((s) => s.headers['ce-eventname']), ['message', 'message', 'connected', 'disconnected']);
});

test('both keys verify (rotation): either item of the header, either key the gateway holds', async () => {
  seen.length = 0;
  answer = () => ({ status: 204 });
  assert.equal((await call({ sig: `${sign('conn-1', 'old-key')},${sign('conn-1', key2)}` })).status, 204);
  assert.equal((await call({ sig: `${sign('conn-1', key)}, ${sign('conn-1', key2)}` })).status, 204);
  assert.equal((await call({ sig: sign('conn-1', key).toUpperCase().replace('SHA256=', 'sha256=') })).status, 204);
  assert.equal(seen.length, 3);
});

test('forged, replayed, unsigned and malformed calls are refused and reach no app', async () => {
  seen.length = 0;
  answer = () => ({ status: 204 });
  jsonError(await call({ sig: sign('conn-1', 'not-the-key') }), 401, 'Unauthorized');
  jsonError(await call({ conn: 'conn-2', sig: sign('conn-1', key) }), 401, 'Unauthorized'); // replayed to another connection
  jsonError(await call({ sig: null }), 401, 'Unauthorized');
  jsonError(await call({ sig: 'sha256=xyz' }), 400, 'InvalidSignature');
  jsonError(await call({ headers: { 'ce-hub': undefined } }), 400, 'InvalidRequest');
  jsonError(await call({ headers: { 'ce-source': '/hubs/other/client/conn-1' } }), 400, 'InvalidRequest');
  jsonError(await call({ headers: { 'ce-type': 'azure.webpubsub.sys.connect' } }), 400, 'InvalidRequest');
  jsonError(await call({ headers: { 'ce-awpsversion': undefined } }), 400, 'InvalidRequest');
  jsonError(await call({ hub: 'bad hub' }), 400, 'InvalidRequest');
  // a second ce-connectionId (or ce-userId) could be what the app reads: refused
  jsonError(await call({ headers: { 'ce-connectionId': ['conn-1', 'conn-2'] } }), 400, 'InvalidRequest');
  jsonError(await call({ headers: { 'ce-userId': ['alice', 'root'] } }), 400, 'InvalidRequest');
  jsonError(await call({ origin: 'evil.example' }), 400, 'InvalidOrigin');
  jsonError(await call({ urlPath: '/elsewhere' }), 404, 'NotFound');
  jsonError(await call({ method: 'GET' }), 405, 'MethodNotAllowed');
  assert.equal(seen.length, 0, 'the app saw none of them');
});

test('oversized bodies are refused: by Content-Length at once, chunked when the bound is passed', async () => {
  seen.length = 0;
  jsonError(await call({ body: 'x'.repeat(5000), ct: 'text/plain' }), 413, 'PayloadTooLarge');
  const r = await new Promise((resolve, reject) => {
    const h = {
      'ce-specversion': '1.0', 'ce-awpsversion': '1.0', 'ce-type': 'azure.webpubsub.user.message',
      'ce-source': `/hubs/${HUB}/client/c9`, 'ce-connectionId': 'c9', 'ce-hub': HUB, 'ce-eventName': 'message',
      'ce-signature': sign('c9', key), 'WebHook-Request-Origin': '127.0.0.1', 'content-type': 'text/plain',
    };
    const q = http.request({ host: '127.0.0.1', port: evPort, method: 'POST', path: '/eventhandler', headers: h, agent: false, timeout: 10000 }, (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode, headers: res.headers, body: Buffer.concat(chunks).toString() }));
    });
    q.on('timeout', () => q.destroy(new Error('no answer')));
    q.on('error', reject);
    for (let i = 0; i < 5; i++) q.write('y'.repeat(1000));
    q.end();
  });
  jsonError(r, 413, 'PayloadTooLarge');
  assert.equal(seen.length, 0);
});

test('a slow app gives 504, a dead app 502, and the gateway goes on', async () => {
  answer = () => ({ status: 204, delayMs: 2000 });
  jsonError(await call({}), 504, 'GatewayTimeout');
  app.close();
  await new Promise((r) => setTimeout(r, 50));
  fs.rmSync(appSock, { force: true });
  jsonError(await call({}), 502, 'BadGateway');
  app = await startApp(appSock);
  answer = () => ({ status: 204 });
  assert.equal((await call({})).status, 204, 'works again once the app is back');
});

test('metrics count the calls by event and verdict, and the log has a line per call and an audit line', async () => {
  const r = await gw.request({ method: 'GET', path: '/metrics' });
  const text = r.body.toString();
  assert.match(text, /wpsgate_events_total\{event="connect",verdict="forwarded"\} [1-9]/);
  assert.match(text, /wpsgate_events_total\{event="user",verdict="bad_signature"\} [1-9]/);
  assert.match(text, /wpsgate_events_total\{event="validate",verdict="validated"\} [1-9]/);
  assert.match(text, /wpsgate_events_app_duration_seconds_count [1-9]/);
  const log = gw.stderr();
  assert.match(log, /msg="?event call"? .*verdict=forwarded/);
  assert.match(log, /msg="?audit"? event=connect .*answer=accepted.*groups=room/);
  assert.ok(!log.includes(key) && !log.includes(key2), 'no key in the log');
  assert.ok(!log.includes(sign('conn-1', key).slice(7)), 'no signature in the log');
});

test('reload applies a new forward and limits to the next calls; max_inflight answers 503 past it', async () => {
  const sock2 = path.join(dir, 'app2.sock');
  const seen2 = [];
  const app2 = await new Promise((resolve) => {
    const s = http.createServer((req, res) => {
      req.resume();
      req.on('end', () => {
        seen2.push(req.url);
        setTimeout(() => { res.writeHead(204); res.end(); }, 600);
      });
    });
    s.listen(sock2, () => resolve(s));
  });
  const text = fs.readFileSync(gw.cfgFile, 'utf8')
    .replace(`forward = "unix:${appSock}"`, `forward = "unix:${sock2}"`)
    .replace('timeout_ms = 800;', 'timeout_ms = 3000; max_inflight = 1;');
  assert.notEqual(text, fs.readFileSync(gw.cfgFile, 'utf8'));
  fs.writeFileSync(gw.cfgFile, text);
  const reloads = (gw.stderr().match(/msg="?reloaded"?/g) || []).length;
  gw.proc.kill('SIGHUP');
  for (let i = 0; i < 100 && (gw.stderr().match(/msg="?reloaded"?/g) || []).length === reloads; i++) {
    await new Promise((r) => setTimeout(r, 50));
  }
  assert.ok((gw.stderr().match(/msg="?reloaded"?/g) || []).length > reloads, 'reloaded');
  const first = call({ conn: 'slow-1' });
  await new Promise((r) => setTimeout(r, 200));
  jsonError(await call({ conn: 'busy-2' }), 503, 'ServerBusy');
  assert.equal((await first).status, 204, 'the call in flight is answered by the new app');
  assert.deepEqual(seen2, ['/eventhandler'], 'the new forward; the refused call reached no app');

  // drain: SIGTERM while a call is with the app; it is answered, then wpsgated exits 0
  const inflight = call({ conn: 'drain-1' });
  await new Promise((r) => setTimeout(r, 200));
  gw.proc.kill('SIGTERM');
  assert.equal((await inflight).status, 204, 'the call in flight finished during the drain');
  assert.deepEqual(await gw.waitExit(10000), { code: 0, signal: null });
  app2.close();
});
