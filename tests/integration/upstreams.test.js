// upstreams.test.js: one wpsgated in front of two real wpsgate-emulators with different keys (issue 17).
// Requests reach the resource their hub routes to, each signed with that resource's key (an emulator
// refuses any other); :generateToken returns the right resource's client URL, signed with its key; a hub
// no upstream serves is answered 404 with a JSON body; `-t` refuses an ambiguous routing naming both
// entries; one emulator killed (SIGKILL) while the other keeps serving at its latency; the SDK
// @azure/web-pubsub, pointed at the gateway, end to end against each.
'use strict';

const { test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');
const { makeTmpDir, writeSecretFile, freePort, launch, runGatewaySync, redact } = require('./lib/harness');
const e2e = require('../e2e/lib/harness.js');
const { requireModule } = require('../lib/paths.js');

const V = 'api-version=2024-12-01';
const PLACEHOLDER = 'placeholder-key-the-app-holds-not-the-real-one';
let prod;    // emulator A: hubs chat, app_*
let staging; // emulator B: hubs stage_*
let gw;
let dir;
const clients = [];

function upstreamsText(a, b, extra = '') {
  return [
    `upstreams = (`,
    `  { name = "prod"; endpoint = "${a.endpoint}"; access_key_file = "${path.join(dir, 'prod-key')}";`,
    `    hubs = [ "chat", "app_*" ]; timeout_ms = 5000; attempt_timeout_ms = 1000; },`,
    `  { name = "staging"; endpoint = "${b.endpoint}"; access_key_file = "${path.join(dir, 'staging-key')}";`,
    `    hubs = [ "stage_*" ]; timeout_ms = 3000; attempt_timeout_ms = 1000; ${extra} }`,
    `);`,
  ].join('\n');
}

function configText(sock, tcpPort, ups) {
  return [
    'listen = {',
    `  unix = { path = "${sock}"; mode = "0660"; };`,
    `  tcp = [ "127.0.0.1:${tcpPort}" ];`,
    '};',
    ups,
    // retries and the breaker per upstream: the breaker of staging must not trip prod's
    'retry = { max_attempts = 2; base_delay_ms = 50; max_delay_ms = 200; };',
    'log = { level = "info"; format = "logfmt"; };',
    '',
  ].join('\n');
}

before(async () => {
  prod = await e2e.startEmulator([], 'prod-key-' + Math.random().toString(36).slice(2));
  staging = await e2e.startEmulator([], 'staging-key-' + Math.random().toString(36).slice(2));
  assert.notEqual(prod.key, staging.key);
  dir = makeTmpDir('wpsgate-ups-');
  writeSecretFile(path.join(dir, 'prod-key'), prod.key + '\n');
  writeSecretFile(path.join(dir, 'staging-key'), staging.key + '\n');
  const sock = path.join(dir, 'gw.sock');
  const tcpPort = await freePort();
  const cfgFile = path.join(dir, 'wpsgate.conf');
  fs.writeFileSync(cfgFile, configText(sock, tcpPort, upstreamsText(prod, staging)));
  gw = await launch(null, { dir, key: prod.key, keyFile: path.join(dir, 'prod-key'), cfgFile, sock, tcpPort });
});

after(async () => {
  for (const c of clients) c.client.stop();
  if (gw) {
    await gw.stop();
    const log = gw.stderr();
    assert.ok(!log.includes(prod.key) && !log.includes(staging.key), 'a key in the log');
    await gw.kill();
  }
  if (prod && prod.proc.exitCode === null && prod.proc.signalCode === null) await prod.stop();
  if (staging && staging.proc.exitCode === null && staging.proc.signalCode === null) await staging.stop();
  e2e.killAll();
});

async function token(hub, user) {
  const r = await gw.request({ method: 'POST', path: `/api/hubs/${hub}/:generateToken?${V}&userId=${user}` });
  assert.equal(r.status, 200, r.body.toString());
  return JSON.parse(r.body).url;
}

function wsBase(emu) {
  return emu.endpoint.replace(/^http/, 'ws');
}

test('each hub reaches its resource, signed with its key; :generateToken names that resource', async () => {
  const cases = [[prod, 'chat'], [prod, 'app_one'], [staging, 'stage_1']];
  for (const [emu, hub] of cases) {
    const url = await token(hub, `u-${hub}`);
    assert.ok(url.startsWith(`${wsBase(emu)}/client/hubs/${hub}?`), `${hub}: the client URL names its resource`);
    const rec = await e2e.subscribe(url); // the emulator verifies the token with its own key
    clients.push(rec);
    const r = await gw.request({ method: 'POST', path: `/api/hubs/${hub}/users/u-${hub}/:send?${V}`,
      headers: { 'content-type': 'text/plain' }, body: `to ${hub}` });
    assert.equal(r.status, 202, r.body.toString()); // a wrong key would be 401 from the emulator
    await e2e.waitFor(() => rec.all.some((m) => m.data === `to ${hub}`), 5000, `the message on ${hub}`);
  }
  // the other resource's token is not valid on this one: the routing really chose the key
  const stageUrl = await token('stage_1', 'x');
  const cross = stageUrl.replace(wsBase(staging), wsBase(prod));
  await assert.rejects(e2e.subscribe(cross), 'a staging token is refused by prod');
  const log = gw.stderr();
  assert.match(log, /msg="?request"? .*hub=stage_1 .*upstream=staging\b/);
  assert.match(log, /msg="?request"? .*hub=chat .*upstream=prod\b/);
  // what is not per upstream yet is said at start-up
  assert.match(log, /2 upstreams: the metrics carry no upstream label yet/);
});

test('a hub that no upstream serves: 404 UpstreamNotFound with a JSON body, nothing sent', async () => {
  const r = await gw.request({ method: 'POST', path: `/api/hubs/other/:send?${V}`,
    headers: { 'content-type': 'text/plain' }, body: 'x' });
  assert.equal(r.status, 404);
  assert.match(r.headers['content-type'], /application\/json/);
  const j = JSON.parse(r.body);
  assert.equal(j.code, 'UpstreamNotFound');
  assert.match(j.message, /no upstream serves the hub other/);
  const t = await gw.request({ method: 'POST', path: `/api/hubs/other/:generateToken?${V}` });
  assert.equal(t.status, 404, t.body.toString());
  assert.equal(JSON.parse(t.body).code, 'UpstreamNotFound');
});

test('-t refuses routing that depends on the order, naming both entries', () => {
  const f = path.join(dir, 'ambiguous.conf');
  fs.writeFileSync(f, configText(path.join(dir, 'x.sock'), 1, upstreamsText(prod, staging).replace(
    'hubs = [ "stage_*" ]', 'hubs = [ "stage_*", "app_*" ]')));
  const r = runGatewaySync(['-c', f, '-t']);
  assert.notEqual(r.status, 0);
  assert.match(r.stderr, /upstreams\[2\]\.hubs\[2\]: a hub may match both this \("staging"\) and upstreams\[1\]\.hubs\[2\] \("prod"\)/);
  fs.writeFileSync(f, configText(path.join(dir, 'x.sock'), 1, upstreamsText(prod, staging)));
  const ok = runGatewaySync(['-c', f, '-t']);
  assert.equal(ok.status, 0, redact(ok.stderr));
});

test('the SDK, pointed at the gateway, reaches each resource', async () => {
  const { WebPubSubServiceClient } = requireModule('@azure/web-pubsub');
  for (const [emu, hub] of [[prod, 'app_sdk'], [staging, 'stage_sdk']]) {
    const rec = await e2e.subscribe(await token(hub, 'sdk-user'));
    clients.push(rec);
    assert.ok(rec.client, `${emu.endpoint}`);
    const sdk = new WebPubSubServiceClient(`Endpoint=http://127.0.0.1:${gw.tcpPort};AccessKey=${PLACEHOLDER};Version=1.0;`,
      hub, { allowInsecureConnection: true, retryOptions: { maxRetries: 0 } });
    await sdk.sendToAll(`sdk to ${hub}`, { contentType: 'text/plain' });
    await sdk.sendToUser('sdk-user', { n: hub });
    assert.equal(await sdk.userExists('sdk-user'), true);
    await e2e.waitFor(() => rec.all.some((m) => m.data === `sdk to ${hub}`) &&
      rec.all.some((m) => m.data && m.data.n === hub),
      5000, `the SDK's messages on ${hub}`);
  }
});

// Sequential sends to prod: the latencies in ms.
async function prodLatencies(n) {
  const out = [];
  for (let i = 0; i < n; i++) {
    const t0 = process.hrtime.bigint();
    const r = await gw.request({ method: 'POST', path: `/api/hubs/chat/:send?${V}`,
      headers: { 'content-type': 'text/plain' }, body: `p${i}` });
    out.push(Number(process.hrtime.bigint() - t0) / 1e6);
    assert.equal(r.status, 202, r.body.toString());
  }
  return out.sort((a, b) => a - b);
}

test('staging killed (SIGKILL): prod keeps serving at its latency while staging requests fail', async (t) => {
  const before = await prodLatencies(40);
  staging.proc.kill('SIGKILL');
  await e2e.waitFor(() => staging.proc.signalCode !== null, 5000, 'the staging emulator gone');
  // a steady stream of staging requests failing (refused, retried, then the breaker) meanwhile
  let stop = false;
  const failures = [];
  const load = (async () => {
    for (let i = 0; i < 400 && !stop; i++) {
      const rs = await Promise.all([0, 1, 2, 3].map(() => gw.request({ method: 'POST',
        path: `/api/hubs/stage_1/:send?${V}`, headers: { 'content-type': 'text/plain' }, body: 's' })));
      for (const r of rs) failures.push(r.status);
    }
  })();
  await e2e.sleep(200);
  const during = await prodLatencies(40);
  stop = true;
  await load;
  assert.ok(failures.length > 0 && failures.every((s) => s === 502 || s === 503 || s === 504),
    `staging answers while it is down: ${[...new Set(failures)]}`);
  const med = (a) => a[Math.floor(a.length / 2)];
  t.diagnostic(`prod median ${med(before).toFixed(2)} ms before, ${med(during).toFixed(2)} ms with staging down; ${failures.length} staging requests failed`);
  // bounded comparison, not an absolute speed: the median within 3x (+20 ms for a busy 2-core machine)
  assert.ok(med(during) <= 3 * med(before) + 20,
    `prod median ${med(during).toFixed(2)} ms with staging down vs ${med(before).toFixed(2)} ms before`);
  const r = await gw.request({ method: 'POST', path: `/api/hubs/chat/:send?${V}`,
    headers: { 'content-type': 'text/plain' }, body: 'still' });
  assert.equal(r.status, 202);
});
