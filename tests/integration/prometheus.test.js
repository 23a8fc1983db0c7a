// prometheus.test.js: the operator's kit against a real Prometheus (Debian's prometheus package). A real
// wpsgated with a metrics listener, an outbox and an events listener gets traffic (successes, a retried
// 503, a guard refusal, async messages, event calls verified and forged); Prometheus scrapes it every
// second with contrib/prometheus/wpsgate.rules.yml loaded. Then every panel query of
// contrib/grafana/wpsgate.json must parse and return data, every metric it or an alert names must be one
// the gateway exports, and every alerting rule must evaluate without error.
'use strict';

const { test } = require('node:test');
const assert = require('node:assert/strict');
const crypto = require('node:crypto');
const fs = require('node:fs');
const http = require('node:http');
const path = require('node:path');
const { spawn, spawnSync } = require('node:child_process');
const kit = require('./lib/gwkit');
const { startGateway, makeKey, freePort, SRCDIR } = require('./lib/harness');

const SEND = '/api/hubs/chat/:send?api-version=2024-12-01';
const HAVE_PROMETHEUS = spawnSync('prometheus', ['--version']).status === 0;

function get(port, p) {
  return new Promise((resolve, reject) => {
    const r = http.get({ host: '127.0.0.1', port, path: p, timeout: 10000 }, (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode, body: Buffer.concat(chunks).toString() }));
    });
    r.on('timeout', () => r.destroy(new Error(`GET ${p}: no answer`)));
    r.on('error', reject);
  });
}

async function query(port, q) {
  const r = await get(port, `/api/v1/query?query=${encodeURIComponent(q)}`);
  return JSON.parse(r.body);
}

// Grafana's variables as Prometheus would see them on a dashboard set to "All".
function concrete(expr) {
  return expr.replace(/\$__rate_interval/g, '30s').replace(/\$instance/g, '.*').replace(/\$job/g, '.*');
}

function metricNames(expr) {
  const names = new Set();
  for (const m of expr.matchAll(/\b((?:wpsgate|process)_[a-z_]+|up)\b(?=\s*[{[)]|\s*$|\s*[=><!])/g)) names.add(m[1]);
  return [...names];
}

test('dashboard queries return data and alert rules evaluate against a real Prometheus', { skip: !HAVE_PROMETHEUS && 'prometheus is not installed' }, async (t) => {
  const key = makeKey();
  const up = kit.flexUpstream({ port: await freePort(), key });
  await up.start();
  t.after(() => up.stop());
  const dir = fs.mkdtempSync('/tmp/wpsgate-prom-');
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  const mport = await freePort();
  const evPort = await freePort();
  const appSock = path.join(dir, 'app.sock');
  const app = http.createServer((req, res) => { req.resume(); req.on('end', () => { res.writeHead(204); res.end(); }); });
  await new Promise((r) => app.listen(appSock, r));
  t.after(() => app.close());
  const gw = await startGateway(t, { endpoint: up.endpoint, key, retries: true,
    extra: `retry = { max_attempts = 3; base_delay_ms = 1; max_delay_ms = 2; breaker = { enabled = false; }; };
outbox = { path = "${dir}/outbox.db"; };
metrics = { listen = "127.0.0.1:${mport}"; };
events = { listen = [ "127.0.0.1:${evPort}" ]; forward = "unix:${appSock}"; };` });

  // Prometheus, scraping every second, with the alerting rules
  const pport = await freePort();
  const rules = path.join(SRCDIR, 'contrib/prometheus/wpsgate.rules.yml');
  fs.writeFileSync(path.join(dir, 'prometheus.yml'), [
    'global: { scrape_interval: 1s, evaluation_interval: 1s }',
    `rule_files: [ "${rules}" ]`,
    'scrape_configs:',
    '  - job_name: wpsgate',
    `    static_configs: [ { targets: [ "127.0.0.1:${mport}" ] } ]`,
    '',
  ].join('\n'));
  const prom = spawn('prometheus', [`--config.file=${path.join(dir, 'prometheus.yml')}`,
    `--storage.tsdb.path=${path.join(dir, 'tsdb')}`, `--web.listen-address=127.0.0.1:${pport}`,
    '--log.level=warn'], { stdio: ['ignore', 'ignore', 'pipe'] });
  let promErr = '';
  prom.stderr.on('data', (d) => { promErr += d.toString(); });
  t.after(() => new Promise((resolve) => {
    if (prom.exitCode !== null) { resolve(); return; }
    const k = setTimeout(() => prom.kill('SIGKILL'), 5000);
    prom.once('exit', () => { clearTimeout(k); resolve(); });
    prom.kill('SIGTERM');
  }));
  await kit.waitFor(async () => {
    try { return (await get(pport, '/-/ready')).status === 200; } catch { return false; }
  }, 30000);

  // traffic: successes, a 503 that is retried, a refusal by the TCP guard, async messages, event calls
  let first = true;
  up.behave(() => {
    if (first) { first = false; return { status: 503, headers: { 'retry-after': '0' } }; }
    return undefined;
  });
  const text = { 'content-type': 'text/plain' };
  for (let round = 0; round < 3; round++) {
    for (let i = 0; i < 5; i++) assert.equal((await gw.request({ via: 'unix', method: 'POST', path: SEND, headers: text, body: `m${round}-${i}` })).status, 202);
    assert.equal((await gw.request({ via: 'tcp', method: 'POST', path: SEND, headers: { ...text, origin: 'http://evil.example' }, body: 'x' })).status, 403);
    assert.equal((await gw.request({ via: 'unix', method: 'POST', path: SEND, headers: { ...text, prefer: 'respond-async' }, body: `a${round}` })).status, 202);
    const conn = `c${round}`;
    const ev = (sig) => new Promise((resolve, reject) => {
      const r = http.request({ host: '127.0.0.1', port: evPort, method: 'POST', path: '/eventhandler', timeout: 10000, headers: {
        'ce-specversion': '1.0', 'ce-awpsversion': '1.0', 'ce-type': 'azure.webpubsub.sys.connected', 'ce-source': `/hubs/chat/client/${conn}`,
        'ce-connectionId': conn, 'ce-hub': 'chat', 'ce-eventName': 'connected', 'ce-signature': sig,
        'WebHook-Request-Origin': '127.0.0.1', 'content-type': 'application/json', 'content-length': 2 } }, (res) => { res.resume(); res.on('end', () => resolve(res.statusCode)); });
      r.on('timeout', () => r.destroy(new Error('events: no answer')));
      r.on('error', reject);
      r.end('{}');
    });
    assert.equal(await ev('sha256=' + crypto.createHmac('sha256', key).update(conn).digest('hex')), 204);
    assert.equal(await ev('sha256=' + '0'.repeat(64)), 401);
    await kit.sleep(1200); // across scrapes, so that rate() has samples to work with
  }
  // two scrapes or more since the traffic began
  await kit.waitFor(async () => {
    const r = await query(pport, 'count_over_time(up{job="wpsgate"}[1m])');
    return r.status === 'success' && r.data.result.length === 1 && Number(r.data.result[0].value[1]) >= 4;
  }, 30000);
  await kit.sleep(2500);

  const names = new Set(JSON.parse((await get(pport, '/api/v1/label/__name__/values')).body).data);
  assert.ok(names.has('wpsgate_requests_total'), `Prometheus scraped the gateway: ${promErr}`);

  // every panel query: parses, names only exported metrics, and returns data
  const dash = JSON.parse(fs.readFileSync(path.join(SRCDIR, 'contrib/grafana/wpsgate.json'), 'utf8'));
  const problems = [];
  let nq = 0;
  for (const p of dash.panels) {
    for (const tgt of p.targets) {
      nq++;
      const q = concrete(tgt.expr);
      for (const n of metricNames(q)) if (!names.has(n)) problems.push(`${p.title}: ${n} is not exported`);
      const r = await query(pport, q);
      if (r.status !== 'success') problems.push(`${p.title}: ${r.error}`);
      else if (r.data.result.length === 0) problems.push(`${p.title}: no data for ${q}`);
    }
  }
  for (const v of dash.templating.list.filter((x) => x.type === 'query')) {
    const m = /^label_values\((.*), (\w+)\)$/.exec(v.query);
    assert.ok(m, `variable ${v.name}: ${v.query}`);
    const r = await query(pport, `count by (${m[2]}) (${concrete(m[1])})`);
    if (r.status !== 'success' || r.data.result.length === 0) problems.push(`variable ${v.name}: no values`);
  }
  assert.deepEqual(problems, [], 'dashboard queries');
  assert.ok(nq >= 16, `${nq} panel queries`);

  // every alerting rule: loaded, evaluated without error, and naming only exported metrics
  await kit.waitFor(async () => {
    const r = JSON.parse((await get(pport, '/api/v1/rules')).body);
    const rs = r.data.groups.flatMap((g) => g.rules);
    return rs.length > 0 && rs.every((x) => x.lastEvaluation && !x.lastEvaluation.startsWith('0001'));
  }, 20000);
  const rs = JSON.parse((await get(pport, '/api/v1/rules')).body).data.groups.flatMap((g) => g.rules);
  const src = fs.readFileSync(rules, 'utf8');
  assert.equal(rs.length, (src.match(/^\s+- alert:/gm) || []).length, 'every rule of the file is loaded');
  for (const r of rs) {
    assert.equal(r.health, 'ok', `${r.name}: ${r.lastError || ''}`);
    for (const n of metricNames(r.query)) if (n !== 'up') assert.ok(names.has(n), `${r.name}: ${n} is not exported`);
    const q = await query(pport, r.query);
    assert.equal(q.status, 'success', `${r.name}: ${q.error}`);
  }
  await gw.stop();
});
