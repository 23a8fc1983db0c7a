// upqueue.test.js: requests beyond upstream.max_connections wait in the gateway (FIFO) instead of
// inside libcurl: never more transfers at once than the pool, every one answered in arrival order,
// and a queued request still gets its deadline (504) without ever being sent.
'use strict';

const { test } = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');
const { makeKey, makeTmpDir, freePort, configText, writeSecretFile, launch, sleep } = require('./lib/harness');
const { startUpstream } = require('./lib/fake-upstream');

const H = '/api/hubs/q';
const RETRY_OFF = 'retry = { max_attempts = 1; breaker = { enabled = false; }; };';

// A gateway with upstream.max_connections = pool in front of up.
async function startPooled(t, up, key, pool, timeoutMs) {
  const dir = makeTmpDir();
  const keyFile = path.join(dir, 'access-key');
  writeSecretFile(keyFile, key + '\n');
  const sock = path.join(dir, 'gw.sock');
  const tcpPort = await freePort();
  const cfgFile = path.join(dir, 'wpsgate.conf');
  const text = configText({ sock, tcpPort, endpoint: up.endpoint, keyFile, timeoutMs, extra: RETRY_OFF, level: 'info' })
    .replace(`timeout_ms = ${timeoutMs};`, `timeout_ms = ${timeoutMs}; max_connections = ${pool};`);
  assert.match(text, new RegExp(`max_connections = ${pool};`));
  fs.writeFileSync(cfgFile, text);
  return launch(t, { dir, key, keyFile, cfgFile, sock, tcpPort });
}

function send(gw, group) {
  return gw.request({ via: 'unix', method: 'POST', path: `${H}/groups/${group}/:send`,
                      headers: { 'content-type': 'text/plain' }, body: group });
}

test('no more transfers than max_connections; the others wait and go in arrival order', async (t) => {
  const key = makeKey();
  const up = await startUpstream({ key });
  t.after(() => up.close());
  const DELAY = 400;
  const arrivals = [];
  let active = 0;
  let maxActive = 0;
  up.respond((rec) => {
    arrivals.push({ group: rec.body.toString(), at: Date.now() });
    active++;
    maxActive = Math.max(maxActive, active);
    setTimeout(() => { active--; }, DELAY);
    return { delayMs: DELAY };
  });
  const gw = await startPooled(t, up, key, 2, 20000);
  const pending = [];
  for (let i = 0; i < 6; i++) {
    pending.push(send(gw, `g${i}`));
    await sleep(30);   // a known arrival order
  }
  const res = await Promise.all(pending);
  for (let i = 0; i < 6; i++) assert.equal(res[i].status, 202, `g${i}: ${res[i].body}`);
  assert.deepEqual(arrivals.map((a) => a.group), ['g0', 'g1', 'g2', 'g3', 'g4', 'g5']);
  assert.ok(maxActive <= 2, `the upstream saw ${maxActive} requests at once`);
  for (let i = 2; i < 6; i++) {
    // g(i) could only start when g(i-2) was answered
    assert.ok(arrivals[i].at - arrivals[i - 2].at >= DELAY - 50,
      `g${i} arrived ${arrivals[i].at - arrivals[i - 2].at} ms after g${i - 2}`);
  }
  for (const r of up.requests) assert.equal(r.jwt.ok, true, r.jwt.error);
  await gw.stop();
  await gw.kill();
});

test('a queued request is answered 504 at its deadline and never sent', async (t) => {
  const key = makeKey();
  const up = await startUpstream({ key });
  t.after(() => up.close());
  up.respond(() => ({ hang: true }));
  // the first request holds the only connection with a long deadline; after a reload to a short
  // timeout, the second waits behind it and its deadline passes while it is queued
  const LONG = 4000;
  const SHORT = 600;
  const gw = await startPooled(t, up, key, 1, LONG);
  const first = send(gw, 'first');
  assert.ok(await up.waitForRequests(1, 3000), 'the first request reached the upstream');
  fs.writeFileSync(gw.cfgFile, fs.readFileSync(gw.cfgFile, 'utf8').replace(`timeout_ms = ${LONG};`, `timeout_ms = ${SHORT};`));
  gw.proc.kill('SIGHUP');
  for (let i = 0; i < 100 && !/msg="reloaded"/.test(gw.stderr()); i++) await sleep(50);
  assert.match(gw.stderr(), /msg="reloaded"/);
  const t0 = Date.now();
  const second = await send(gw, 'second');
  const took = Date.now() - t0;
  assert.equal(second.status, 504, second.body.toString());
  assert.equal(JSON.parse(second.body.toString()).code, 'GatewayTimeout');
  assert.ok(took >= SHORT - 100 && took < SHORT + 2000, `answered after ${took} ms`);
  assert.deepEqual(up.requests.map((r) => r.body.toString()), ['first']);
  assert.equal((await first).status, 504);
  // the slot is free again: the next request goes through
  up.respond(() => undefined);
  const third = await send(gw, 'third');
  assert.equal(third.status, 202, third.body.toString());
  assert.deepEqual(up.requests.map((r) => r.body.toString()), ['first', 'third']);
  await gw.stop();
  await gw.kill();
});
