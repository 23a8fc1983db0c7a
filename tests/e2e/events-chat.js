// events-chat.js: the chat round trip of README's second demonstration, end to end on loopback with the
// official packages. @azure/web-pubsub-client connects to wpsgate-emulator; the emulator calls its event
// handler, which is wpsgated's events listener; wpsgated verifies each call and forwards it to an app built
// with @azure/web-pubsub-express on a Unix socket (tests/e2e/lib/chat-app.js), which holds no key. The app's
// connect handler names the user and puts it in a group, its message handler answers, and it sends to the
// group through wpsgated's REST side; the client receives both.
'use strict';

const test = require('node:test');
const assert = require('node:assert');
const fs = require('node:fs');
const path = require('node:path');
const { spawn } = require('node:child_process');
const h = require('./lib/harness.js');

const HUB = 'chat';
let emu;
let gw;
let app;
let dir;
const seen = [];
const clients = [];

function startApp(appSock, gwSock) {
  // A clean environment: nothing of the test's (or the gateway's) reaches the app.
  const env = { PATH: process.env.PATH, HOME: process.env.HOME || '/' };
  const proc = spawn(process.execPath, [path.join(h.SRCDIR, 'scripts', 'chat-app.js'), appSock, gwSock, HUB],
    { stdio: ['ignore', 'pipe', 'pipe'], env });
  h.children.add(proc);
  let buf = '';
  proc.stdout.on('data', (d) => {
    buf += d.toString();
    let i;
    while ((i = buf.indexOf('\n')) >= 0) {
      seen.push(JSON.parse(buf.slice(0, i)));
      buf = buf.slice(i + 1);
    }
  });
  let stderr = '';
  proc.stderr.on('data', (d) => { stderr += d.toString(); });
  return { proc, stderr: () => stderr };
}

test.before(async () => {
  const evPort = await h.freePort();
  const handler = `${HUB}=http://127.0.0.1:${evPort}/eventhandler;user=*;system=connect,connected,disconnected`;
  emu = await h.startEmulator(['--event-handler', handler]);
  dir = h.tmpdir('wpschat-');
  const appSock = path.join(dir, 'app.sock');
  gw = await h.startGateway(emu, [
    'events = {',
    `  listen = [ "127.0.0.1:${evPort}" ];`,
    `  forward = "unix:${appSock}";`,
    '  path = "/eventhandler";',
    '  timeout_ms = 5000;',
    '};',
  ]);
  app = startApp(appSock, gw.sock);
  await h.waitFor(() => seen.some((s) => s.listening), 10000, 'the app to listen');
});

test.after(async () => {
  for (const c of clients) c.client.stop();
  if (app) {
    app.proc.kill('SIGTERM');
    await h.stopProc(app.proc);
  }
  if (gw) assert.deepStrictEqual(await gw.stop(), { code: 0, signal: null });
  if (emu) assert.deepStrictEqual(await emu.stop(), { code: 0, signal: null });
  h.killAll();
  if (dir) fs.rmSync(dir, { recursive: true, force: true });
});

async function clientUrl() {
  // The client's token comes from the gateway, which signs it: no key in the test's client either.
  const r = await h.unixRequest(gw.sock, 'POST', `/api/hubs/${HUB}/:generateToken?api-version=2024-12-01`);
  assert.strictEqual(r.status, 200, r.body);
  return JSON.parse(r.body).url;
}

test('chat round trip: connect assigns the user and group, the answer and the group message come back', async () => {
  const { WebPubSubClient } = h.req('@azure/web-pubsub-client');
  const c = await h.subscribe(await clientUrl());
  clients.push(c);
  assert.strictEqual(c.userId, 'alice', 'the app named the user in its connect answer');
  await h.waitFor(() => seen.some((s) => s.seen === 'connected' && s.connectionId === c.connectionId), 5000,
    'the connected event at the app');

  // A user event: the app's answer comes back to the client as a server message.
  const ack = await c.client.sendEvent('hello', 'hi there', 'text', { fireAndForget: false });
  assert.ok(ack, 'the event was acknowledged');
  await h.waitFor(() => c.server.some((m) => m.data === 'echo: hi there'), 5000, 'the app\'s answer');
  const user = seen.find((s) => s.seen === 'user' && s.event === 'hello');
  assert.deepStrictEqual({ userId: user.userId, data: user.data, dataType: user.dataType, state: user.state },
    { userId: 'alice', data: 'hi there', dataType: 'text', state: 'alice-the-first' },
    'the app sees the user event with the user and the state it set at connect');

  // The app sends to the group it put the client in, through the gateway's REST side.
  await c.client.sendEvent('shout', 'good morning', 'text', { fireAndForget: false });
  await h.waitFor(() => seen.some((s) => s.seen === 'sent'), 5000, 'the app to send');
  assert.strictEqual(seen.find((s) => s.seen === 'sent').status, 202);
  await h.waitFor(() => c.all.some((m) => m.data === 'alice says good morning'), 5000, 'the group message');
  const gm = c.all.find((m) => m.data === 'alice says good morning');
  assert.strictEqual(gm.group, 'room');
  assert.ok(WebPubSubClient);

  // Disconnect reaches the app too.
  c.client.stop();
  await h.waitFor(() => seen.some((s) => s.seen === 'disconnected' && s.connectionId === c.connectionId), 5000,
    'the disconnected event at the app');
});

test('the app never holds the key and never sees a signature', async () => {
  const environ = fs.readFileSync(`/proc/${app.proc.pid}/environ`, 'latin1');
  const cmdline = fs.readFileSync(`/proc/${app.proc.pid}/cmdline`, 'latin1');
  for (const s of [environ, cmdline]) {
    assert.ok(!s.includes(emu.key), 'no key in the app\'s environment or arguments');
    assert.ok(!/AccessKey=|WebPubSubConnectionString/i.test(s), 'no connection string');
  }
  const reqs = seen.filter((s) => s.seen === 'request');
  assert.ok(reqs.length >= 4, `the app got the event calls (${reqs.length})`);
  for (const r of reqs) {
    assert.strictEqual(r.headers['ce-signature'], undefined, 'the gateway removed the signature');
    assert.ok(!JSON.stringify(r.headers).includes(emu.key), 'no key in what reached the app');
  }
  assert.strictEqual(app.stderr(), '', 'the app logged no error');
});
