// emulator-limits.js: the emulator's bounds with real sockets: maximum connections (503), frame
// size (close 1009), slow consumers dropped at the send-queue cap, handshake refusals, clean exits.
'use strict';

const test = require('node:test');
const assert = require('node:assert');
const h = require('./lib/harness.js');

const { WebPubSubServiceClient } = h.req('@azure/web-pubsub');
const opts = { allowInsecureConnection: true, retryOptions: { maxRetries: 0 } };

test.after(() => h.killAll());

test('connections past --max-connections get 503, and a freed slot is usable again', { timeout: 20000 }, async () => {
  const emu = await h.startEmulator(['--max-connections', '3']);
  try {
    const svc = new WebPubSubServiceClient(emu.connectionString, 'lim', opts);
    const url = (await svc.getClientAccessToken()).url;
    const held = [];
    for (let i = 0; i < 3; i++) held.push(await h.rawClient(url));
    await assert.rejects(h.rawClient(url), (e) => e.rec && e.rec.status === 503);
    held[0].ws.close();
    await h.waitFor(() => held[0].closed, 5000, 'the close');
    // the slot frees once the emulator has seen the close; retry within a bounded time
    const again = await h.waitFor(async () => h.rawClient(url).catch(() => null), 5000, 'a free slot');
    held.push(again);
    for (const c of held) c.ws.terminate();
  } finally {
    assert.deepStrictEqual(await emu.stop(), { code: 0, signal: null });
  }
});

test('300 clients connecting at once are all served and all receive a broadcast', { timeout: 40000 }, async () => {
  const emu = await h.startEmulator();
  const held = [];
  try {
    const svc = new WebPubSubServiceClient(emu.connectionString, 'many', opts);
    const url = (await svc.getClientAccessToken()).url;
    held.push(...await Promise.all(Array.from({ length: 300 }, () => h.rawClient(url))));
    await svc.sendToAll('to everyone', { contentType: 'text/plain' });
    await h.waitFor(() => held.every((c) => c.frames.length === 1), 20000, 'all 300 clients to receive');
    assert.ok(held.every((c) => c.frames[0].data === 'to everyone'));
  } finally {
    for (const c of held) c.ws.terminate();
    assert.deepStrictEqual(await emu.stop(), { code: 0, signal: null });
  }
});

test('a frame over --max-frame-bytes closes the connection with 1009', { timeout: 20000 }, async () => {
  const emu = await h.startEmulator(['--max-frame-bytes', '1024']);
  try {
    const svc = new WebPubSubServiceClient(emu.connectionString, 'lim', opts);
    const url = (await svc.getClientAccessToken({ roles: ['webpubsub.joinLeaveGroup'] })).url;
    const c = await h.rawClient(url, 'json.webpubsub.azure.v1');
    c.ws.send(JSON.stringify({ type: 'joinGroup', group: 'g', ackId: 1 }));
    await h.waitFor(() => c.frames.length === 2, 5000, 'connected and ack');
    assert.deepStrictEqual(JSON.parse(c.frames[1].data), { type: 'ack', ackId: 1, success: true });
    c.ws.send(JSON.stringify({ type: 'event', event: 'e', dataType: 'text', data: 'x'.repeat(2000) }));
    await h.waitFor(() => c.closed, 5000, 'the close');
    assert.strictEqual(c.closed.code, 1009);
    // a REST body over the same limit is refused with 413
    const big = 'y'.repeat(2048);
    await assert.rejects(svc.sendToAll(big, { contentType: 'text/plain' }), (e) => e.statusCode === 413);
  } finally {
    assert.deepStrictEqual(await emu.stop(), { code: 0, signal: null });
  }
});

test('a client that stops reading is dropped at --max-send-queue-bytes', { timeout: 40000 }, async () => {
  const emu = await h.startEmulator(['--max-send-queue-bytes', '65536']);
  try {
    const svc = new WebPubSubServiceClient(emu.connectionString, 'lim', opts);
    const slow = await h.rawClient((await svc.getClientAccessToken({ userId: 'slow' })).url);
    const fast = await h.rawClient((await svc.getClientAccessToken({ userId: 'fast' })).url);
    slow.ws._socket.pause();       // stop reading: the kernel buffers fill, then the emulator's queue
    const chunk = 'z'.repeat(32 * 1024);
    let sent = 0;
    for (; sent < 1000 && await svc.userExists('slow'); sent++) {
      await svc.sendToAll(chunk, { contentType: 'text/plain' });
      // let the fast client keep up so that only the slow one falls behind
      await h.waitFor(() => fast.frames.length === sent + 1, 5000, 'the fast client');
    }
    assert.ok(sent < 1000, 'the slow client was dropped');
    assert.strictEqual(await svc.userExists('slow'), false);
    assert.strictEqual(await svc.userExists('fast'), true);
    assert.match(emu.stderr(), /level=warn msg="connection \S+ is too slow: more than 65536 bytes queued, dropped"/);
    fast.ws.terminate();
    slow.ws.terminate();
  } finally {
    assert.deepStrictEqual(await emu.stop(), { code: 0, signal: null });
  }
});

test('handshakes the service would refuse are refused', { timeout: 20000 }, async () => {
  const emu = await h.startEmulator();
  try {
    const svc = new WebPubSubServiceClient(emu.connectionString, 'lim', opts);
    const url = (await svc.getClientAccessToken()).url;
    await assert.rejects(h.rawClient(url, 'protobuf.webpubsub.azure.v1'), (e) => e.rec.status === 400);
    await assert.rejects(h.rawClient(url.split('?')[0]), (e) => e.rec.status === 401);
    await assert.rejects(h.rawClient(url.replace('access_token=', 'access_token=x')), (e) => e.rec.status === 401);
    // the token in the Authorization header works as well
    const token = url.split('access_token=')[1];
    const WebSocket = h.req('ws');
    const ws = new WebSocket(url.split('?')[0], 'json.webpubsub.azure.v1', { headers: { authorization: `Bearer ${token}` } });
    const first = await new Promise((resolve, reject) => {
      ws.once('message', (d) => resolve(JSON.parse(d.toString())));
      ws.once('error', reject);
    });
    assert.strictEqual(first.event, 'connected');
    ws.terminate();
    // a plain GET without Upgrade
    const r = await fetch(url.replace('ws://', 'http://'));
    assert.strictEqual(r.status, 400);
    assert.strictEqual((await r.json()).code, 'BadRequest');
    // no secret in the log, though the token went by in URLs
    assert.ok(!emu.stderr().includes(token.split('.')[2]), 'no token in the log');
    assert.ok(!emu.stderr().includes(emu.key), 'no key in the log');
  } finally {
    assert.deepStrictEqual(await emu.stop(), { code: 0, signal: null });
  }
});

test('SIGINT with clients connected exits 0; bad arguments exit 2', { timeout: 20000 }, async () => {
  const emu = await h.startEmulator();
  const svc = new WebPubSubServiceClient(emu.connectionString, 'lim', opts);
  const c = await h.rawClient((await svc.getClientAccessToken()).url);
  const exited = new Promise((resolve) => emu.proc.once('exit', (code, signal) => resolve({ code, signal })));
  emu.proc.kill('SIGINT');
  assert.deepStrictEqual(await exited, { code: 0, signal: null });
  await h.waitFor(() => c.closed, 5000, 'the client to see the close');
  assert.strictEqual(c.closed.code, 1001);
  const { spawnSync } = require('node:child_process');
  const r = spawnSync(h.EMULATOR, ['--listen', '127.0.0.1:0'], { timeout: 5000 });
  assert.strictEqual(r.status, 2);
  const r2 = spawnSync(h.EMULATOR, ['--listen', '10.1.2.3:0', '--access-key-file', emu.keyFile], { timeout: 5000 });
  assert.strictEqual(r2.status, 1);
  assert.match(r2.stderr.toString(), /loopback address only/);
});
