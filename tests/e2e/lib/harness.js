// harness.js: shared helpers of the end-to-end tests: start the real emulator (and gateway) on
// loopback, wait with bounds, collect what subscribers receive, and kill every child at the end.
'use strict';

const { spawn } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { freePort, canConnect } = require('../../lib/net.js');
const { SRCDIR, BUILDDIR, EMULATOR, WPSGATED: GATEWAY, requireModule: req } = require('../../lib/paths.js');

const children = new Set();
function killAll() {
  for (const c of children) {
    try { c.kill('SIGKILL'); } catch { /* already gone */ }
  }
  children.clear();
}
process.on('exit', killAll);

function tmpdir(prefix) {
  return fs.mkdtempSync(path.join(os.tmpdir(), prefix));
}

// Resolve when pred() is truthy; reject after ms. pred is polled every 10 ms.
async function waitFor(pred, ms = 5000, what = 'condition') {
  const end = Date.now() + ms;
  for (;;) {
    const v = await pred();
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await sleep(10);
  }
}

function sleep(ms) {
  return new Promise((r) => setTimeout(r, ms));
}

// Spawn a program and resolve with { proc, lines, stderr } once predicate(line) matches a stdout line.
function spawnUntil(cmd, args, predicate, ms = 10000) {
  return new Promise((resolve, reject) => {
    const proc = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    children.add(proc);
    const out = { proc, lines: [], stderr: '' };
    let buf = '';
    let done = false;
    const timer = setTimeout(() => {
      if (!done) {
        done = true;
        proc.kill('SIGKILL');
        reject(new Error(`${path.basename(cmd)} did not start in ${ms} ms: ${out.stderr}`));
      }
    }, ms);
    proc.stdout.on('data', (d) => {
      buf += d.toString();
      let i;
      while ((i = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, i);
        buf = buf.slice(i + 1);
        out.lines.push(line);
        if (!done && predicate(line, out)) {
          done = true;
          clearTimeout(timer);
          resolve(out);
        }
      }
    });
    proc.stderr.on('data', (d) => { out.stderr += d.toString(); });
    proc.on('error', (e) => {
      if (!done) {
        done = true;
        clearTimeout(timer);
        reject(e);
      }
    });
    proc.on('exit', (code, sig) => {
      children.delete(proc);
      out.exit = { code, sig };
      if (!done) {
        done = true;
        clearTimeout(timer);
        reject(new Error(`${path.basename(cmd)} exited (${code}, ${sig}) before it was ready: ${out.stderr}`));
      }
    });
  });
}

// Start the emulator on 127.0.0.1:0; resolves { proc, endpoint, port, connectionString, key, stop(), stderr() }.
async function startEmulator(extraArgs = [], key = 'e2e-emulator-key-' + Math.random().toString(36).slice(2)) {
  const dir = tmpdir('wpsemu-');
  const keyFile = path.join(dir, 'access-key');
  fs.writeFileSync(keyFile, key + '\n', { mode: 0o600 });
  const out = await spawnUntil(EMULATOR, ['--listen', '127.0.0.1:0', '--access-key-file', keyFile, ...extraArgs],
    (line, o) => line.startsWith('connection_string=') && o.lines.some((l) => l.startsWith('endpoint=')));
  const endpoint = out.lines.find((l) => l.startsWith('endpoint=')).slice('endpoint='.length);
  const connectionString = out.lines.find((l) => l.startsWith('connection_string=')).slice('connection_string='.length);
  return {
    proc: out.proc,
    endpoint,
    port: Number(new URL(endpoint).port),
    connectionString,
    key,
    dir,
    keyFile,
    stderr: () => out.stderr,
    // stop, then remove the directory with the key file
    stop: async () => {
      const st = await stopProc(out.proc);
      fs.rmSync(dir, { recursive: true, force: true });
      return st;
    },
  };
}

// SIGTERM and wait (bounded) for the exit; resolves with { code, signal }.
function stopProc(proc, ms = 5000) {
  return new Promise((resolve) => {
    if (proc.exitCode !== null || proc.signalCode !== null) {
      resolve({ code: proc.exitCode, signal: proc.signalCode });
      return;
    }
    const t = setTimeout(() => proc.kill('SIGKILL'), ms);
    proc.once('exit', (code, signal) => {
      clearTimeout(t);
      children.delete(proc);
      resolve({ code, signal });
    });
    proc.kill('SIGTERM');
  });
}

// A WebPubSubClient subscriber that records every event it sees.
async function subscribe(url, options = {}) {
  const { WebPubSubClient } = req('@azure/web-pubsub-client');
  const client = new WebPubSubClient(url, {
    autoReconnect: false,
    messageRetryOptions: { maxRetries: 0 },
    // short keep-alive: pings every 500 ms must be answered (pong) or the client gives up after 3 s;
    // also keeps the SDK's timers from holding the process for its 40 s default period
    keepAliveIntervalInMs: 500,
    keepAliveTimeoutInMs: 3000,
    ...options,
  });
  // all: server and group messages in arrival order
  const rec = { client, server: [], group: [], all: [], connected: [], disconnected: [], stopped: 0 };
  client.on('server-message', (e) => { rec.server.push(e.message); rec.all.push(e.message); });
  client.on('group-message', (e) => { rec.group.push(e.message); rec.all.push(e.message); });
  client.on('connected', (e) => rec.connected.push(e));
  client.on('disconnected', (e) => rec.disconnected.push(e));
  client.on('stopped', () => { rec.stopped++; });
  await client.start();
  await waitFor(() => rec.connected.length > 0, 5000, 'the connected message');
  rec.connectionId = rec.connected[0].connectionId;
  rec.userId = rec.connected[0].userId;
  return rec;
}

// A plain WebSocket client (no subprotocol unless given) that records frames as { binary, data }.
function rawClient(url, protocols) {
  const WebSocket = req('ws');
  return new Promise((resolve, reject) => {
    const ws = protocols ? new WebSocket(url, protocols) : new WebSocket(url);
    const rec = { ws, frames: [], closed: null, status: null };
    ws.on('message', (data, isBinary) => {
      rec.frames.push({ binary: isBinary, data: isBinary ? Buffer.from(data) : data.toString() });
    });
    ws.on('close', (code, reason) => { rec.closed = { code, reason: reason.toString() }; });
    ws.on('unexpected-response', (_req, res) => {
      rec.status = res.statusCode;
      let body = '';
      res.on('data', (d) => { body += d; });
      res.on('end', () => { rec.body = body; reject(Object.assign(new Error(`HTTP ${res.statusCode}`), { rec })); });
    });
    ws.on('open', () => resolve(rec));
    ws.on('error', (e) => reject(Object.assign(e, { rec })));
  });
}

// Start wpsgated in front of upstream (the emulator); extra: more configuration lines (a section such as
// events); resolves { proc, sock, tcpPort, endpoint, stop(), stderr() }.
async function startGateway(upstream, extra = []) {
  const dir = tmpdir('wpsgw-');
  const sock = path.join(dir, 'gw.sock');
  const tcpPort = await freePort();
  const cfg = path.join(dir, 'wpsgate.conf');
  fs.writeFileSync(cfg, [
    'listen = {',
    `  unix = { path = "${sock}"; mode = "0600"; };`,
    `  tcp = [ "127.0.0.1:${tcpPort}" ];`,
    '};',
    'upstream = {',
    `  endpoint = "${upstream.endpoint}";`,
    `  access_key_file = "${upstream.keyFile}";`,
    '  api_version = "2024-12-01";',
    '  timeout_ms = 10000;',
    '};',
    ...extra,
    '',
  ].join('\n'));
  const proc = spawn(GATEWAY, ['-c', cfg], { stdio: ['ignore', 'pipe', 'pipe'] });
  children.add(proc);
  let stderr = '';
  proc.stderr.on('data', (d) => { stderr += d.toString(); });
  proc.stdout.on('data', () => {});
  let exited = false;
  proc.on('exit', () => { exited = true; children.delete(proc); });
  proc.on('error', () => { exited = true; });
  await waitFor(async () => exited || (fs.existsSync(sock) && canConnect({ path: sock })), 10000, 'wpsgated to listen');
  if (exited) throw new Error(`wpsgated exited at start: ${stderr}`);
  await waitFor(() => canConnect({ host: '127.0.0.1', port: tcpPort }), 10000, 'wpsgated on TCP');
  return {
    proc, sock, tcpPort, endpoint: `http://127.0.0.1:${tcpPort}`, dir,
    stderr: () => stderr,
    stop: async () => {
      const st = await stopProc(proc);
      fs.rmSync(dir, { recursive: true, force: true });
      return st;
    },
  };
}

// One HTTP request to the gateway's Unix socket: resolves { status, headers, body } within ms.
function unixRequest(sock, method, urlPath, { contentType, body } = {}, ms = 10000) {
  const http = require('node:http');
  return new Promise((resolve, reject) => {
    const headers = {};
    if (contentType) headers['content-type'] = contentType;
    const data = body === undefined ? null : Buffer.isBuffer(body) ? body : Buffer.from(body);
    if (data) headers['content-length'] = data.length;
    const r = http.request({ socketPath: sock, method, path: urlPath, headers, timeout: ms }, (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode, headers: res.headers, body: Buffer.concat(chunks).toString() }));
    });
    r.on('timeout', () => r.destroy(new Error(`${method} ${urlPath.split('?')[0]}: no answer in ${ms} ms`)));
    r.on('error', reject);
    if (data) r.write(data);
    r.end();
  });
}

module.exports = {
  freePort, startGateway, unixRequest,
  SRCDIR, BUILDDIR, EMULATOR, GATEWAY, req, tmpdir, waitFor, sleep, spawnUntil, startEmulator, stopProc,
  subscribe, rawClient, killAll, children,
};
