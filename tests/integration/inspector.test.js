// inspector.test.js: wpsgate-emulator's inspector (/inspector/): the snapshot and the Server-Sent
// Events stream while real clients connect and an app sends through wpsgated; the query filters;
// the limits (entries kept, live watchers); the page's assets and headers; 404 with --no-inspector;
// a clean exit with a stream open.
'use strict';

const test = require('node:test');
const assert = require('node:assert/strict');
const http = require('node:http');
const h = require('../e2e/lib/harness.js');

const V = 'api-version=2024-12-01';
const emus = [];
const gws = [];
const clients = [];

test.after(async () => {
  for (const c of clients) {
    try { c.client ? c.client.stop() : c.ws.terminate(); } catch { /* gone */ }
  }
  for (const g of gws) assert.deepEqual(await g.stop(), { code: 0, signal: null });
  for (const e of emus) assert.deepEqual(await e.stop(), { code: 0, signal: null });
  h.killAll();
});

async function emulator(args = []) {
  const e = await h.startEmulator(args);
  emus.push(e);
  return e;
}

// GET on the emulator: resolves { status, headers, body }.
function get(emu, p, headers = {}, method = 'GET') {
  return new Promise((resolve, reject) => {
    const r = http.request({ host: '127.0.0.1', port: emu.port, path: p, method, headers, timeout: 5000 }, (res) => {
      let body = '';
      res.on('data', (d) => { body += d; });
      res.on('end', () => resolve({ status: res.statusCode, headers: res.headers, body }));
    });
    r.on('timeout', () => r.destroy(new Error(`${p}: no answer`)));
    r.on('error', reject);
    r.end();
  });
}

async function snapshot(emu, q = '') {
  const r = await get(emu, `/inspector/api/snapshot${q}`);
  assert.equal(r.status, 200, r.body);
  assert.match(r.headers['content-type'], /^application\/json/);
  return JSON.parse(r.body);
}

// An event stream: .events (parsed entries), .comments, .status; .close().
function stream(emu, q = '', headers = {}) {
  return new Promise((resolve, reject) => {
    const s = { events: [], comments: 0, status: 0, ended: false, body: '' };
    const r = http.get({ host: '127.0.0.1', port: emu.port, path: `/inspector/api/events${q}`, headers }, (res) => {
      s.status = res.statusCode;
      s.headers = res.headers;
      let buf = '';
      res.setEncoding('utf8');
      res.on('data', (d) => {
        if (res.statusCode !== 200) { s.body += d; return; }
        buf += d;
        let i;
        while ((i = buf.indexOf('\n\n')) >= 0) {
          const block = buf.slice(0, i);
          buf = buf.slice(i + 2);
          const data = block.split('\n').filter((l) => l.startsWith('data: ')).map((l) => l.slice(6)).join('\n');
          if (data) s.events.push(JSON.parse(data));
          else if (block.startsWith(':')) s.comments++;
        }
      });
      res.on('end', () => { s.ended = true; });
      res.on('error', () => { s.ended = true; });
      resolve(s);
    });
    s.close = () => r.destroy();
    r.on('error', (e) => { if (!s.status) reject(e); s.ended = true; });
  });
}

function post(gw, p, contentType, body) {
  return h.unixRequest(gw.sock, 'POST', p, { contentType, body });
}

async function clientUrl(gw, hub, query) {
  const r = await post(gw, `/api/hubs/${hub}/:generateToken?${V}&${query}`);
  assert.equal(r.status, 200, r.body);
  return JSON.parse(r.body).url;
}

test('snapshot and live stream while clients connect and an app sends through the gateway', { timeout: 40000 }, async () => {
  const emu = await emulator();
  const gw = await h.startGateway(emu);
  gws.push(gw);
  const s = await stream(emu, '?after=0');
  assert.equal(s.status, 200);
  assert.match(s.headers['content-type'], /^text\/event-stream/);

  const aliceUrl = await clientUrl(gw, 'chat', 'userId=alice&group=g1&role=webpubsub.sendToGroup.g1&role=webpubsub.joinLeaveGroup');
  const alice = await h.subscribe(aliceUrl);
  clients.push(alice);
  const raw = await h.rawClient(await clientUrl(gw, 'chat', 'userId=bob'));
  clients.push(raw);
  await h.waitFor(() => s.events.filter((e) => e.kind === 'conn.open').length === 2, 5000, 'two conn.open entries');
  const open = s.events.find((e) => e.kind === 'conn.open' && e.userId === 'alice').conn;
  assert.equal(open.protocol, 'json.reliable'); // the SDK's default subprotocol
  assert.equal(open.subprotocol, 'json.reliable.webpubsub.azure.v1');
  assert.deepEqual(open.groups, ['g1']);
  assert.deepEqual(open.roles.sort(), ['webpubsub.joinLeaveGroup', 'webpubsub.sendToGroup.g1']);
  assert.equal(s.events.find((e) => e.kind === 'conn.open' && e.userId === 'bob').conn.protocol, 'simple');

  // the app sends HTML to the group through the gateway: a REST entry and a send entry, as text
  const html = '<b>html</b> & <script>alert(1)</script>';
  const r = await post(gw, `/api/hubs/chat/groups/g1/:send?${V}`, 'text/plain', html);
  assert.equal(r.status, 202, r.body);
  await h.waitFor(() => s.events.some((e) => e.kind === 'send'), 5000, 'the send entry');
  const rest = s.events.find((e) => e.kind === 'rest' && e.path === '/api/hubs/chat/groups/g1/:send');
  assert.ok(rest, JSON.stringify(s.events));
  assert.equal(rest.method, 'POST');
  assert.equal(rest.status, 202);
  assert.equal(rest.group, 'g1');
  const send = s.events.find((e) => e.kind === 'send');
  assert.deepEqual(send.to, { type: 'group', id: 'g1' });
  assert.equal(send.preview, html);
  assert.equal(send.size, Buffer.byteLength(html));
  assert.equal(send.recipients, 1);
  await h.waitFor(() => alice.group.length === 1, 5000, 'alice gets the message');

  // client frames: join, sendToGroup
  await alice.client.joinGroup('g2');
  await alice.client.sendToGroup('g1', { hi: 1 }, 'json');
  await h.waitFor(() => s.events.filter((e) => e.kind === 'client').length >= 2, 5000, 'client frames');
  const frames = s.events.filter((e) => e.kind === 'client');
  assert.deepEqual(frames.map((e) => [e.type, e.group, e.userId]), [['joinGroup', 'g2', 'alice'], ['sendToGroup', 'g1', 'alice']]);
  assert.equal(frames[1].preview, '{"hi":1}');
  assert.ok(s.events.some((e) => e.kind === 'group.join' && e.group === 'g2'));

  // the snapshot: connections from the hubs, the same entries, ids in order
  const snap = await snapshot(emu);
  const chat = snap.hubs.find((x) => x.name === 'chat');
  assert.equal(chat.connections.length, 2);
  const a = chat.connections.find((c) => c.userId === 'alice');
  assert.deepEqual(a.groups.sort(), ['g1', 'g2']);
  assert.ok(Math.abs(a.connectedAt - Date.now()) < 60000);
  assert.equal(snap.lastId, snap.entries[snap.entries.length - 1].id);
  assert.deepEqual(snap.entries.map((e) => e.id), [...snap.entries.map((e) => e.id)].sort((x, y) => x - y));
  assert.deepEqual(snap.limits, { entries: 1000, watchers: 16, backlogBytes: 1048576 });
  assert.equal(snap.watchers, 1);
  for (const e of s.events) assert.ok(snap.entries.some((x) => x.id === e.id), `entry ${e.id} in the snapshot`);
  // no secret in what the inspector shows: not the key, not a client token
  const shown = JSON.stringify(snap) + JSON.stringify(s.events);
  const token = new URL(aliceUrl).searchParams.get('access_token');
  assert.ok(!shown.includes(emu.key), 'the key is not shown');
  assert.ok(!shown.includes(token) && !shown.includes(token.split('.')[2]), 'the token is not shown');
  assert.ok(!/access_token/i.test(shown));

  // filters: by user, by group; a stream filtered by hub
  const bob = await snapshot(emu, '?user=bob');
  assert.deepEqual(bob.hubs[0].connections.map((c) => c.userId), ['bob']);
  assert.ok(bob.entries.length > 0 && bob.entries.every((e) => e.userId === 'bob'));
  const g2 = await snapshot(emu, '?group=g2');
  assert.ok(g2.entries.every((e) => e.group === 'g2'));
  const other = await stream(emu, '?hub=other');
  await post(gw, `/api/hubs/other/:send?${V}`, 'text/plain', 'x');
  await post(gw, `/api/hubs/chat/:send?${V}`, 'text/plain', 'y');
  await h.waitFor(() => other.events.length >= 1, 5000, 'the other hub\'s entry');
  await h.sleep(200);
  assert.ok(other.events.every((e) => e.hub === 'other'), JSON.stringify(other.events));
  other.close();

  // Last-Event-ID: a reconnecting page gets what it missed
  const last = s.events[s.events.length - 1].id;
  await post(gw, `/api/hubs/chat/users/bob/:send?${V}`, 'text/plain', 'missed');
  const again = await stream(emu, '', { 'Last-Event-ID': String(last) });
  await h.waitFor(() => again.events.some((e) => e.kind === 'send' && e.preview === 'missed'), 5000, 'the replay');
  assert.ok(again.events.every((e) => e.id > last));
  again.close();

  // a client goes: conn.close
  raw.ws.close();
  await h.waitFor(() => s.events.some((e) => e.kind === 'conn.close' && e.userId === 'bob'), 5000, 'conn.close');
  s.close();
});

test('limits: entries kept, live watchers; bad values refused', { timeout: 20000 }, async () => {
  const emu = await emulator(['--inspector-entries', '3', '--inspector-watchers', '1', '--inspector-backlog-bytes', '16384']);
  for (let i = 0; i < 6; i++) await get(emu, `/api/hubs/h${i}/connections/x/:closeConnection`);
  const snap = await snapshot(emu);
  assert.equal(snap.entries.length, 3);
  assert.deepEqual(snap.entries.map((e) => e.hub), ['h3', 'h4', 'h5']);
  assert.deepEqual(snap.limits, { entries: 3, watchers: 1, backlogBytes: 16384 });
  const one = await stream(emu);
  assert.equal(one.status, 200);
  const two = await stream(emu);
  assert.equal(two.status, 503);
  assert.equal(JSON.parse(two.body || '{}').code ?? 'ServiceUnavailable', 'ServiceUnavailable');
  one.close();
  // the first watcher's connection is noticed gone (at the latest at the next heartbeat): a new one fits
  await h.waitFor(async () => {
    const t = await stream(emu);
    t.close();
    return t.status === 200;
  }, 15000, 'a free watcher slot');

  for (const [flag, v] of [['--inspector-entries', '0'], ['--inspector-watchers', '1001'], ['--inspector-backlog-bytes', '100'], ['--inspector-entries', 'x']]) {
    const r = require('node:child_process').spawnSync(h.EMULATOR, ['--listen', '127.0.0.1:0', '--access-key-file', emu.keyFile, flag, v], { timeout: 5000 });
    assert.equal(r.status, 2, `${flag} ${v}`);
    assert.match(r.stderr.toString(), new RegExp(flag));
  }
});

test('the page, its headers, and bad requests', { timeout: 20000 }, async () => {
  const emu = await emulator();
  for (const p of ['/inspector', '/inspector/', '/inspector/index.html']) {
    const r = await get(emu, p);
    assert.equal(r.status, 200, p);
    assert.match(r.headers['content-type'], /^text\/html/);
    assert.match(r.body, /<script src="\/inspector\/app.js" defer><\/script>/);
    assert.match(r.headers['content-security-policy'], /script-src 'self'/);
    assert.equal(r.headers['x-content-type-options'], 'nosniff');
  }
  const js = await get(emu, '/inspector/app.js');
  assert.equal(js.status, 200);
  assert.match(js.headers['content-type'], /^text\/javascript/);
  assert.ok(!/innerHTML|insertAdjacentHTML|outerHTML|document\.write/.test(js.body), 'the page never parses data as HTML');
  assert.equal((await get(emu, '/inspector/app.css')).status, 200);

  const cases = [
    ['/inspector/nope.js', 404, {}],
    ['/inspector/api/nope', 404, {}],
    ['/inspector/api/snapshot?bogus=1', 400, {}],
    ['/inspector/api/snapshot?hub=%zz', 400, {}],
    ['/inspector/api/events?after=x', 400, {}],
    ['/inspector/', 403, { Host: 'evil.example:80' }],
    ['/inspector/api/snapshot', 403, { Host: '127.0.0.1.evil.example' }],
  ];
  for (const [p, status, hdrs] of cases) {
    const r = await get(emu, p, hdrs);
    assert.equal(r.status, status, `${p} ${JSON.stringify(hdrs)}: ${r.body}`);
    assert.match(r.headers['content-type'], /^application\/json/);
    assert.ok(JSON.parse(r.body).code);
  }
  const p = await get(emu, '/inspector/api/snapshot', {}, 'POST');
  assert.equal(p.status, 405);
  assert.equal(p.headers.allow, 'GET, HEAD');
  assert.equal((await get(emu, '/inspector/', { Host: 'localhost:1234' })).status, 200);
  assert.equal((await get(emu, '/inspector/', { Host: '[::1]:1234' })).status, 200);
});

test('--no-inspector: 404, no inspector line, no entries kept', { timeout: 20000 }, async () => {
  const emu = await emulator(['--no-inspector']);
  for (const p of ['/inspector/', '/inspector/api/snapshot', '/inspector/api/events']) {
    const r = await get(emu, p);
    assert.equal(r.status, 404, p);
    assert.ok(JSON.parse(r.body).code, r.body);
  }
  const on = await emulator();
  assert.ok(!emu.stderr().includes('inspector at'));
  assert.ok(on.stderr().includes(`inspector at ${on.endpoint}/inspector/`));
});

test('the emulator exits cleanly with streams open and quiet', { timeout: 20000 }, async () => {
  const emu = await h.startEmulator();
  const a = await stream(emu);
  const b = await stream(emu, '?hub=x');
  await h.sleep(100);
  const t0 = Date.now();
  assert.deepEqual(await emu.stop(), { code: 0, signal: null });
  assert.ok(Date.now() - t0 < 3000);
  await h.waitFor(() => a.ended && b.ended, 3000, 'the streams end');
});

test('event handler calls and their answers', { timeout: 20000 }, async () => {
  const server = http.createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      if (req.method === 'OPTIONS') { res.writeHead(200, { 'WebHook-Allowed-Origin': '*' }); res.end(); return; }
      const ev = req.headers['ce-eventname'];
      if (ev === 'connect') { res.writeHead(200, { 'content-type': 'application/json' }); res.end('{"userId":"eve"}'); return; }
      if (ev === 'message') { res.writeHead(500); res.end(); return; }
      res.writeHead(204);
      res.end();
    });
  });
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  try {
    const hurl = `http://127.0.0.1:${server.address().port}`;
    const emu = await emulator(['--event-handler', `ev=${hurl}/{event};user=*;system=connect,connected,disconnected`]);
    const s = await stream(emu);
    const crypto = require('node:crypto');
    const now = Math.floor(Date.now() / 1000);
    const b64 = (o) => Buffer.from(JSON.stringify(o)).toString('base64url');
    const body = `${b64({ alg: 'HS256', typ: 'JWT' })}.${b64({ aud: `${emu.endpoint}/client/hubs/ev`, iat: now, exp: now + 300 })}`;
    const tok = `${body}.${crypto.createHmac('sha256', emu.key).update(body).digest('base64url')}`;
    const c = await h.rawClient(`${emu.endpoint.replace(/^http/, 'ws')}/client/hubs/ev?access_token=${tok}`);
    clients.push(c);
    c.ws.send('<i>hi</i>');
    await h.waitFor(() => s.events.some((e) => e.kind === 'event' && e.event === 'message'), 5000, 'the message event');
    const evs = s.events.filter((e) => e.kind === 'event');
    const by = (n) => evs.find((e) => e.event === n);
    assert.equal(by('validate').status, 200);
    assert.equal(by('connect').status, 200);
    assert.ok(by('connect').ms >= 0);
    assert.equal(by('message').status, 500);
    assert.equal(by('message').userId, 'eve');
    const frame = s.events.find((e) => e.kind === 'client');
    assert.deepEqual([frame.type, frame.preview, frame.userId], ['message', '<i>hi</i>', 'eve']);
    await h.waitFor(() => s.events.some((e) => e.kind === 'event' && e.event === 'connected'), 5000, 'connected');
    c.ws.close();
    await h.waitFor(() => s.events.some((e) => e.kind === 'event' && e.event === 'disconnected'), 5000, 'disconnected');
    assert.equal(s.events.find((e) => e.kind === 'event' && e.event === 'disconnected').status, 204);
    assert.equal(s.events.find((e) => e.kind === 'event' && e.event === 'connected').status, 204);
    s.close();
  } finally {
    server.close();
  }
});

test('a page that does not read is dropped at its backlog, the others go on', { timeout: 40000 }, async () => {
  const net = require('node:net');
  const emu = await emulator(['--inspector-backlog-bytes', '65536']);
  const good = await stream(emu);
  // a client that asks for the stream and never reads: the kernel's buffers fill, then its backlog
  const sock = net.connect(emu.port, '127.0.0.1');
  await new Promise((r) => sock.on('connect', r));
  sock.on('error', () => {});
  sock.write('GET /inspector/api/events HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n');
  sock.pause();
  await h.waitFor(async () => (await snapshot(emu, '?after=999999999')).watchers === 2, 5000, 'two watchers');
  const agent = new http.Agent({ keepAlive: true, maxSockets: 8 });
  const pad = 'x'.repeat(200);
  const one = (i) => new Promise((resolve) => {
    const r = http.request({ agent, host: '127.0.0.1', port: emu.port, path: `/api/hubs/h/groups/${pad}${i}`, method: 'GET' },
      (res) => { res.resume(); res.on('end', resolve); });
    r.on('error', resolve);
    r.end();
  });
  let n = 0;
  let snap;
  // bounded: about 7000 requests drop it here; at most 60000
  while (n < 60000) {
    await Promise.all(Array.from({ length: 8 }, () => one(n++)));
    if (n % 800 === 0 && (snap = await snapshot(emu, '?after=999999999')).droppedWatchers > 0) break;
  }
  agent.destroy();
  assert.equal(snap.droppedWatchers, 1, `dropped after ${n} requests; the good one: ${good.events.length} events, ended ${good.ended}`);
  // its connection is closed, its slot free
  await h.waitFor(async () => (await snapshot(emu, '?after=999999999')).watchers === 1, 5000, 'the slow watcher gone');
  // the reading page got every entry, in order
  await h.waitFor(() => good.events.length >= n, 10000, 'the good watcher keeps up');
  const ids = good.events.map((e) => e.id);
  assert.deepEqual(ids, [...ids].sort((a, b) => a - b));
  assert.equal(new Set(ids).size, ids.length);
  good.close();
  sock.destroy();
});

test('MQTT devices: their connections, publishes, subscriptions and what they receive', { timeout: 30000 }, async () => {
  const mqtt = h.req('mqtt');
  const { spawnSync } = require('node:child_process');
  const { WPSGATE } = require('../lib/paths.js');
  const emu = await emulator();
  const gw = await h.startGateway(emu);
  gws.push(gw);
  const s = await stream(emu);
  const tok = spawnSync(WPSGATE, ['--socket', gw.sock, '--timeout', '10', 'token', '--hub', 'iot', '--mqtt', '--json',
    '--user', 'dev1', '--role', 'webpubsub.joinLeaveGroup', '--role', 'webpubsub.sendToGroup'], { encoding: 'utf8', timeout: 15000 });
  assert.equal(tok.status, 0, tok.stderr);
  const url = JSON.parse(tok.stdout).url;
  const dev = mqtt.connect(url, { protocolVersion: 5, clientId: 'sensor1', reconnectPeriod: 0, connectTimeout: 5000 });
  const got = [];
  dev.on('message', (topic, payload) => got.push([topic, payload.toString()]));
  try {
    await new Promise((resolve, reject) => { dev.once('connect', resolve); dev.once('error', reject); });
    await new Promise((resolve, reject) => dev.subscribe('telemetry', { qos: 1 }, (e) => (e ? reject(e) : resolve())));
    // a browser-side JSON client in the same group
    const viewer = await h.subscribe(await clientUrl(gw, 'iot', 'userId=viewer&group=telemetry'));
    clients.push(viewer);
    await new Promise((resolve, reject) => dev.publish('telemetry', '{"t":21.5}', { qos: 1 }, (e) => (e ? reject(e) : resolve())));
    await h.waitFor(() => viewer.group.length === 1, 5000, 'the viewer gets the publish');
    const r = await post(gw, `/api/hubs/iot/groups/telemetry/:send?${V}`, 'text/plain', 'to devices');
    assert.equal(r.status, 202, r.body);
    await h.waitFor(() => got.length >= 1, 5000, 'the device gets the app\'s message');

    const snap = await snapshot(emu, '?hub=iot');
    const c = snap.hubs[0].connections.find((x) => x.id === 'sensor1');
    assert.ok(c, JSON.stringify(snap.hubs));
    assert.equal(c.protocol, 'mqtt 5.0');
    assert.equal(c.subprotocol, 'mqtt');
    assert.equal(c.userId, 'dev1');
    assert.deepEqual(c.groups, ['telemetry']);
    assert.deepEqual(c.roles.sort(), ['webpubsub.joinLeaveGroup', 'webpubsub.sendToGroup']);
    const mine = s.events.filter((e) => e.connection === 'sensor1');
    assert.ok(mine.some((e) => e.kind === 'conn.open' && e.conn.protocol === 'mqtt 5.0'));
    assert.ok(mine.some((e) => e.kind === 'client' && e.type === 'subscribe' && e.group === 'telemetry'));
    const pub = mine.find((e) => e.kind === 'client' && e.type === 'publish');
    assert.deepEqual([pub.group, pub.preview, pub.userId], ['telemetry', '{"t":21.5}', 'dev1']);
    // the publish reached the group as a send from dev1; the app's send reached the device
    assert.ok(s.events.some((e) => e.kind === 'send' && e.fromUser === 'dev1' && e.preview === '{"t":21.5}' && e.recipients >= 1));
    assert.ok(s.events.some((e) => e.kind === 'send' && e.preview === 'to devices' && e.recipients === 2));
  } finally {
    dev.end(true);
  }
  await h.waitFor(() => s.events.some((e) => e.kind === 'conn.close' && e.connection === 'sensor1'), 5000, 'the device goes');
  s.close();
});
