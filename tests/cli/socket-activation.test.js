// socket-activation.test.js: wpsgated started by systemd-socket-activate (LISTEN_FDS) on a loopback
// TCP port and a unix socket takes its listeners from systemd, not from its configuration; requests
// through both (raw HTTP and the wpsgate CLI) reach a fake upstream signed; SIGTERM exits 0.
// Exit 77 (skipped) when systemd-socket-activate is not installed.
'use strict';

const fs = require('node:fs');
const path = require('node:path');
const { spawnSync } = require('node:child_process');

function which(cmd) {
  const r = spawnSync('sh', ['-c', `command -v ${cmd}`], { encoding: 'utf8' });
  return r.status === 0 ? r.stdout.trim() : null;
}
const ACTIVATE = which('systemd-socket-activate');
if (!ACTIVATE) {
  console.log('systemd-socket-activate not found: skipped');
  process.exit(77);
}

const test = require('node:test');
const assert = require('node:assert/strict');
const crypto = require('node:crypto');
const http = require('node:http');
const { freePort, canConnect } = require('../lib/net.js');
const os = require('node:os');
const { spawn } = require('node:child_process');

const { WPSGATED, WPSGATE } = require('../lib/paths.js');
const POLL_TRIES = 100;
const POLL_MS = 50;
const STOP_WAIT_MS = 15000;
const REQ_TIMEOUT_MS = 15000;

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'wpsgate-sockact-'));
const KEY = crypto.randomBytes(33).toString('base64');
const procs = new Set();
process.on('exit', () => {
  for (const p of procs) { try { p.kill('SIGKILL'); } catch { /* gone */ } }
  fs.rmSync(tmp, { recursive: true, force: true });
});

function redact(s) {
  return String(s).split(KEY).join('<KEY>').replace(/eyJ[\w-]+\.[\w-]+\.[\w-]+/g, '<JWT>');
}

function request(target, method, p, headers, body) {
  return new Promise((resolve, reject) => {
    const o = Object.assign({ method, path: p, headers: headers || {}, agent: false }, target);
    const r = http.request(o, (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode, body: Buffer.concat(chunks).toString() }));
    });
    r.setTimeout(REQ_TIMEOUT_MS, () => r.destroy(new Error(`${method} ${p} timed out`)));
    r.on('error', reject);
    r.end(body);
  });
}

function runCli(args) {
  return new Promise((resolve, reject) => {
    const c = spawn(WPSGATE, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    procs.add(c);
    const out = [], err = [];
    c.stdout.on('data', (d) => out.push(d));
    c.stderr.on('data', (d) => err.push(d));
    const timer = setTimeout(() => c.kill('SIGKILL'), REQ_TIMEOUT_MS);
    c.on('error', reject);
    c.on('close', (code) => {
      clearTimeout(timer);
      procs.delete(c);
      resolve({ code, stdout: Buffer.concat(out).toString(), stderr: Buffer.concat(err).toString() });
    });
  });
}

// Check an HS256 JWT against KEY and return its claims.
function verifyJwt(token) {
  const [h, c, s] = token.split('.');
  const mac = crypto.createHmac('sha256', Buffer.from(KEY, 'utf8')).update(`${h}.${c}`).digest('base64url');
  assert.equal(s, mac, 'JWT signature');
  return JSON.parse(Buffer.from(c, 'base64url').toString());
}

test('wpsgated takes its listeners from systemd-socket-activate', async () => {
  // the fake upstream: records requests, answers 202
  const seen = [];
  const up = http.createServer((req, res) => {
    const chunks = [];
    req.on('data', (d) => chunks.push(d));
    req.on('end', () => {
      seen.push({ method: req.method, url: req.url, auth: req.headers.authorization || '',
        type: req.headers['content-type'], body: Buffer.concat(chunks).toString() });
      res.writeHead(202);
      res.end();
    });
  });
  await new Promise((r) => up.listen(0, '127.0.0.1', r));
  const upPort = up.address().port;

  const actPort = await freePort();
  const cfgPort = await freePort();
  const actSock = path.join(tmp, 'activated.sock');
  const cfgSock = path.join(tmp, 'configured.sock');
  const keyFile = path.join(tmp, 'access-key');
  fs.writeFileSync(keyFile, `${KEY}\n`, { mode: 0o600 });
  fs.chmodSync(keyFile, 0o600);
  const cfg = path.join(tmp, 'wpsgate.conf');
  fs.writeFileSync(cfg, [
    `listen = { unix = { path = "${cfgSock}"; mode = "0660"; }; tcp = [ "127.0.0.1:${cfgPort}" ]; };`,
    `upstream = { endpoint = "http://127.0.0.1:${upPort}"; access_key_file = "${keyFile}";`,
    '             api_version = "2024-12-01"; timeout_ms = 5000; };',
    'log = { level = "info"; format = "logfmt"; };',
    '',
  ].join('\n'));

  const out = [];
  const gw = spawn(ACTIVATE, ['-l', `127.0.0.1:${actPort}`, '-l', actSock, WPSGATED, '-c', cfg],
    { stdio: ['ignore', 'pipe', 'pipe'] });
  procs.add(gw);
  let exited = null;
  const exitP = new Promise((r) => gw.on('close', (code, signal) => { exited = { code, signal }; procs.delete(gw); r(exited); }));
  gw.stdout.on('data', (d) => out.push(d));
  gw.stderr.on('data', (d) => out.push(d));
  const log = () => redact(Buffer.concat(out).toString()).slice(-3000);

  try {
    let listening = false;
    for (let i = 0; i < POLL_TRIES && !exited && !listening; i++) {
      listening = fs.existsSync(actSock);
      if (!listening) await new Promise((r) => setTimeout(r, POLL_MS));
    }
    assert.ok(listening, `systemd-socket-activate did not listen; output:\n${log()}`);

    // the first connection makes systemd-socket-activate exec wpsgated with LISTEN_FDS=2
    let res = await request({ host: '127.0.0.1', port: actPort }, 'POST', '/api/hubs/chat/:send',
      { 'content-type': 'text/plain' }, 'over tcp');
    assert.equal(res.status, 202, `status; body ${res.body}; log:\n${log()}`);
    res = await request({ socketPath: actSock }, 'POST', '/api/hubs/chat/groups/g%201/:send?messageTtlSeconds=5',
      { 'content-type': 'application/json' }, '{"over":"unix"}');
    assert.equal(res.status, 202, `status; body ${res.body}; log:\n${log()}`);
    const cli = await runCli(['--socket', actSock, 'send', '--hub', 'chat', '--user', 'u@x', 'from the cli']);
    assert.equal(cli.code, 0, redact(cli.stderr));
    res = await request({ host: '127.0.0.1', port: actPort }, 'GET', '/healthz');
    assert.equal(res.status, 200);

    const base = `http://127.0.0.1:${upPort}`;
    const want = [
      ['/api/hubs/chat/:send?api-version=2024-12-01', 'text/plain', 'over tcp'],
      ['/api/hubs/chat/groups/g%201/:send?api-version=2024-12-01&messageTtlSeconds=5', 'application/json', '{"over":"unix"}'],
      ['/api/hubs/chat/users/u%40x/:send?api-version=2024-12-01', 'text/plain', 'from the cli'],
    ];
    assert.equal(seen.length, want.length, JSON.stringify(seen.map((s) => s.url)));
    want.forEach(([url, type, body], i) => {
      assert.equal(seen[i].method, 'POST');
      assert.equal(seen[i].url, url);
      assert.equal(seen[i].type, type);
      assert.equal(seen[i].body, body);
      assert.match(seen[i].auth, /^Bearer /);
      const claims = verifyJwt(seen[i].auth.slice(7));
      assert.equal(claims.aud, base + url);
      assert.ok(claims.exp > Date.now() / 1000, 'exp in the future');
    });

    // the configured listeners were replaced by the ones systemd passed
    assert.equal(fs.existsSync(cfgSock), false, 'configured unix socket must not be created');
    assert.equal(await canConnect({ host: '127.0.0.1', port: cfgPort }), false, 'configured TCP port must not listen');

    gw.kill('SIGTERM');
    const st = await Promise.race([exitP, new Promise((r) => setTimeout(() => r(null), STOP_WAIT_MS).unref())]);
    assert.deepEqual(st, { code: 0, signal: null }, `exit after SIGTERM; log:\n${log()}`);
  } finally {
    if (!exited) { gw.kill('SIGKILL'); await exitP; }
    up.close();
  }
});
