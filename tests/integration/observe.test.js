// observe.test.js: /metrics after a known sequence of requests (every counter and histogram count equal to
// what happened, promtool accepts it), /healthz and /readyz, logfmt and JSON logs, request ids and
// traceparent passed upstream, and no secret in metrics, logs or health bodies.
'use strict';

const { test } = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const { spawnSync } = require('node:child_process');
const kit = require('./lib/gwkit');
const { startGateway, launch, makeKey, freePort, httpRequest } = require('./lib/harness');

const SEND = '/api/hubs/chat/:send';

async function setup(t, extra = '') {
  const key = makeKey();
  const up = kit.flexUpstream({ port: await freePort(), key });
  await up.start();
  t.after(() => up.stop());
  const dir = fs.mkdtempSync('/tmp/wpsgate-obs-');
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  const mport = await freePort();
  const gw = await startGateway(t, { endpoint: up.endpoint, key, retries: true,
    extra: `retry = { max_attempts = 3; base_delay_ms = 1; max_delay_ms = 2; breaker = { enabled = false; }; };
outbox = { path = "${dir}/outbox.db"; };
metrics = { listen = "127.0.0.1:${mport}"; };
${extra}` });
  const scrape = async () => (await httpRequest({ port: mport }, { method: 'GET', path: '/metrics' })).body.toString();
  return { key, up, gw, mport, scrape };
}

function promtool(text) {
  const r = spawnSync('promtool', ['check', 'metrics'], { input: text, encoding: 'utf8', timeout: 20000 });
  return r.error ? null : r;
}

test('every counter and histogram count equals what happened; promtool accepts the exposition', async (t) => {
  const { key, up, gw, scrape, mport } = await setup(t);
  let localIn = 0;
  let localOut = 0;
  let upOut = 0;
  const req = async (r) => {
    const res = await gw.request(r);
    localIn += r.body ? Buffer.byteLength(r.body) : 0;
    localOut += res.body.length;
    return res;
  };
  // 3 successes
  for (const b of ['one', 'two', 'three']) {
    assert.equal((await req({ via: 'unix', method: 'POST', path: SEND, headers: { 'content-type': 'text/plain' }, body: b })).status, 202);
    upOut += b.length;
  }
  // 1 success after a retry (503 then 202)
  let n = 0;
  up.behave(() => (++n === 1 ? { status: 503 } : undefined));
  assert.equal((await req({ via: 'tcp', method: 'POST', path: SEND, headers: { 'content-type': 'text/plain' }, body: 'retried' })).status, 202);
  upOut += 2 * 'retried'.length;
  up.behave(() => undefined);
  // 2 validation errors, 1 unknown route
  assert.equal((await req({ via: 'unix', method: 'POST', path: SEND, headers: { 'content-type': 'image/png' }, body: 'png' })).status, 415);
  assert.equal((await req({ via: 'unix', method: 'POST', path: `${SEND}?messageTtlSeconds=999`, headers: { 'content-type': 'text/plain' }, body: 'ttl' })).status, 400);
  assert.equal((await req({ via: 'unix', method: 'GET', path: '/api/nowhere' })).status, 404);
  // 2 async
  for (const b of ['async-1', 'async-2']) {
    assert.equal((await req({ via: 'unix', method: 'POST', path: SEND, headers: { 'content-type': 'text/plain', prefer: 'respond-async' }, body: b })).status, 202);
    upOut += b.length;
  }
  // 1 read
  assert.equal((await req({ via: 'unix', method: 'HEAD', path: '/api/hubs/chat/groups/g1' })).status, 200);
  await kit.waitFor(() => up.requests.length === 8);
  assert.equal(up.requests.length, 8);
  await kit.sleep(100); // the outbox marks the deliveries

  const text = await scrape();
  const m = kit.parseMetrics(text);
  const v = (name, labels) => kit.metric(m, name, labels);
  assert.equal(v('wpsgate_requests_total', { operation: 'send_to_all', code: '202' }), 6);
  assert.equal(v('wpsgate_requests_total', { operation: 'send_to_all', code: '415' }), 1);
  assert.equal(v('wpsgate_requests_total', { operation: 'send_to_all', code: '400' }), 1);
  assert.equal(v('wpsgate_requests_total', { operation: 'none', code: '404' }), 1);
  assert.equal(v('wpsgate_requests_total', { operation: 'group_exists', code: '200' }), 1);
  assert.equal(kit.metricSum(m, 'wpsgate_requests_total'), 10);
  assert.equal(v('wpsgate_upstream_attempts_total', { result: 'response' }), 8);
  assert.equal(v('wpsgate_upstream_attempts_total', { result: 'timeout' }), 0);
  assert.equal(v('wpsgate_upstream_attempts_total', { result: 'connect' }), 0);
  assert.equal(v('wpsgate_upstream_responses_total', { code_class: '2xx' }), 7);
  assert.equal(v('wpsgate_upstream_responses_total', { code_class: '5xx' }), 1);
  assert.equal(v('wpsgate_upstream_retries_total', { cause: 'status' }), 1);
  assert.equal(kit.metricSum(m, 'wpsgate_upstream_retries_total'), 1);
  assert.equal(v('wpsgate_upstream_request_duration_seconds_count', { operation: 'send_to_all' }), 7);
  assert.equal(v('wpsgate_upstream_request_duration_seconds_count', { operation: 'group_exists' }), 1);
  assert.equal(v('wpsgate_upstream_request_duration_seconds_bucket', { operation: 'send_to_all', le: '+Inf' }), 7);
  assert.equal(v('wpsgate_upstream_connections_opened_total') + v('wpsgate_upstream_connections_reused_total'), 8);
  assert.ok(v('wpsgate_upstream_connections_opened_total') >= 1);
  assert.equal(v('wpsgate_received_bytes_total', { side: 'local' }), localIn);
  assert.equal(v('wpsgate_sent_bytes_total', { side: 'local' }), localOut);
  assert.equal(v('wpsgate_sent_bytes_total', { side: 'upstream' }), upOut);
  assert.equal(v('wpsgate_received_bytes_total', { side: 'upstream' }), 0);
  assert.equal(v('wpsgate_requests_in_flight'), 1, 'the scrape itself');
  assert.equal(v('wpsgate_outbox_depth'), 0);
  assert.equal(v('wpsgate_outbox_dead_letters'), 0);
  assert.equal(v('wpsgate_circuit_breaker_state', { state: 'closed' }), 1);
  assert.equal(kit.metricSum(m, 'wpsgate_refused_total'), 0);
  assert.equal(v('wpsgate_build_info', { version: '0.1.0', api_version: '2024-12-01' }) +
    kit.metricSum(m, 'wpsgate_build_info'), 2, 'build info');
  for (const p of ['process_resident_memory_bytes', 'process_open_fds', 'process_start_time_seconds', 'process_max_fds'])
    assert.ok(v(p) > 0, p);
  assert.ok(m.types.get('process_cpu_seconds_total') === 'counter');
  for (const fam of m.types.keys()) assert.ok(m.help.has(fam), `HELP for ${fam}`);
  const pt = promtool(text);
  if (pt) assert.equal(pt.status, 0, `promtool: ${pt.stdout}${pt.stderr}`);
  else t.diagnostic('promtool not installed: skipped');

  // reloads and credential errors
  gw.proc.kill('SIGHUP');
  await kit.waitFor(() => /msg="reloaded"/.test(gw.stderr()));
  fs.chmodSync(gw.keyFile, 0o644);
  gw.proc.kill('SIGHUP');
  await kit.waitFor(() => /reload refused/.test(gw.stderr()));
  fs.chmodSync(gw.keyFile, 0o600);
  const m2 = kit.parseMetrics(await scrape());
  assert.equal(kit.metric(m2, 'wpsgate_config_reloads_total', { result: 'success' }), 1);
  assert.equal(kit.metric(m2, 'wpsgate_config_reloads_total', { result: 'failure' }), 1);
  assert.equal(kit.metric(m2, 'wpsgate_credential_errors_total'), 1);
  assert.equal(kit.metric(m2, 'wpsgate_config_last_reload_successful'), 0);
  assert.equal(kit.metric(m2, 'wpsgate_requests_total', { operation: 'local', code: '200' }), 1, 'the first scrape');

  // the metrics-only listener serves nothing else
  assert.equal((await httpRequest({ port: mport }, { method: 'POST', path: SEND, headers: { 'content-type': 'text/plain' }, body: 'x' })).status, 404);
  assert.equal((await httpRequest({ port: mport }, { method: 'GET', path: '/healthz' })).status, 200);

  await gw.stop();
  const all = gw.stderr() + text;
  assert.ok(!all.includes(key), 'no key in logs or metrics');
  assert.ok(!/eyJ[A-Za-z0-9_-]+\.eyJ/.test(all), 'no JWT in logs or metrics');
});

test('/healthz and /readyz bodies; readyz names an open breaker', async (t) => {
  const { key, up, gw } = await setup(t, '');
  const h = await gw.request({ via: 'unix', method: 'GET', path: '/healthz' });
  assert.equal(h.status, 200);
  assert.deepEqual(JSON.parse(h.body), { status: 'ok' });
  let r = await gw.request({ via: 'tcp', method: 'GET', path: '/readyz' });
  assert.equal(r.status, 200);
  assert.deepEqual(JSON.parse(r.body), { status: 'ready', checks: { config: 'ok', credentials: 'ok', breaker: 'ok', outbox: 'ok', token_service: 'unused' } });
  await gw.stop();
  // a gateway with a breaker that opens after 2 failures
  const cfg = fs.readFileSync(gw.cfgFile, 'utf8').replace('breaker = { enabled = false; }', 'breaker = { failures = 2; cooldown_ms = 60000; }')
    .replace('max_attempts = 3', 'max_attempts = 1');
  fs.writeFileSync(gw.cfgFile, cfg);
  const gw2 = await launch(t, gw);
  up.behave(() => ({ status: 503 }));
  for (let i = 0; i < 2; i++) await gw2.request({ via: 'unix', method: 'POST', path: SEND, headers: { 'content-type': 'text/plain' }, body: 'x' });
  r = await gw2.request({ via: 'unix', method: 'GET', path: '/readyz' });
  assert.equal(r.status, 503);
  const body = JSON.parse(r.body);
  assert.equal(body.checks.breaker, 'fail');
  assert.ok(body.problems.some((p) => /breaker/.test(p)), JSON.stringify(body));
  assert.ok(!r.body.toString().includes(key));
  await gw2.stop();
});

test('request ids: the application\'s is sent upstream and echoed; otherwise one is generated', async (t) => {
  const { up, gw } = await setup(t);
  let res = await gw.request({ via: 'unix', method: 'POST', path: SEND, headers: { 'content-type': 'text/plain', 'x-ms-client-request-id': 'app-req-42' }, body: 'a' });
  assert.equal(res.headers['x-ms-client-request-id'], 'app-req-42');
  assert.equal(up.requests.at(-1).headers['x-ms-client-request-id'], 'app-req-42');
  res = await gw.request({ via: 'unix', method: 'POST', path: SEND, headers: { 'content-type': 'text/plain' }, body: 'b' });
  const gen = res.headers['x-ms-client-request-id'];
  assert.match(gen, /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
  assert.equal(up.requests.at(-1).headers['x-ms-client-request-id'], gen);
  // errors answered locally carry it too, and the log line names it
  res = await gw.request({ via: 'unix', method: 'GET', path: '/api/nowhere', headers: { 'x-ms-client-request-id': 'app-req-404' } });
  assert.equal(res.headers['x-ms-client-request-id'], 'app-req-404');
  await gw.stop();
  const lines = kit.logfmtLines(gw.stderr(), 'request');
  assert.ok(lines.some((l) => l.request_id === 'app-req-42' && l.status === '202' && l.op === 'SendToAll' && l.hub === 'chat'));
  assert.ok(lines.some((l) => l.request_id === gen));
  assert.ok(lines.some((l) => l.request_id === 'app-req-404' && l.status === '404'));
});

test('W3C traceparent is passed upstream when valid, dropped when not', async (t) => {
  const { up, gw } = await setup(t);
  const tp = '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01';
  await gw.request({ via: 'unix', method: 'POST', path: SEND, headers: { 'content-type': 'text/plain', traceparent: tp, tracestate: 'congo=t61rcWkgMzE' }, body: 'a' });
  assert.equal(up.requests.at(-1).headers.traceparent, tp);
  assert.equal(up.requests.at(-1).headers.tracestate, 'congo=t61rcWkgMzE');
  for (const bad of ['00-00000000000000000000000000000000-00f067aa0ba902b7-01', '00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01',
    'ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01', '00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01', 'garbage']) {
    await gw.request({ via: 'unix', method: 'POST', path: SEND, headers: { 'content-type': 'text/plain', traceparent: bad, tracestate: 'a=b' }, body: 'b' });
    assert.equal(up.requests.at(-1).headers.traceparent, undefined, bad);
    assert.equal(up.requests.at(-1).headers.tracestate, undefined, bad);
  }
  await gw.stop();
});

test('log.format = "json": every line is one JSON object; no secret in any log', async (t) => {
  const { key, up, gw } = await setup(t);
  await gw.stop();
  fs.writeFileSync(gw.cfgFile, fs.readFileSync(gw.cfgFile, 'utf8').replace('format = "logfmt"', 'format = "json"'));
  const gw2 = await launch(t, Object.assign({}, gw, { args: ['-v'] }));
  await gw2.request({ via: 'unix', method: 'POST', path: SEND, headers: { 'content-type': 'text/plain', 'x-ms-client-request-id': 'json-1' }, body: 'j' });
  await gw2.request({ via: 'unix', method: 'POST', path: SEND, headers: { 'content-type': 'text/plain', prefer: 'respond-async' }, body: 'k' });
  await kit.waitFor(() => up.requests.length === 2);
  await gw2.stop();
  const lines = gw2.stderr().split('\n').filter((l) => l !== '');
  assert.ok(lines.length > 5);
  const objs = lines.map((l) => JSON.parse(l.replace(/^<\d>/, '')));
  const r = objs.find((o) => o.msg === 'request' && o.request_id === 'json-1');
  assert.ok(r, 'request line');
  assert.equal(r.status, '202');
  assert.equal(r.op, 'SendToAll');
  assert.ok(objs.some((o) => o.msg === 'audit' && o.request_id === 'json-1'));
  const all = gw.stderr() + gw2.stderr();
  assert.ok(!all.includes(key), 'no key in the logs');
  assert.ok(!/eyJ[A-Za-z0-9_-]+\.eyJ/.test(all), 'no JWT in the logs (-v)');
  assert.ok(/\[redacted\]/.test(all), 'the debug log shows the Authorization redacted');
});
