// listen.test.js: wpsgated's Unix socket: the configured mode, a stale socket file from a crash is
// replaced, a live gateway's socket is never stolen by a second one; SIGTERM exits 0.
'use strict';

const { test } = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');
const { startGateway, launch, makeKey, freePort, redact } = require('./lib/harness');
const { startUpstream } = require('./lib/fake-upstream');

async function withUpstream(t) {
  const key = makeKey();
  const up = await startUpstream({ key });
  t.after(() => up.close());
  return { key, up };
}

test('the unix socket is a socket with the configured mode 0660', async (t) => {
  const { key, up } = await withUpstream(t);
  const gw = await startGateway(t, { endpoint: up.endpoint, key });
  const st = fs.statSync(gw.sock);
  assert.ok(st.isSocket(), 'is a socket');
  assert.equal((st.mode & 0o777).toString(8), '660');
  const res = await gw.request({ via: 'unix', method: 'GET', path: '/healthz' });
  assert.equal(res.status, 200);
  await gw.stop();
});

test('a stale socket file left by a crash (SIGKILL) is replaced at the next start', async (t) => {
  const { key, up } = await withUpstream(t);
  const gw1 = await startGateway(t, { endpoint: up.endpoint, key });
  gw1.proc.kill('SIGKILL');
  const st = await gw1.waitExit(5000);
  assert.deepEqual(st, { code: null, signal: 'SIGKILL' });
  assert.ok(fs.statSync(gw1.sock).isSocket(), 'the crashed gateway left its socket file behind');
  const gw2 = await launch(t, { dir: gw1.dir, key, keyFile: gw1.keyFile, cfgFile: gw1.cfgFile, sock: gw1.sock, tcpPort: gw1.tcpPort });
  const res = await gw2.request({ via: 'unix', method: 'POST', path: '/api/hubs/chat/:send', headers: { 'content-type': 'text/plain' }, body: 'after crash' });
  assert.equal(res.status, 202, redact(res.body.toString(), key));
  assert.equal(up.requests.at(-1).body.toString(), 'after crash');
  await gw2.stop();
});

test('a live gateway\'s socket is not stolen by a second one', async (t) => {
  const { key, up } = await withUpstream(t);
  const gw1 = await startGateway(t, { endpoint: up.endpoint, key });
  const ino = fs.statSync(gw1.sock).ino;
  const port2 = await freePort();
  const cfg2 = path.join(gw1.dir, 'second.conf');
  fs.writeFileSync(cfg2, fs.readFileSync(gw1.cfgFile, 'utf8').replace(`127.0.0.1:${gw1.tcpPort}`, `127.0.0.1:${port2}`));
  const gw2 = await launch(t, { dir: gw1.dir, key, keyFile: gw1.keyFile, cfgFile: cfg2, sock: gw1.sock, tcpPort: port2, waitReady: false });
  const st = await gw2.waitExit(10000);
  assert.ok(st !== null, 'the second gateway kept running on a socket path that is in use');
  assert.notEqual(st.code, 0, 'the second gateway exit status');
  assert.match(gw2.stderr(), new RegExp(gw1.sock.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')), 'the error names the socket path');
  assert.equal(fs.statSync(gw1.sock).ino, ino, 'the socket file was replaced');
  const res = await gw1.request({ via: 'unix', method: 'GET', path: '/healthz' });
  assert.equal(res.status, 200, 'the first gateway still serves its socket');
  assert.equal(gw1.exited(), null);
  await gw1.stop();
});

test('SIGTERM with requests in flight: each is answered, then exit 0', async (t) => {
  const { key, up } = await withUpstream(t);
  const gw = await startGateway(t, { endpoint: up.endpoint, key });
  up.respond(() => ({ delayMs: 700 }));
  const reqs = [0, 1, 2].map((i) => gw.request({ via: i % 2 ? 'unix' : 'tcp', method: 'DELETE', path: `/api/hubs/chat/users/u${i}/groups` })
    .then((r) => r.status, (e) => `error: ${e.message}`));
  assert.ok(await up.waitForRequests(3, 5000), 'the requests reached the upstream');
  const stopped = gw.stop(); // SIGTERM now, while the upstream holds all three
  assert.deepEqual(await Promise.all(reqs), [204, 204, 204], 'in-flight requests are finished, not dropped');
  await stopped; // asserts exit 0
});
