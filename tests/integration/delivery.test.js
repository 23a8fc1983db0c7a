// delivery.test.js: retries, budget and breaker, the durable outbox across kill -9, $batch, key rotation
// by SIGHUP under load and the SIGTERM drain, with the real wpsgated against a fake upstream on loopback.
'use strict';

const { test } = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');
const kit = require('./lib/gwkit');
const { startGateway, launch, makeKey, freePort, writeSecretFile } = require('./lib/harness');

const SEND = '/api/hubs/chat/:send';
const VG = kit.VALGRIND ? 4 : 1;   // time factor under valgrind

async function setup(t, { retry = '', outbox = false, outboxKeys = '', extra = '', timeoutMs, upDown = false } = {}) {
  const key = makeKey();
  const up = kit.flexUpstream({ port: await freePort(), key });
  if (!upDown) await up.start();
  t.after(() => up.stop());
  const dir = outbox ? fs.mkdtempSync('/tmp/wpsgate-ob-') : null;
  if (dir) t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  const ob = dir ? `outbox = { path = "${dir}/outbox.db"; ${outboxKeys} };` : '';
  const gw = await startGateway(t, { endpoint: up.endpoint, key, retries: true, timeoutMs,
    extra: `retry = { ${retry} };\n${ob}\n${extra}` });
  return { key, up, gw, dir };
}

function send(gw, body, headers = {}, via = 'unix') {
  return gw.request({ via, method: 'POST', path: SEND, headers: Object.assign({ 'content-type': 'text/plain' }, headers), body });
}

function gaps(reqs) {
  const g = [];
  for (let i = 1; i < reqs.length; i++) g.push(reqs[i].t - reqs[i - 1].t);
  return g;
}

test('503 with Retry-After: 1 is retried after the hint; a fresh JWT per attempt', async (t) => {
  const { up, gw } = await setup(t, { retry: 'max_attempts = 3; breaker = { enabled = false; };' });
  let n = 0;
  up.behave(() => (++n <= 2 ? { status: 503, headers: { 'retry-after': '1' } } : undefined));
  const res = await send(gw, 'r1');
  assert.equal(res.status, 202);
  assert.equal(up.requests.length, 3);
  for (const g of gaps(up.requests)) assert.ok(g >= 950 && g < 1000 + 600 * VG, `gap ${g} ms`);
  assert.ok(up.requests.every((r) => r.jwt.ok), 'every attempt signed with the key');
  assert.equal(new Set(up.requests.map((r) => r.headers.authorization)).size, 3, 'three different JWTs');
  assert.equal(new Set(up.requests.map((r) => r.headers['x-ms-client-request-id'])).size, 1, 'one request id');
  await gw.stop();
});

test('429 with retry-after-ms and x-ms-retry-after-ms are honoured', async (t) => {
  const { up, gw } = await setup(t, { retry: 'max_attempts = 3; base_delay_ms = 5000; max_delay_ms = 5000; breaker = { enabled = false; };' });
  let n = 0;
  up.behave(() => {
    n++;
    if (n === 1) return { status: 429, headers: { 'retry-after-ms': '300' } };
    if (n === 2) return { status: 429, headers: { 'x-ms-retry-after-ms': '200' } };
    return undefined;
  });
  const res = await send(gw, 'r2');
  assert.equal(res.status, 202);
  assert.equal(up.requests.length, 3);
  const g = gaps(up.requests);
  assert.ok(g[0] >= 290 && g[0] < 300 + 400 * VG, `first gap ${g[0]}`);
  assert.ok(g[1] >= 190 && g[1] < 200 + 400 * VG, `second gap ${g[1]}`);
  await gw.stop();
});

test('backoff with full jitter is capped; the last answer goes back after max_attempts', async (t) => {
  const { up, gw } = await setup(t, { retry: 'max_attempts = 4; base_delay_ms = 50; max_delay_ms = 100; breaker = { enabled = false; };' });
  up.behave(() => ({ status: 500, headers: { 'content-type': 'application/json', 'x-ms-error-code': 'E.Internal' }, body: '{"code":"E"}' }));
  const t0 = performance.now();
  const res = await send(gw, 'r3');
  assert.equal(res.status, 500);
  assert.equal(res.headers['x-ms-error-code'], 'E.Internal');
  assert.equal(res.body.toString(), '{"code":"E"}');
  assert.equal(up.requests.length, 4);
  for (const g of gaps(up.requests)) assert.ok(g < 100 + 150 * VG, `gap ${g} ms over the cap`);
  assert.ok(performance.now() - t0 < 2000 * VG);
  await gw.stop();
});

test('4xx and other statuses are never retried', async (t) => {
  const { up, gw } = await setup(t, { retry: 'max_attempts = 5; base_delay_ms = 10; breaker = { enabled = false; };' });
  for (const status of [400, 401, 403, 404, 409, 501]) {
    up.requests.length = 0;
    up.behave(() => ({ status }));
    const res = await send(gw, `s${status}`);
    assert.equal(res.status, status);
    assert.equal(up.requests.length, 1, `status ${status}: one attempt`);
  }
  await gw.stop();
});

test('resets and hangs are retried; a hung attempt ends at attempt_timeout_ms', async (t) => {
  const { up, gw } = await setup(t, { retry: 'max_attempts = 3; base_delay_ms = 10; max_delay_ms = 20; breaker = { enabled = false; };',
    extra: '' });
  up.behave(() => ({ destroy: true }));
  let res = await send(gw, 'reset');
  assert.equal(res.status, 502);
  assert.match(JSON.parse(res.body).message, /upstream/);
  assert.equal(up.requests.length, 3);
  await gw.stop();

  // hangs: each attempt gives up after upstream.attempt_timeout_ms = 300 ms
  const s2 = await setup(t, { retry: 'max_attempts = 2; base_delay_ms = 10; max_delay_ms = 20; breaker = { enabled = false; };',
    timeoutMs: 5000 });
  // attempt_timeout_ms lives in upstream: rewrite the config and restart
  const cfg = fs.readFileSync(s2.gw.cfgFile, 'utf8').replace('timeout_ms = 5000;', 'timeout_ms = 5000; attempt_timeout_ms = 300;');
  await s2.gw.stop();
  fs.writeFileSync(s2.gw.cfgFile, cfg);
  const gw2 = await launch(t, s2.gw);
  s2.up.behave(() => ({ hang: true }));
  const t0 = performance.now();
  res = await send(gw2, 'hang');
  const took = performance.now() - t0;
  assert.equal(res.status, 504);
  assert.match(JSON.parse(res.body).message, /attempt_timeout_ms/);
  assert.equal(s2.up.requests.length, 2);
  assert.ok(took >= 600 && took < 600 + 1000 * VG, `took ${took} ms`);
  await gw2.stop();
});

test('connection refused: max_attempts attempts, 502 naming the cause', async (t) => {
  const { gw } = await setup(t, { upDown: true, retry: 'max_attempts = 3; base_delay_ms = 10; max_delay_ms = 20; breaker = { enabled = false; };' });
  const res = await send(gw, 'down');
  assert.equal(res.status, 502);
  assert.match(JSON.parse(res.body).message, /connect|refused/i);
  const m = kit.parseMetrics((await gw.request({ via: 'unix', method: 'GET', path: '/metrics' })).body.toString());
  assert.equal(kit.metric(m, 'wpsgate_upstream_attempts_total', { result: 'connect' }), 3);
  assert.equal(kit.metric(m, 'wpsgate_upstream_retries_total', { cause: 'connect' }), 2);
  await gw.stop();
});

test('the retry budget caps retries at budget_ratio of the requests', async (t) => {
  const { up, gw } = await setup(t, { retry: 'max_attempts = 3; base_delay_ms = 1; max_delay_ms = 1; budget_ratio = 0.25; budget_min_per_s = 0; breaker = { enabled = false; };' });
  up.behave(() => ({ status: 503 }));
  for (let i = 0; i < 8; i++) assert.equal((await send(gw, `b${i}`)).status, 503);
  // request 4 may retry once (1 <= 0.25 * 4), request 8 once more (2 <= 0.25 * 8): 8 + 2 attempts
  assert.equal(up.requests.length, 10);
  await gw.stop();
});

test('the breaker opens after N failures, answers 503 CircuitOpen at once, then lets a probe through', async (t) => {
  const { up, gw } = await setup(t, { retry: 'max_attempts = 1; breaker = { enabled = true; failures = 3; cooldown_ms = 1500; probes = 1; };' });
  up.behave(() => ({ status: 503 }));
  for (let i = 0; i < 3; i++) assert.equal((await send(gw, `f${i}`)).status, 503);
  assert.equal(up.requests.length, 3);
  const t0 = performance.now();
  const open = await send(gw, 'refused');
  assert.ok(performance.now() - t0 < 300 * VG, 'answered at once');
  assert.equal(open.status, 503);
  assert.equal(JSON.parse(open.body).code, 'CircuitOpen');
  assert.ok(['1', '2'].includes(open.headers['retry-after']), `Retry-After ${open.headers['retry-after']}`);
  assert.equal(up.requests.length, 3, 'nothing sent while open');
  const rz = await gw.request({ via: 'unix', method: 'GET', path: '/readyz' });
  assert.equal(rz.status, 503);
  assert.match(rz.body.toString(), /breaker/);
  up.behave(() => undefined);
  await kit.sleep(1600);
  assert.equal((await send(gw, 'probe')).status, 202);
  assert.equal((await send(gw, 'after')).status, 202);
  assert.equal(up.requests.length, 5);
  assert.equal((await gw.request({ via: 'unix', method: 'GET', path: '/readyz' })).status, 200);
  assert.match(gw.stderr(), /msg="circuit breaker" from=closed to=open/);
  assert.match(gw.stderr(), /msg="circuit breaker" from=half_open to=closed/);
  await gw.stop();
});

test('1000 async messages accepted while the upstream is down survive kill -9 and all arrive', async (t) => {
  const N = 1000;
  const { up, gw, dir } = await setup(t, { upDown: true, outbox: true,
    retry: 'max_attempts = 2; base_delay_ms = 50; max_delay_ms = 300; breaker = { enabled = true; failures = 5; cooldown_ms = 300; probes = 1; };' });
  const ids = new Set();
  let next = 0;
  async function worker() {
    while (next < N) {
      const i = next++;
      const res = await send(gw, `async-${i}`, { prefer: 'respond-async' });
      assert.equal(res.status, 202, `message ${i}: ${res.body}`);
      assert.equal(res.headers['preference-applied'], 'respond-async');
      const id = JSON.parse(res.body).id;
      assert.equal(res.headers.location, `/outbox/${id}`);
      ids.add(id);
    }
  }
  await Promise.all(Array.from({ length: 32 }, worker));
  assert.equal(ids.size, N);
  const one = await gw.request({ via: 'unix', method: 'GET', path: `/outbox/${[...ids][0]}` });
  assert.equal(one.status, 200);
  assert.ok(['queued', 'sending'].includes(JSON.parse(one.body).state));

  gw.proc.kill('SIGKILL');
  assert.deepEqual(await gw.waitExit(5000), { code: null, signal: 'SIGKILL' });
  await up.start();
  const gw2 = await launch(t, gw);
  const bodies = () => new Set(up.requests.filter((r) => r.path === SEND && r.jwt.ok).map((r) => r.body.toString()));
  await kit.waitFor(() => bodies().size >= N, 40000);
  assert.equal(bodies().size, N, 'every accepted message arrived');
  for (let i = 0; i < N; i++) assert.ok(bodies().has(`async-${i}`));
  const st = await gw2.request({ via: 'unix', method: 'GET', path: `/outbox/${[...ids][N - 1]}` });
  assert.equal(JSON.parse(st.body).state, 'delivered');
  await gw2.stop();
  assert.ok(fs.existsSync(path.join(dir, 'outbox.db')));
});

test('dead letters: a 400 from the service fails the row; GET /outbox?state=failed and POST retry', async (t) => {
  const { up, gw } = await setup(t, { outbox: true, retry: 'max_attempts = 1;' });
  up.behave(() => ({ status: 400, headers: { 'content-type': 'application/json' }, body: '{"code":"Bad"}' }));
  const res = await send(gw, 'dead', { prefer: 'respond-async' });
  assert.equal(res.status, 202);
  const id = JSON.parse(res.body).id;
  await kit.waitFor(async () => JSON.parse((await gw.request({ via: 'unix', method: 'GET', path: `/outbox/${id}` })).body).state === 'failed');
  const row = JSON.parse((await gw.request({ via: 'unix', method: 'GET', path: `/outbox/${id}` })).body);
  assert.equal(row.state, 'failed');
  assert.equal(row.status, 400);
  assert.equal(row.attempts, 1);
  const list = JSON.parse((await gw.request({ via: 'unix', method: 'GET', path: '/outbox?state=failed' })).body);
  assert.deepEqual(list.items.map((x) => x.id), [id]);
  assert.equal((await gw.request({ via: 'unix', method: 'GET', path: '/outbox?state=queued' })).status, 400);
  assert.equal((await gw.request({ via: 'unix', method: 'GET', path: '/outbox/0123456789abcdef' })).status, 404);
  assert.equal((await gw.request({ via: 'unix', method: 'POST', path: '/outbox/0123456789abcdef/retry' })).status, 404);
  up.behave(() => undefined);
  const rr = await gw.request({ via: 'unix', method: 'POST', path: `/outbox/${id}/retry` });
  assert.equal(rr.status, 202);
  await kit.waitFor(async () => JSON.parse((await gw.request({ via: 'unix', method: 'GET', path: `/outbox/${id}` })).body).state === 'delivered');
  assert.equal(JSON.parse((await gw.request({ via: 'unix', method: 'GET', path: `/outbox/${id}` })).body).state, 'delivered');
  assert.equal((await gw.request({ via: 'unix', method: 'POST', path: `/outbox/${id}/retry` })).status, 409);
  assert.equal(up.requests.filter((r) => r.body.toString() === 'dead').length, 2);
  await gw.stop();
});

test('per-target order is kept in asynchronous delivery', async (t) => {
  const { up, gw } = await setup(t, { outbox: true, retry: 'max_attempts = 3; base_delay_ms = 5; max_delay_ms = 10; breaker = { enabled = false; };' });
  // slow and flaky upstream: order must still hold per group
  let n = 0;
  up.behave(() => (++n % 7 === 0 ? { status: 503 } : { status: 202, delay: n % 3 === 0 ? 30 : 0 }));
  const sends = [];
  for (let i = 0; i < 40; i++) {
    for (const g of ['a', 'b']) {
      sends.push(gw.request({ via: 'unix', method: 'POST', path: `/api/hubs/chat/groups/${g}/:send`,
        headers: { 'content-type': 'text/plain', prefer: 'respond-async' }, body: `${g}-${i}` }));
      await sends[sends.length - 1]; // accepted in this order
    }
  }
  for (const r of await Promise.all(sends)) assert.equal(r.status, 202);
  const delivered = (g) => up.requests.filter((r) => r.path === `/api/hubs/chat/groups/${g}/:send` && r.jwt.ok);
  await kit.waitFor(() => new Set(delivered('a').map((r) => r.body.toString())).size === 40 &&
                          new Set(delivered('b').map((r) => r.body.toString())).size === 40, 20000);
  for (const g of ['a', 'b']) {
    // the successful deliveries, in the order the upstream got them
    const seq = [];
    for (const r of delivered(g)) { const b = r.body.toString(); if (seq[seq.length - 1] !== b) seq.push(b); }
    assert.deepEqual(seq, Array.from({ length: 40 }, (_, i) => `${g}-${i}`), `group ${g} in order`);
  }
  await gw.stop();
});

// The most requests of one path the upstream held at once (each held `hold` ms from its arrival).
function maxHeld(reqs, hold) {
  let most = 0;
  for (const a of reqs) most = Math.max(most, reqs.filter((b) => b.t >= a.t && b.t < a.t + hold).length);
  return most;
}

test('outbox.max_inflight_per_target: one target drains with that many rows in flight, never more', async (t) => {
  const hold = 300 * VG;
  for (const window of [1, 4]) {
    const { up, gw } = await setup(t, { outbox: true, outboxKeys: `max_inflight_per_target = ${window};` });
    up.behave(() => ({ status: 202, delay: hold }));
    const groupPath = (g) => `/api/hubs/chat/groups/${g}/:send`;
    const accepted = [];
    for (let i = 0; i < 12; i++) {
      const r = await gw.request({ via: 'unix', method: 'POST', path: groupPath('a'),
        headers: { 'content-type': 'text/plain', prefer: 'respond-async' }, body: `a-${i}` });
      assert.equal(r.status, 202);
      accepted.push(r);
    }
    const b = await gw.request({ via: 'unix', method: 'POST', path: groupPath('b'),
      headers: { 'content-type': 'text/plain', prefer: 'respond-async' }, body: 'b-0' });
    assert.equal(b.status, 202);
    const got = (g) => up.requests.filter((r) => r.path === groupPath(g) && r.jwt.ok);
    await kit.waitFor(() => new Set(got('a').map((r) => r.body.toString())).size === 12 && got('b').length === 1,
      20000 * VG);
    // a window of 1 holds the order; 4 has four in flight at once, never five; b is not held up
    // behind a's rows (it reaches the upstream before the last of them)
    assert.equal(maxHeld(got('a'), hold - 50), window, `window ${window}`);
    if (window === 1) assert.deepEqual(got('a').map((r) => r.body.toString()), accepted.map((_, i) => `a-${i}`));
    assert.ok(got('b')[0].t < got('a')[11].t, 'the other target goes in parallel');
    await gw.stop();
  }
});

test('$batch: results in place, dependsOn and 424, local checks per sub-request', async (t) => {
  const { up, gw } = await setup(t, { retry: 'max_attempts = 1;' });
  up.behave((r) => (r.path.includes('/groups/bad/') ? { status: 400, headers: { 'content-type': 'application/json', 'x-ms-error-code': 'E.Bad' }, body: '{"code":"Bad"}' } : undefined));
  const batch = { requests: [
    { id: 'ok', method: 'POST', url: '/api/hubs/chat/groups/good/:send', headers: { 'Content-Type': 'application/json' }, body: { hello: 1 } },
    { id: 'bad', method: 'POST', url: '/api/hubs/chat/groups/bad/:send', headers: { 'Content-Type': 'text/plain' }, body: 'x' },
    { id: 'route', method: 'POST', url: '/api/hubs/chat/nowhere' },
    { id: 'dep', method: 'POST', url: '/api/hubs/chat/:send', headers: { 'Content-Type': 'text/plain' }, body: 'y', dependsOn: ['bad'] },
    { id: 'dep2', method: 'HEAD', url: '/api/hubs/chat/groups/good', dependsOn: ['ok'] },
    { id: 'ttl', method: 'POST', url: '/api/hubs/chat/:send?messageTtlSeconds=301', headers: { 'Content-Type': 'text/plain' }, body: 'z' },
  ] };
  const res = await gw.request({ via: 'unix', method: 'POST', path: '/$batch', headers: { 'content-type': 'application/json' }, body: JSON.stringify(batch) });
  assert.equal(res.status, 200);
  const out = JSON.parse(res.body).responses;
  assert.deepEqual(out.map((r) => [r.id, r.status]), [['ok', 202], ['bad', 400], ['route', 404], ['dep', 424], ['dep2', 200], ['ttl', 400]]);
  assert.deepEqual(out[1].body, { code: 'Bad' });
  assert.equal(out[1].headers['x-ms-error-code'], 'E.Bad');
  assert.equal(up.requests.length, 3, 'ok, bad and dep2 reached the upstream');
  assert.deepEqual(JSON.parse(up.requests.find((r) => r.path.includes('/good/')).body), { hello: 1 });
  const bad = await gw.request({ via: 'unix', method: 'POST', path: '/$batch', headers: { 'content-type': 'application/json' }, body: '{"requests":[{"id":"1"}' });
  assert.equal(bad.status, 400);
  assert.equal(JSON.parse(bad.body).code, 'InvalidBatch');
  await gw.stop();
});

test('$batch with Prefer: respond-async goes to the outbox in one transaction', async (t) => {
  const { up, gw } = await setup(t, { outbox: true, retry: 'max_attempts = 1;' });
  const batch = { requests: Array.from({ length: 5 }, (_, i) => ({ id: `m${i}`, method: 'POST', url: `/api/hubs/chat/users/u${i}/:send`,
    headers: { 'Content-Type': 'text/plain' }, body: `batch-${i}` })) };
  const res = await gw.request({ via: 'unix', method: 'POST', path: '/$batch', headers: { 'content-type': 'application/json', prefer: 'respond-async' }, body: JSON.stringify(batch) });
  assert.equal(res.status, 202);
  assert.equal(res.headers['preference-applied'], 'respond-async');
  const out = JSON.parse(res.body).responses;
  assert.deepEqual(out.map((r) => r.status), [202, 202, 202, 202, 202]);
  assert.ok(out.every((r) => /^[0-9a-f]{16}$/.test(r.body.id) && r.headers.Location === `/outbox/${r.body.id}`));
  await kit.waitFor(() => up.requests.length >= 5);
  assert.deepEqual(up.requests.map((r) => r.body.toString()).sort(), batch.requests.map((r) => r.body).sort());
  // a read-only sub-request cannot go asynchronously
  const ro = await gw.request({ via: 'unix', method: 'POST', path: '/$batch', headers: { 'content-type': 'application/json', prefer: 'respond-async' },
    body: JSON.stringify({ requests: [{ id: '1', method: 'HEAD', url: '/api/hubs/chat/groups/g' }] }) });
  assert.equal(ro.status, 400);
  await gw.stop();
});

test('key rotation by SIGHUP under load: nothing lost, never a 401', async (t) => {
  const { up, gw, key } = await setup(t, { retry: 'max_attempts = 2; base_delay_ms = 10;' });
  const newKey = makeKey();
  let stop = false;
  let sent = 0;
  const statuses = [];
  async function worker(w) {
    while (!stop) {
      const i = sent++;
      const res = await send(gw, `rot-${w}-${i}`);
      statuses.push(res.status);
    }
  }
  const workers = Array.from({ length: 8 }, (_, w) => worker(w));
  await kit.sleep(300);
  // the service accepts both keys while the operator rotates (as Azure does with primary and secondary)
  up.setKey(key, newKey);
  writeSecretFile(gw.keyFile, `${newKey}\n`);
  gw.proc.kill('SIGHUP');
  await kit.waitFor(() => /msg="reloaded"/.test(gw.stderr()), 5000);
  assert.match(gw.stderr(), /msg="reloaded"/);
  // let the requests signed before the reload arrive, then revoke the old key
  const reloadedAt = up.requests.length;
  await kit.waitFor(() => up.requests.slice(reloadedAt).filter((r) => r.keyIndex === 1).length >= 20, 5000 * VG);
  await kit.sleep(200 * VG);
  up.setKey(newKey);
  const after = up.requests.length;
  await kit.sleep(500 * VG);
  stop = true;
  await Promise.all(workers);
  assert.ok(statuses.length > 50, `load: ${statuses.length} requests`);
  assert.deepEqual([...new Set(statuses)], [202], 'every request answered 202');
  assert.equal(up.requests.filter((r) => !r.jwt.ok).length, 0, 'no request with a bad JWT');
  assert.ok(up.requests.slice(after).every((r) => r.keyIndex === 0), 'new key only after the reload');
  assert.equal(new Set(up.requests.map((r) => r.body.toString())).size, statuses.length, 'nothing lost');
  // a bad config on reload is refused and the old one stays
  fs.writeFileSync(gw.cfgFile, fs.readFileSync(gw.cfgFile, 'utf8') + '\nbogus_key = 1;\n');
  gw.proc.kill('SIGHUP');
  await kit.waitFor(() => /reload refused/.test(gw.stderr()), 5000);
  assert.equal((await send(gw, 'still')).status, 202);
  await gw.stop();
});

test('SIGTERM drains requests in flight, exits 0, and leaves the outbox consistent', async (t) => {
  const { up, gw } = await setup(t, { outbox: true, retry: 'max_attempts = 1; breaker = { enabled = false; };' });
  // async rows that cannot be delivered yet (the service answers 503 with a long Retry-After)
  up.behave(() => ({ status: 503 }));
  const ids = [];
  for (let i = 0; i < 20; i++) ids.push(JSON.parse((await send(gw, `keep-${i}`, { prefer: 'respond-async' })).body).id);
  up.behave(() => ({ status: 202, delay: 700 }));
  await kit.sleep(100);
  const inflight = Array.from({ length: 10 }, (_, i) => send(gw, `drain-${i}`));
  await kit.waitFor(() => up.requests.filter((r) => r.body.toString().startsWith('drain-')).length === 10, 3000);
  gw.proc.kill('SIGTERM');
  const res = await Promise.all(inflight);
  assert.deepEqual(res.map((r) => r.status), Array(10).fill(202));
  assert.deepEqual(await gw.waitExit(10000), { code: 0, signal: null });
  assert.match(gw.stderr(), /msg="stopped"/);
  // restart on the same outbox: every row is there and is delivered
  up.behave(() => undefined);
  const gw2 = await launch(t, gw);
  await kit.waitFor(() => new Set(up.requests.filter((r) => r.body.toString().startsWith('keep-') && r.jwt.ok).map((r) => r.body.toString())).size === 20, 15000);
  for (const id of ids) {
    await kit.waitFor(async () => JSON.parse((await gw2.request({ via: 'unix', method: 'GET', path: `/outbox/${id}` })).body).state === 'delivered', 10000);
    const row = JSON.parse((await gw2.request({ via: 'unix', method: 'GET', path: `/outbox/${id}` })).body);
    assert.equal(row.state, 'delivered', `row ${id}`);
  }
  await gw2.stop();
});


test('the W3C trace context reaches the service from every path: sync, $batch, $batch async and the outbox', async (t) => {
  const { up, gw } = await setup(t, { outbox: true, retry: 'max_attempts = 1;' });
  const tp = '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01';
  const trace = { traceparent: tp, tracestate: 'congo=t61rcWkgMzE' };
  const carried = (body) => {
    const r = up.requests.find((x) => x.body.toString() === body);
    assert.ok(r, `${body} reached the service`);
    assert.equal(r.headers.traceparent, tp, `${body}: traceparent`);
    assert.equal(r.headers.tracestate, 'congo=t61rcWkgMzE', `${body}: tracestate`);
  };
  assert.equal((await send(gw, 'sync-1', trace)).status, 202);
  carried('sync-1');
  const batch = (id) => JSON.stringify({ requests: [
    { id: 'a', method: 'POST', url: '/api/hubs/chat/:send', headers: { 'Content-Type': 'text/plain' }, body: `${id}-a` },
    { id: 'b', method: 'POST', url: '/api/hubs/chat/groups/g/:send', headers: { 'Content-Type': 'text/plain' }, body: `${id}-b` },
  ] });
  const b1 = await gw.request({ via: 'unix', method: 'POST', path: '/$batch', headers: { 'content-type': 'application/json', ...trace }, body: batch('batch') });
  assert.equal(b1.status, 200, b1.body.toString());
  carried('batch-a');
  carried('batch-b');
  const b2 = await gw.request({ via: 'unix', method: 'POST', path: '/$batch', headers: { 'content-type': 'application/json', prefer: 'respond-async', ...trace }, body: batch('abatch') });
  assert.equal(b2.status, 202, b2.body.toString());
  assert.equal((await send(gw, 'async-1', { prefer: 'respond-async', ...trace })).status, 202);
  await kit.waitFor(() => ['abatch-a', 'abatch-b', 'async-1'].every((b) => up.requests.some((x) => x.body.toString() === b)), 10000 * VG);
  carried('abatch-a');
  carried('abatch-b');
  carried('async-1');
  // without one, none is invented
  assert.equal((await send(gw, 'async-2', { prefer: 'respond-async' })).status, 202);
  await kit.waitFor(() => up.requests.some((x) => x.body.toString() === 'async-2'), 10000 * VG);
  assert.equal(up.requests.find((x) => x.body.toString() === 'async-2').headers.traceparent, undefined);
  await gw.stop();
});
