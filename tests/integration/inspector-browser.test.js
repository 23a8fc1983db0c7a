// inspector-browser.test.js: the emulator's inspector page in a real browser (Debian's chromium,
// headless, driven by puppeteer-core): the page loads, a client connects and an app sends a message
// with HTML in it through wpsgated; the DOM shows the connection and the message as text (no element
// made from it), filters hide and show rows, an MQTT device (the mqtt npm client) shows with its
// publishes, and a screenshot is kept under the build directory
// (tests/integration/artefacts/inspector.png). Skips (77) without chromium or puppeteer-core.
'use strict';

const fs = require('node:fs');
const path = require('node:path');
const { requireModule, BUILDDIR } = require('../lib/paths.js');

const CHROMIUM = process.env.WPSGATE_CHROMIUM || '/usr/bin/chromium';
let puppeteer;
try {
  puppeteer = requireModule('puppeteer-core');
} catch {
  console.log('tests/node_modules/puppeteer-core not installed (scripts/deps.sh installs it): skipped');
  process.exit(77);
}
if (!fs.existsSync(CHROMIUM)) {
  console.log(`${CHROMIUM} not found (Debian's chromium; scripts/deps.sh installs it): skipped`);
  process.exit(77);
}

const test = require('node:test');
const assert = require('node:assert/strict');
const h = require('../e2e/lib/harness.js');

const V = 'api-version=2024-12-01';
const ARTEFACTS = path.join(BUILDDIR, 'tests', 'integration', 'artefacts');
let emu, gw, browser;
const clients = [];

test.after(async () => {
  if (browser) await browser.close();
  for (const c of clients) {
    try { c.client ? c.client.stop() : c.ws.terminate(); } catch { /* gone */ }
  }
  if (gw) assert.deepEqual(await gw.stop(), { code: 0, signal: null });
  if (emu) assert.deepEqual(await emu.stop(), { code: 0, signal: null });
  h.killAll();
});

function post(p, contentType, body) {
  return h.unixRequest(gw.sock, 'POST', p, { contentType, body });
}

async function clientUrl(query) {
  const r = await post(`/api/hubs/chat/:generateToken?${V}&${query}`);
  assert.equal(r.status, 200, r.body);
  return JSON.parse(r.body).url;
}

test('the page shows connections and messages live, as text', { timeout: 90000 }, async () => {
  emu = await h.startEmulator();
  gw = await h.startGateway(emu);
  browser = await puppeteer.launch({
    executablePath: CHROMIUM,
    headless: 'new',
    // tests run as root here, where chromium's sandbox cannot start
    args: ['--headless=new', '--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage', '--no-first-run'],
    timeout: 30000,
  });
  const page = await browser.newPage();
  await page.setViewport({ width: 1280, height: 900 });
  const errors = [];
  page.on('pageerror', (e) => errors.push(String(e)));
  page.on('console', (m) => { if (m.type() === 'error') errors.push(m.text()); });
  // a dialog would mean a script from the data ran
  page.on('dialog', async (d) => { errors.push(`dialog: ${d.message()}`); await d.dismiss(); });

  await page.goto(`${emu.endpoint}/inspector/`, { waitUntil: 'load', timeout: 20000 });
  await page.waitForFunction(() => document.getElementById('status').dataset.state === 'live', { timeout: 10000 });

  // a browser-like client (the SDK) and a plain WebSocket client connect
  const alice = await h.subscribe(await clientUrl('userId=alice&group=room&role=webpubsub.joinLeaveGroup'));
  clients.push(alice);
  const bob = await h.rawClient(await clientUrl('userId=bob'));
  clients.push(bob);
  await page.waitForFunction(() => document.querySelectorAll('#hubs tr.conn').length === 2, { timeout: 10000 });
  const conns = await page.$$eval('#hubs tr.conn', (rows) => rows.map((r) => ({
    id: r.dataset.connId,
    user: r.querySelector('.c-user').textContent,
    groups: r.querySelector('.c-groups').textContent,
    proto: r.querySelector('.c-proto').textContent,
  })));
  const a = conns.find((c) => c.user === 'alice');
  assert.ok(a, JSON.stringify(conns));
  assert.equal(a.id, alice.connectionId);
  assert.equal(a.groups, 'room');
  assert.equal(a.proto, 'json.reliable');
  assert.equal(conns.find((c) => c.user === 'bob').proto, 'simple');

  // the app sends HTML through the gateway
  const html = '<b>html</b><img src=x onerror="alert(1)"><script>alert(2)</script>';
  let r = await post(`/api/hubs/chat/groups/room/:send?${V}`, 'text/plain', html);
  assert.equal(r.status, 202, r.body);
  r = await post(`/api/hubs/chat/users/bob/:send?${V}`, 'text/plain', 'hello bob');
  assert.equal(r.status, 202, r.body);
  await h.waitFor(() => alice.group.length === 1 && bob.frames.length === 1, 5000, 'the clients receive');
  await page.waitForFunction(() => [...document.querySelectorAll('#log-body tr.entry[data-kind="send"]')].length === 2,
    { timeout: 10000 });
  const sends = await page.$$eval('#log-body tr.entry[data-kind="send"]', (rows) => rows.map((row) => ({
    what: row.querySelector('.e-what').textContent,
    detail: row.querySelector('.e-detail').textContent,
    elements: row.querySelector('.e-detail').children.length,
  })));
  assert.equal(sends[0].detail, html, 'the message is shown as its text');
  assert.equal(sends[0].elements, 0);
  assert.match(sends[0].what, /to group room \(1 recipient/);
  assert.equal(sends[1].detail, 'hello bob');
  // nothing from the data became an element anywhere in the page
  assert.equal(await page.$$eval('main b, main img, main script', (x) => x.length), 0);
  assert.ok((await page.$$eval('#log-body tr.entry[data-kind="rest"] .e-what', (x) => x.map((e) => e.textContent)))
    .includes('POST /api/hubs/chat/groups/room/:send'));

  // a client frame: alice joins a group; the connection's groups follow
  await alice.client.joinGroup('second');
  await page.waitForFunction((id) => {
    const row = document.querySelector(`#hubs tr.conn[data-conn-id="${id}"] .c-groups`);
    return row && row.textContent.includes('second');
  }, { timeout: 10000 }, alice.connectionId);

  // filters: user bob hides alice's connection and the group send
  await page.type('#f-user', 'bob');
  await page.waitForFunction(() => document.querySelectorAll('#hubs tr.conn').length === 1, { timeout: 5000 });
  const shown = await page.$$eval('#log-body tr.entry[data-kind="send"] .e-detail', (x) => x.map((e) => e.textContent));
  assert.deepEqual(shown, ['hello bob']);
  await page.$eval('#f-user', (e) => { e.value = ''; e.dispatchEvent(new Event('input')); });
  await page.waitForFunction(() => document.querySelectorAll('#hubs tr.conn').length === 2, { timeout: 5000 });

  // a client leaves: its row goes
  bob.ws.close();
  await page.waitForFunction(() => document.querySelectorAll('#hubs tr.conn').length === 1, { timeout: 10000 });

  // an MQTT device joins the room and talks with the browser-side client
  const mqtt = h.req('mqtt');
  const { spawnSync } = require('node:child_process');
  const { WPSGATE } = require('../lib/paths.js');
  const tok = spawnSync(WPSGATE, ['--socket', gw.sock, '--timeout', '10', 'token', '--hub', 'chat', '--mqtt', '--json',
    '--user', 'device1', '--role', 'webpubsub.joinLeaveGroup', '--role', 'webpubsub.sendToGroup'], { encoding: 'utf8', timeout: 15000 });
  assert.equal(tok.status, 0, tok.stderr);
  const dev = mqtt.connect(JSON.parse(tok.stdout).url, { protocolVersion: 5, clientId: 'sensor1', reconnectPeriod: 0, connectTimeout: 5000 });
  try {
    await new Promise((resolve, reject) => { dev.once('connect', resolve); dev.once('error', reject); });
    await new Promise((resolve, reject) => dev.subscribe('room', { qos: 1 }, (e) => (e ? reject(e) : resolve())));
    await new Promise((resolve, reject) => dev.publish('room', '<i>21.5 C</i>', { qos: 1 }, (e) => (e ? reject(e) : resolve())));
    await h.waitFor(() => alice.group.length === 2, 5000, 'alice gets the device\'s publish');
    await page.waitForFunction(() => {
      const row = document.querySelector('#hubs tr.conn[data-conn-id="sensor1"]');
      return row && row.querySelector('.c-proto').textContent === 'mqtt 5.0' && row.querySelector('.c-groups').textContent === 'room';
    }, { timeout: 10000 });
    await page.waitForFunction(() => [...document.querySelectorAll('#log-body tr.entry[data-kind="client"] .e-what')]
      .some((e) => e.textContent === 'publish room'), { timeout: 10000 });
    const pub = await page.$$eval('#log-body tr.entry[data-kind="client"]', (rows) => rows
      .filter((r) => r.querySelector('.e-what').textContent === 'publish room')
      .map((r) => ({ who: r.querySelector('.e-who').textContent, detail: r.querySelector('.e-detail').textContent })));
    assert.deepEqual(pub, [{ who: 'sensor1 (device1)', detail: '<i>21.5 C</i>' }]);
    assert.equal(await page.$$eval('main i', (x) => x.length), 0);

    // the filters come from the URL too: a bookmarked view of one user
    const view = await browser.newPage();
    view.on('pageerror', (e) => errors.push(String(e)));
    await view.goto(`${emu.endpoint}/inspector/?user=device1`, { waitUntil: 'load', timeout: 20000 });
    await view.waitForFunction(() => document.getElementById('status').dataset.state === 'live', { timeout: 10000 });
    assert.equal(await view.$eval('#f-user', (e) => e.value), 'device1');
    assert.deepEqual(await view.$$eval('#hubs tr.conn', (r) => r.map((x) => x.dataset.connId)), ['sensor1']);
    assert.ok(await view.$$eval('#log-body tr.entry .e-who', (r) => r.length > 0 && r.every((x) => x.textContent.includes('sensor1') || x.textContent.includes('device1'))));
    await view.close();

    fs.mkdirSync(ARTEFACTS, { recursive: true });
  const shot = path.join(ARTEFACTS, 'inspector.png');
  await page.screenshot({ path: shot });
  assert.ok(fs.statSync(shot).size > 1000);
  console.log(`screenshot: ${shot}`);
  } finally {
    dev.end(true);
  }
  assert.deepEqual(errors, []);
});
