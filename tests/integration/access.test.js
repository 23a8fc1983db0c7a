// access.test.js: who may use the gateway: peers of the Unix socket by uid/gid (a child process run as
// nobody), access rules per hub and class, the TCP guard (Host, Origin, Sec-Fetch-Site), per-peer rate and
// in-flight limits, the audit line, and the process hardening (user switch, no core dumps).
'use strict';

const { test } = require('node:test');
const assert = require('node:assert/strict');
const crypto = require('node:crypto');
const fs = require('node:fs');
const kit = require('./lib/gwkit');
const { startGateway, launch, makeKey, freePort } = require('./lib/harness');

const NOBODY = 65534;
const NOGROUP = 65534;
const SEND = '/api/hubs/chat/:send';
const isRoot = process.getuid && process.getuid() === 0;

// A gateway whose socket other users can reach (mode 0666, directory 0755), with extra config.
async function setup(t, extra = '', { open = true } = {}) {
  const key = makeKey();
  const up = kit.flexUpstream({ port: await freePort(), key });
  await up.start();
  t.after(() => up.stop());
  let gw = await startGateway(t, { endpoint: up.endpoint, key, extra });
  if (open) {
    await gw.stop();
    fs.writeFileSync(gw.cfgFile, fs.readFileSync(gw.cfgFile, 'utf8').replace('mode = "0660"', 'mode = "0666"'));
    fs.chmodSync(gw.dir, 0o755);
    gw = await launch(t, gw);
  }
  return { key, up, gw };
}

const text = (body) => ({ 'content-type': 'text/plain', 'content-length': String(Buffer.byteLength(body)) });

test('default: a peer outside the socket group gets 403 JSON and a log line naming it', { skip: !isRoot && 'needs root' }, async (t) => {
  const { up, gw } = await setup(t);
  const res = await kit.requestAs(NOBODY, NOGROUP, gw.sock, { method: 'POST', path: SEND, headers: text('hi'), body: 'hi' });
  assert.equal(res.status, 403, JSON.stringify(res));
  assert.equal(res.headers['content-type'], 'application/json');
  assert.equal(JSON.parse(res.body).code, 'AccessDenied');
  assert.equal(up.requests.length, 0, 'nothing reached the upstream');
  const line = kit.logfmtLines(gw.stderr(), 'access denied').find((l) => l.uid === String(NOBODY));
  assert.ok(line, gw.stderr());
  assert.equal(line.pid, String(res.pid));
  assert.equal(line.gid, String(NOGROUP));
  assert.equal(line.peer, 'unix');
  assert.equal(line.op, 'send_to_all');
  assert.equal(line.hub, 'chat');
  assert.equal(line.exe, fs.realpathSync(process.execPath));
  // probes are open; metrics and everything else are not
  assert.equal((await kit.requestAs(NOBODY, NOGROUP, gw.sock, { method: 'GET', path: '/healthz' })).status, 200);
  assert.equal((await kit.requestAs(NOBODY, NOGROUP, gw.sock, { method: 'GET', path: '/metrics' })).status, 403);
  // root may
  assert.equal((await gw.request({ via: 'unix', method: 'POST', path: SEND, headers: text('ok'), body: 'ok' })).status, 202);
  const m = kit.parseMetrics((await gw.request({ via: 'unix', method: 'GET', path: '/metrics' })).body.toString());
  assert.equal(kit.metric(m, 'wpsgate_refused_total', { reason: 'access' }), 2);
  await gw.stop();
});

test('rules allow users and groups given hubs and classes of operation', { skip: !isRoot && 'needs root' }, async (t) => {
  const { up, gw } = await setup(t, `access = { rules = (
  { users = [ "nobody" ]; hubs = [ "chat" ]; ops = [ "send" ]; },
  { groups = [ ${NOGROUP} ]; hubs = [ "lobby" ]; ops = [ "group", "read" ]; }
); };`);
  const as = (method, path, body) => kit.requestAs(NOBODY, NOGROUP, gw.sock, body === undefined ? { method, path } : { method, path, headers: text(body), body });
  const cases = [
    ['POST', '/api/hubs/chat/:send', 'a', 202],
    ['POST', '/api/hubs/chat/groups/g/:send', 'b', 202],
    ['POST', '/api/hubs/other/:send', 'c', 403],
    ['PUT', '/api/hubs/chat/users/u/groups/g', undefined, 403],
    ['PUT', '/api/hubs/lobby/users/u/groups/g', undefined, 200],
    ['HEAD', '/api/hubs/lobby/groups/g', undefined, 200],
    ['POST', '/api/hubs/lobby/:send', 'd', 403],
    ['DELETE', '/api/hubs/chat/connections/c1', undefined, 403],
    ['POST', '/api/hubs/chat/:generateToken', undefined, 403],
  ];
  for (const [method, path, body, want] of cases) {
    const res = await as(method, path, body);
    assert.equal(res.status, want, `${method} ${path}: ${res.body}`);
  }
  assert.equal(up.requests.length, 4, 'only the allowed ones went upstream');
  // a $batch is checked per sub-request
  const batch = { requests: [
    { id: '1', method: 'POST', url: '/api/hubs/chat/:send', headers: { 'Content-Type': 'text/plain' }, body: 'ok' },
    { id: '2', method: 'POST', url: '/api/hubs/other/:send', headers: { 'Content-Type': 'text/plain' }, body: 'no' },
  ] };
  const b = await kit.requestAs(NOBODY, NOGROUP, gw.sock, { method: 'POST', path: '/$batch', headers: { 'content-type': 'application/json' }, body: JSON.stringify(batch) });
  assert.equal(b.status, 200);
  assert.deepEqual(JSON.parse(b.body).responses.map((r) => r.status), [202, 403]);
  // root is always allowed; with rules the socket group alone is not enough
  assert.equal((await gw.request({ via: 'unix', method: 'POST', path: '/api/hubs/other/:send', headers: text('r'), body: 'r' })).status, 202);
  await gw.stop();
});

test('TCP guard: Host, Origin and Sec-Fetch-Site', async (t) => {
  const { up, gw } = await setup(t, 'guard = { allowed_origins = [ "http://localhost:3000" ]; };', { open: false });
  const p = gw.tcpPort;
  const tcp = (headers) => gw.request({ via: 'tcp', method: 'POST', path: SEND, headers: Object.assign(text('x'), headers), body: 'x' });
  const cases = [
    [{ host: `127.0.0.1:${p}` }, 202, null],
    [{ host: `localhost:${p}` }, 202, null],
    [{ host: `[::1]:${p}` }, 202, null],
    [{ host: `evil.example:${p}` }, 421, 'MisdirectedRequest'],
    [{ host: `127.0.0.1:${p + 1}` }, 421, 'MisdirectedRequest'],
    [{ host: 'bad host' }, 400, 'InvalidHost'],
    [{ origin: 'http://evil.example' }, 403, 'CrossOriginForbidden'],
    [{ origin: 'null' }, 403, 'CrossOriginForbidden'],
    [{ 'sec-fetch-site': 'cross-site' }, 403, 'CrossSiteForbidden'],
    [{ origin: 'http://localhost:3000' }, 202, null],
    [{ origin: 'http://localhost:3000', 'sec-fetch-site': 'cross-site' }, 202, null],
    [{ 'sec-fetch-site': 'same-origin' }, 202, null],
  ];
  for (const [h, status, code] of cases) {
    const res = await tcp(h);
    assert.equal(res.status, status, `${JSON.stringify(h)}: ${res.body}`);
    if (code) assert.equal(JSON.parse(res.body).code, code);
  }
  assert.equal(up.requests.length, 6);
  // the Unix socket has no guard (no browser can reach it)
  assert.equal((await gw.request({ via: 'unix', method: 'POST', path: SEND, headers: Object.assign(text('u'), { origin: 'http://evil.example' }), body: 'u' })).status, 202);
  const m = kit.parseMetrics((await gw.request({ via: 'unix', method: 'GET', path: '/metrics' })).body.toString());
  assert.equal(kit.metric(m, 'wpsgate_refused_total', { reason: 'guard' }), 6);
  await gw.stop();
  // access.tcp = "deny"
  fs.writeFileSync(gw.cfgFile, fs.readFileSync(gw.cfgFile, 'utf8') + '\naccess = { tcp = "deny"; };\n');
  const gw2 = await launch(t, gw);
  const res = await gw2.request({ via: 'tcp', method: 'POST', path: SEND, headers: text('x'), body: 'x' });
  assert.equal(res.status, 403);
  assert.equal(JSON.parse(res.body).code, 'AccessDenied');
  await gw2.stop();
});

test('per-peer rate limit: 429 with Retry-After; in-flight limit: 429', async (t) => {
  // one token every 10 s: the bucket does not refill during the test, even under valgrind
  const { up, gw } = await setup(t, 'ratelimit = { rate = 0.1; burst = 5; max_inflight_per_peer = 2; };', { open: false });
  const statuses = [];
  for (let i = 0; i < 6; i++) statuses.push(await gw.request({ via: 'unix', method: 'POST', path: SEND, headers: text(`r${i}`), body: `r${i}` }));
  assert.deepEqual(statuses.map((r) => r.status), [202, 202, 202, 202, 202, 429]);
  assert.equal(statuses[5].headers['retry-after'], '10');
  assert.equal(JSON.parse(statuses[5].body).code, 'TooManyRequests');
  // probes are never limited
  assert.equal((await gw.request({ via: 'unix', method: 'GET', path: '/healthz' })).status, 200);
  // TCP peers have their own bucket (5 tokens): 3 at once, 2 in flight allowed
  up.behave(() => ({ status: 202, delay: 500 }));
  const three = await Promise.all([0, 1, 2].map((i) => gw.request({ via: 'tcp', method: 'POST', path: SEND, headers: text(`f${i}`), body: `f${i}` })));
  assert.deepEqual(three.map((r) => r.status).sort(), [202, 202, 429]);
  assert.equal(three.find((r) => r.status === 429).headers['retry-after'], '1');
  assert.match(JSON.parse(three.find((r) => r.status === 429).body).message, /in flight/);
  const m = kit.parseMetrics((await gw.request({ via: 'tcp', method: 'GET', path: '/metrics' })).body.toString());
  assert.equal(kit.metric(m, 'wpsgate_refused_total', { reason: 'rate' }), 1);
  assert.equal(kit.metric(m, 'wpsgate_refused_total', { reason: 'inflight' }), 1);
  await gw.stop();
});

test('audit line for requests that change something: peer, op, target, body size and hash, never the body', async (t) => {
  const { gw } = await setup(t, '', { open: false });
  const body = 'the-secret-body-xyz';
  await gw.request({ via: 'unix', method: 'POST', path: '/api/hubs/chat/groups/grp1/:send', headers: Object.assign(text(body), { 'x-ms-client-request-id': 'aud-1' }), body });
  await gw.request({ via: 'unix', method: 'HEAD', path: '/api/hubs/chat/groups/grp1', headers: { 'x-ms-client-request-id': 'aud-2' } });
  await gw.request({ via: 'tcp', method: 'DELETE', path: '/api/hubs/chat/users/u%2F1/groups/grp2', headers: { 'x-ms-client-request-id': 'aud-3' } });
  await gw.stop();
  const lines = kit.logfmtLines(gw.stderr(), 'audit');
  assert.equal(lines.length, 2, 'read-only requests have no audit line');
  const a = lines.find((l) => l.request_id === 'aud-1');
  assert.deepEqual(a, {
    ts: a.ts, level: 'info', msg: 'audit', request_id: 'aud-1', status: '202', peer: 'unix', uid: String(process.getuid()),
    pid: String(process.pid), exe: fs.realpathSync(process.execPath), op: 'send_to_group', hub: 'chat', target: 'grp1',
    body_bytes: String(body.length), body_sha256: crypto.createHash('sha256').update(body).digest('hex'),
  });
  const d = lines.find((l) => l.request_id === 'aud-3');
  assert.equal(d.peer, 'tcp');
  assert.equal(d.uid, '-');
  assert.equal(d.op, 'remove_user_from_group');
  assert.equal(d.target, 'grp2');
  assert.equal(d.body_bytes, '0');
  assert.ok(!gw.stderr().includes(body), 'the body never appears in the log');
});

test('hardening: root warning, no core dumps, `user` switch after opening the sockets and reading the key', { skip: !isRoot && 'needs root' }, async (t) => {
  const { gw } = await setup(t, '', { open: false });
  await kit.waitFor(() => /msg="started"/.test(gw.stderr()));
  assert.match(gw.stderr(), /running as root/);
  const limits = fs.readFileSync(`/proc/${gw.proc.pid}/limits`, 'utf8');
  assert.match(limits, /Max core file size\s+0\s+0/);
  await gw.stop();
  fs.writeFileSync(gw.cfgFile, fs.readFileSync(gw.cfgFile, 'utf8') + '\nuser = "nobody";\n');
  const gw2 = await launch(t, gw);
  await kit.waitFor(() => /msg="started"/.test(gw2.stderr()));
  const status = fs.readFileSync(`/proc/${gw2.proc.pid}/status`, 'utf8');
  assert.match(status, new RegExp(`^Uid:\\t${NOBODY}\\t${NOBODY}\\t${NOBODY}\\t${NOBODY}$`, 'm'));
  assert.match(status, new RegExp(`^Gid:\\t${NOGROUP}\\t${NOGROUP}\\t${NOGROUP}\\t${NOGROUP}$`, 'm'));
  assert.match(fs.readFileSync(`/proc/${gw2.proc.pid}/limits`, 'utf8'), /Max core file size\s+0\s+0/);
  assert.match(gw2.stderr(), /msg="switched user" user=nobody/);
  assert.doesNotMatch(gw2.stderr(), /running as root/);
  // it still serves (the key was read before the switch)
  assert.equal((await gw2.request({ via: 'unix', method: 'POST', path: SEND, headers: text('n'), body: 'n' })).status, 202);
  await gw2.stop();
  // an unknown user is a configuration error that -t names
  fs.writeFileSync(gw.cfgFile, fs.readFileSync(gw.cfgFile, 'utf8').replace('user = "nobody";', 'user = "no-such-user-here";'));
  const { runGatewaySync } = require('./lib/harness');
  const r = runGatewaySync(['-c', gw.cfgFile, '-t']);
  assert.equal(r.status, 1);
  assert.match(r.stderr, /user: no such user/);
});
