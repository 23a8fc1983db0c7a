// cli-e2e.test.js: the wpsgate CLI through the real wpsgated in front of the real wpsgate-emulator,
// with a WebSocket subscriber (json.webpubsub.azure.v1) connected with the URL `wpsgate token` printed:
// sends of each content type arrive, exists/list/permission commands see the live connection, and
// `connection close` disconnects it with its reason.
'use strict';

const test = require('node:test');
const assert = require('node:assert/strict');
const crypto = require('node:crypto');
const fs = require('node:fs');
const { freePort, canConnect } = require('../lib/net.js');
const os = require('node:os');
const path = require('node:path');
const { spawn } = require('node:child_process');

const { WPSGATED, WPSGATE, EMULATOR, requireModule } = require('../lib/paths.js');
let WebSocket;
try {
  WebSocket = requireModule('ws');
} catch {
  // the npm test packages are not in the tarball (scripts/deps.sh installs them)
  console.log('tests/node_modules/ws not installed: skipped');
  process.exit(77);
}

const POLL_TRIES = 100;
const POLL_MS = 50;
const WAIT_MS = 10000;
const STOP_WAIT_MS = 15000;

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'wpsgate-cli-e2e-'));
const KEY = crypto.randomBytes(33).toString('base64');
const SOCK = path.join(tmp, 'gw.sock');
const procs = [];
let ws = null;

process.on('exit', () => {
  for (const p of procs) { try { p.proc.kill('SIGKILL'); } catch { /* gone */ } }
  fs.rmSync(tmp, { recursive: true, force: true });
});

function redact(s) {
  return String(s).split(KEY).join('<KEY>').replace(/eyJ[\w-]+\.[\w-]+\.[\w-]+/g, '<JWT>');
}

// Start a long-running program; resolves once `ready` (a net.connect target) accepts.
async function start(name, file, args, ready) {
  const out = [];
  const proc = spawn(file, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  const p = { name, proc, log: () => redact(Buffer.concat(out).toString()).slice(-3000), exited: null };
  p.exit = new Promise((r) => proc.on('close', (code, signal) => { p.exited = { code, signal }; r(p.exited); }));
  proc.stdout.on('data', (d) => out.push(d));
  proc.stderr.on('data', (d) => out.push(d));
  procs.push(p);
  for (let i = 0; i < POLL_TRIES && !p.exited; i++) {
    if (await canConnect(ready)) return p;
    await new Promise((r) => setTimeout(r, POLL_MS));
  }
  throw new Error(`${name} did not start; log:\n${p.log()}`);
}

async function stop(p) {
  if (!p.exited) p.proc.kill('SIGTERM');
  const st = await Promise.race([p.exit, new Promise((r) => setTimeout(() => r(null), STOP_WAIT_MS).unref())]);
  assert.deepEqual(st, { code: 0, signal: null }, `${p.name} exit after SIGTERM; log:\n${p.log()}`);
}

function cli(args, stdin) {
  return new Promise((resolve, reject) => {
    const c = spawn(WPSGATE, ['--socket', SOCK, ...args], { stdio: ['pipe', 'pipe', 'pipe'] });
    const out = [], err = [];
    c.stdout.on('data', (d) => out.push(d));
    c.stderr.on('data', (d) => err.push(d));
    const timer = setTimeout(() => c.kill('SIGKILL'), WAIT_MS * 2);
    c.on('error', reject);
    c.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout: Buffer.concat(out).toString(), stderr: redact(Buffer.concat(err).toString()) });
    });
    c.stdin.on('error', () => { /* not read */ });
    c.stdin.end(stdin);
  });
}

// Messages a subscriber received, and a bounded wait for the next one that matches.
const inbox = [];
let waiter = null;
function nextMessage(pred, what) {
  return new Promise((resolve, reject) => {
    const i = inbox.findIndex(pred);
    if (i >= 0) { resolve(inbox.splice(i, 1)[0]); return; }
    const timer = setTimeout(() => { waiter = null; reject(new Error(`no ${what} within ${WAIT_MS} ms`)); }, WAIT_MS);
    waiter = { pred, resolve: (m) => { clearTimeout(timer); resolve(m); } };
  });
}

test('the CLI drives a real subscriber through wpsgated and the emulator', { timeout: 55000 }, async () => {
  const keyFile = path.join(tmp, 'access-key');
  fs.writeFileSync(keyFile, `${KEY}\n`, { mode: 0o600 });
  fs.chmodSync(keyFile, 0o600);
  const emuPort = await freePort();
  const emu = await start('wpsgate-emulator', EMULATOR, ['--listen', `127.0.0.1:${emuPort}`, '--access-key-file', keyFile],
    { host: '127.0.0.1', port: emuPort });
  const cfg = path.join(tmp, 'wpsgate.conf');
  fs.writeFileSync(cfg, [
    `listen = { unix = { path = "${SOCK}"; mode = "0600"; }; };`,
    `upstream = { endpoint = "http://127.0.0.1:${emuPort}"; access_key_file = "${keyFile}"; timeout_ms = 5000; };`,
    '',
  ].join('\n'));
  const gw = await start('wpsgated', WPSGATED, ['-c', cfg], { path: SOCK });

  try {
    // a client URL for alice, in group g1, and a subscriber connected with it
    let r = await cli(['token', '--hub', 'chat', '--user', 'alice', '--group', 'g1', '--minutes', '5']);
    assert.equal(r.code, 0, r.stderr);
    const url = r.stdout.trim();
    assert.match(url, new RegExp(`^ws://127\\.0\\.0\\.1:${emuPort}/client/hubs/chat\\?access_token=eyJ`));
    ws = new WebSocket(url, 'json.webpubsub.azure.v1');
    ws.on('message', (data) => {
      const m = JSON.parse(data.toString());
      if (waiter && waiter.pred(m)) { const w = waiter; waiter = null; w.resolve(m); } else inbox.push(m);
    });
    ws.on('error', () => { /* reported by the waits */ });
    const closed = new Promise((res) => ws.on('close', (code) => res(code)));
    const hello = await nextMessage((m) => m.type === 'system' && m.event === 'connected', 'connected message');
    assert.equal(hello.userId, 'alice');
    const conn = hello.connectionId;

    // the live connection is visible
    for (const args of [['connection', 'exists', '--hub', 'chat', '--connection', conn],
      ['user', 'exists', '--hub', 'chat', '--user', 'alice'],
      ['group', 'exists', '--hub', 'chat', '--group', 'g1']]) {
      r = await cli(args);
      assert.equal(r.code, 0, `${args.join(' ')}: ${r.stderr}`);
    }
    r = await cli(['user', 'exists', '--hub', 'chat', '--user', 'bob']);
    assert.equal(r.code, 1);
    assert.equal(r.stderr, '');
    r = await cli(['group', 'list', '--hub', 'chat', '--group', 'g1']);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, `${conn}\talice\n`);

    // each content type arrives as the subscriber protocol says
    r = await cli(['send', '--hub', 'chat', '--group', 'g1', '--json', '{"n":[1,"two"]}']);
    assert.equal(r.code, 0, r.stderr);
    let m = await nextMessage((x) => x.type === 'message' && x.dataType === 'json', 'json message');
    assert.deepEqual(m.data, { n: [1, 'two'] });
    r = await cli(['send', '--hub', 'chat', '--user', 'alice', '--text', 'hé there']);
    assert.equal(r.code, 0, r.stderr);
    m = await nextMessage((x) => x.type === 'message' && x.dataType === 'text', 'text message');
    assert.equal(m.data, 'hé there');
    const bin = Buffer.from([0, 1, 2, 253, 254, 255]);
    r = await cli(['send', '--hub', 'chat', '--connection', conn, '--binary'], bin);
    assert.equal(r.code, 0, r.stderr);
    m = await nextMessage((x) => x.type === 'message' && x.dataType === 'binary', 'binary message');
    assert.deepEqual(Buffer.from(m.data, 'base64'), bin);
    r = await cli(['send', '--hub', 'chat', '--exclude', conn, 'not for alice']);
    assert.equal(r.code, 0, r.stderr);

    // permissions granted and revoked through the gateway
    const perm = ['--hub', 'chat', '--connection', conn, '--permission', 'sendToGroup', '--target', 'g2'];
    r = await cli(['permission', 'check', ...perm]);
    assert.equal(r.code, 1);
    r = await cli(['permission', 'grant', ...perm]);
    assert.equal(r.code, 0, r.stderr);
    r = await cli(['permission', 'check', ...perm]);
    assert.equal(r.code, 0, r.stderr);
    r = await cli(['permission', 'revoke', ...perm]);
    assert.equal(r.code, 0, r.stderr);
    r = await cli(['permission', 'check', ...perm]);
    assert.equal(r.code, 1);

    // an error of the service reaches the user with its code
    r = await cli(['group', 'add', '--hub', 'chat', '--group', 'g1', '--connection', 'no-such-connection']);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /^wpsgate: group add: 404 /);

    // closing the connection tells the subscriber why
    r = await cli(['connection', 'close', '--hub', 'chat', '--connection', conn, '--reason', 'maintenance']);
    assert.equal(r.code, 0, r.stderr);
    m = await nextMessage((x) => x.type === 'system' && x.event === 'disconnected', 'disconnected message');
    assert.equal(m.message, 'maintenance');
    await Promise.race([closed, new Promise((_, rej) => setTimeout(() => rej(new Error('no close')), WAIT_MS).unref())]);
    assert.equal(inbox.filter((x) => x.type === 'message').length, 0, `unexpected: ${JSON.stringify(inbox)}`);
    r = await cli(['connection', 'exists', '--hub', 'chat', '--connection', conn]);
    assert.equal(r.code, 1);

    r = await cli(['status']);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^health {11}ok$/m);

    await stop(gw);
    await stop(emu);
    // (the emulator prints its connection string, key included, by design; the gateway never)
    assert.ok(!gw.log().includes('<KEY>'), 'wpsgated logged the key');
    r = await cli(['status']);
    assert.equal(r.code, 3);
  } finally {
    if (ws) ws.terminate();
  }
});
