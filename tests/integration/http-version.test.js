// http-version.test.js: upstream.http_version decides what the gateway speaks to an https service: "2"
// (the default) negotiates HTTP/2 and multiplexes many requests on one connection, "1.1" sends
// HTTP/1.1 with one request at a time on each of upstream.max_connections connections. The service is a
// node:http2 TLS server (HTTP/1.1 allowed) with a self-signed certificate made by openssl for the test.
'use strict';

const { test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');
const http2 = require('node:http2');
const { execFileSync } = require('node:child_process');
const { makeKey, makeTmpDir, removeTmpDir, freePort, configText, writeSecretFile, launch } = require('./lib/harness');

const RETRY_OFF = 'retry = { max_attempts = 1; breaker = { enabled = false; }; };';
const DELAY = 300;
let dir;
let crt;
let server;
let port;
const seen = []; // { version, socket, group } per request, in arrival order
let active = 0;
let maxActive = 0;

before(async () => {
  dir = makeTmpDir('wpsgate-httpver-');
  const key = path.join(dir, 'tls.key');
  crt = path.join(dir, 'tls.crt');
  execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes',
    '-days', '1', '-subj', '/CN=localhost', '-addext', 'subjectAltName=IP:127.0.0.1',
    '-keyout', key, '-out', crt], { stdio: 'ignore', timeout: 20000 });
  const sockets = new Map();
  server = http2.createSecureServer({ key: fs.readFileSync(key), cert: fs.readFileSync(crt), allowHTTP1: true },
    (req, res) => {
      const chunks = [];
      req.on('data', (c) => chunks.push(c));
      req.on('end', () => {
        const sock = req.httpVersion === '2.0' ? req.stream.session.socket : req.socket;
        if (!sockets.has(sock)) sockets.set(sock, sockets.size + 1);
        seen.push({ version: req.httpVersion, socket: sockets.get(sock), group: Buffer.concat(chunks).toString() });
        active++;
        maxActive = Math.max(maxActive, active);
        setTimeout(() => { active--; res.writeHead(202); res.end(); }, DELAY);
      });
    });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  port = server.address().port;
});

after(async () => {
  if (server) {
    if (server.closeAllConnections) server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  }
  removeTmpDir(dir);
});

async function startWith(t, version) {
  const gdir = makeTmpDir();
  const key = makeKey();
  const keyFile = path.join(gdir, 'access-key');
  writeSecretFile(keyFile, key + '\n');
  const sock = path.join(gdir, 'gw.sock');
  const tcpPort = await freePort();
  const cfgFile = path.join(gdir, 'wpsgate.conf');
  const ver = version === undefined ? '' : `http_version = "${version}";`;
  fs.writeFileSync(cfgFile, configText({ sock, tcpPort, endpoint: `https://127.0.0.1:${port}`, keyFile,
    extra: RETRY_OFF, upstreamExtra: `ca_file = "${crt}"; max_connections = 2; ${ver}` }));
  return launch(t, { dir: gdir, key, keyFile, cfgFile, sock, tcpPort });
}

async function burst(gw, n) {
  seen.length = 0;
  maxActive = 0;
  const res = await Promise.all(Array.from({ length: n }, (_, i) =>
    gw.request({ via: 'unix', method: 'POST', path: `/api/hubs/v/groups/g${i}/:send`,
                 headers: { 'content-type': 'text/plain' }, body: `g${i}` })));
  for (const r of res) assert.equal(r.status, 202, r.body);
  return seen.slice();
}

test('the default is HTTP/2: six requests at once over at most two connections, all in flight together', async (t) => {
  const gw = await startWith(t, undefined);
  const got = await burst(gw, 6);
  await gw.stop();
  assert.deepEqual([...new Set(got.map((s) => s.version))], ['2.0']);
  assert.ok(new Set(got.map((s) => s.socket)).size <= 2, `connections: ${JSON.stringify(got)}`);
  assert.equal(maxActive, 6, 'HTTP/2 multiplexes: all six at the service at once');
});

test('http_version = "1.1": HTTP/1.1, never more requests at once than max_connections', async (t) => {
  const gw = await startWith(t, '1.1');
  const got = await burst(gw, 6);
  await gw.stop();
  assert.deepEqual([...new Set(got.map((s) => s.version))], ['1.1']);
  assert.ok(maxActive <= 2, `the service held ${maxActive} at once`);
  assert.equal(got.length, 6);
});

test('http_version = "2" explicitly, and a value that is neither is refused by -t naming the key', async (t) => {
  const gw = await startWith(t, '2');
  const got = await burst(gw, 2);
  await gw.stop();
  assert.deepEqual([...new Set(got.map((s) => s.version))], ['2.0']);
  const { runGatewaySync } = require('./lib/harness');
  const cfg = path.join(dir, 'bad.conf');
  const keyFile = path.join(dir, 'bad-key');
  writeSecretFile(keyFile, makeKey() + '\n');
  fs.writeFileSync(cfg, configText({ sock: path.join(dir, 'bad.sock'), tcpPort: 1, endpoint: `https://127.0.0.1:${port}`,
    keyFile, upstreamExtra: 'http_version = "3";' }));
  const r = runGatewaySync(['-t', '-c', cfg]);
  assert.notEqual(r.status, 0);
  assert.match(r.stderr + r.stdout, /upstream\.http_version/);
});
