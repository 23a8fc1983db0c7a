// reverse-proxy.test.js: upstream.reverse_proxy_endpoint. wpsgated sends each request to a proxy on
// loopback (standing in for Azure API Management) that forwards it to the emulator, while the token it signs
// stays made for the service: aud is the emulator's URL of the same path and query. The proxy rewrites the
// nextLink of ListConnectionsInGroup to its own host, as an API gateway may, and the gateway still hands
// the caller a link back to itself; client URLs from :generateToken keep naming the service.
'use strict';

const { test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const http = require('node:http');
const { startGateway } = require('./lib/harness');
const e2e = require('../e2e/lib/harness.js');

const HUB = 'proxied';
const V = 'api-version=2024-12-01';
let emu;
let proxy;
let gw;
const seen = []; // what reached the proxy: { method, url, aud }
const clients = [];

function audOf(authorization) {
  const m = /^Bearer ([^.]+)\.([^.]+)\./.exec(authorization || '');
  return m ? JSON.parse(Buffer.from(m[2], 'base64url').toString()).aud : null;
}

function startProxy(target) {
  const server = http.createServer((req, res) => {
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => {
      seen.push({ method: req.method, url: req.url, aud: audOf(req.headers.authorization) });
      const up = http.request({ host: '127.0.0.1', port: target.port, method: req.method, path: req.url,
        headers: { ...req.headers, host: `127.0.0.1:${target.port}` }, timeout: 10000 }, (ur) => {
        const body = [];
        ur.on('data', (c) => body.push(c));
        ur.on('end', () => {
          // an API gateway that writes links on its own host
          let b = Buffer.concat(body).toString('latin1');
          b = b.split(target.endpoint).join(`http://127.0.0.1:${server.address().port}`);
          const headers = { ...ur.headers, 'content-length': Buffer.byteLength(b, 'latin1') };
          res.writeHead(ur.statusCode, headers);
          res.end(Buffer.from(b, 'latin1'));
        });
      });
      up.on('timeout', () => up.destroy(new Error('proxy: upstream timeout')));
      up.on('error', () => { res.writeHead(502); res.end(); });
      up.end(Buffer.concat(chunks));
    });
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(server)));
}

before(async () => {
  emu = await e2e.startEmulator();
  proxy = await startProxy(emu);
  gw = await startGateway(null, {
    endpoint: emu.endpoint, key: emu.key,
    upstreamExtra: `reverse_proxy_endpoint = "http://127.0.0.1:${proxy.address().port}";`,
  });
});

after(async () => {
  for (const c of clients) c.client.stop();
  if (gw) await gw.stop();
  if (proxy) proxy.close();
  if (emu) assert.deepEqual(await emu.stop(), { code: 0, signal: null });
  e2e.killAll();
});

test('requests go to the proxy, signed for the service; the service accepts them', async () => {
  const path = `/api/hubs/${HUB}/:send?${V}`;
  const r = await gw.request({ method: 'POST', path, headers: { 'content-type': 'text/plain' }, body: 'via the proxy' });
  assert.equal(r.status, 202, r.body);
  const s = seen.find((x) => x.url === path);
  assert.ok(s, 'the send reached the proxy');
  assert.equal(s.aud, `${emu.endpoint}${path}`, 'aud is the service URL of the same path and query');
});

test('client URLs name the service; nextLink on the proxy host comes back on the gateway', async () => {
  const t = await gw.request({ method: 'POST', path: `/api/hubs/${HUB}/:generateToken?${V}&userId=u1&group=g` });
  assert.equal(t.status, 200, t.body);
  const url = JSON.parse(t.body).url;
  assert.ok(url.startsWith(emu.endpoint.replace(/^http/, 'ws')), `the client URL names the service: ${url.split('?')[0]}`);
  for (let i = 0; i < 2; i++) clients.push(await e2e.subscribe(url));
  const page = await gw.request({ method: 'GET', path: `/api/hubs/${HUB}/groups/g/connections?${V}&maxpagesize=1` });
  assert.equal(page.status, 200, page.body);
  const link = JSON.parse(page.body).nextLink;
  assert.equal(typeof link, 'string', 'a second page');
  assert.ok(link.startsWith(`/api/hubs/${HUB}/groups/g/connections?`), `the link is the gateway's own: ${link}`);
  const next = await gw.request({ method: 'GET', path: link });
  assert.equal(next.status, 200, next.body);
  assert.equal(JSON.parse(next.body).value.length, 1);
});
