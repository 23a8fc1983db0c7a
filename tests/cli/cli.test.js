// cli.test.js: the real `wpsgate` binary against a fake gateway (a node HTTP server on a unix socket
// in a temp dir, and on 127.0.0.1) that records every request: exact method, path, query, body,
// Content-Type, exit codes and outputs of each command.
'use strict';

const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const http = require('node:http');
const os = require('node:os');
const path = require('node:path');
const { spawn } = require('node:child_process');

const { WPSGATE } = require('../lib/paths.js');
const RUN_TIMEOUT_MS = 20000;

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'wpsgate-cli-'));
const SOCK = path.join(tmp, 'gw.sock');
const requests = [];
const queue = [];          // one-shot answers, in order
let server, tcpServer, tcpPort;
const children = new Set();

process.on('exit', () => {
  for (const c of children) { try { c.kill('SIGKILL'); } catch { /* gone */ } }
  fs.rmSync(tmp, { recursive: true, force: true });
});

function defaultAnswer(method) {
  switch (method) {
    case 'HEAD': return { status: 200 };
    case 'GET': return { status: 200, body: '{}', type: 'application/json' };
    case 'PUT': return { status: 200 };
    case 'DELETE': return { status: 204 };
    default: return { status: 202 };
  }
}

function handler(req, res) {
  const chunks = [];
  req.on('data', (c) => chunks.push(c));
  req.on('end', () => {
    const qi = req.url.indexOf('?');
    requests.push({
      method: req.method,
      path: qi < 0 ? req.url : req.url.slice(0, qi),
      query: qi < 0 ? '' : req.url.slice(qi + 1),
      headers: req.headers,
      body: Buffer.concat(chunks),
    });
    const a = queue.length ? queue.shift() : defaultAnswer(req.method);
    const headers = Object.assign({}, a.headers || {});
    if (a.type) headers['content-type'] = a.type;
    res.writeHead(a.status, headers);
    res.end(req.method === 'HEAD' ? undefined : (a.body || ''));
  });
}

// Run wpsgate with args; resolves {code, stdout (string), stderr}. Never hangs past RUN_TIMEOUT_MS.
function run(args, opts = {}) {
  return new Promise((resolve, reject) => {
    const env = Object.assign({}, process.env, opts.env || {});
    if (!opts.env || !('WPSGATE_SOCKET' in opts.env)) delete env.WPSGATE_SOCKET;
    const full = opts.noSocket ? args : ['--socket', SOCK, ...args];
    const child = spawn(WPSGATE, full, { env, stdio: ['pipe', 'pipe', 'pipe'] });
    children.add(child);
    const out = [], err = [];
    child.stdout.on('data', (d) => out.push(d));
    child.stderr.on('data', (d) => err.push(d));
    const timer = setTimeout(() => { child.kill('SIGKILL'); reject(new Error(`wpsgate ${args.join(' ')}: timed out`)); },
      RUN_TIMEOUT_MS);
    child.on('error', (e) => { clearTimeout(timer); reject(e); });
    child.on('close', (code) => {
      clearTimeout(timer);
      children.delete(child);
      resolve({ code, stdout: Buffer.concat(out).toString(), stderr: Buffer.concat(err).toString() });
    });
    child.stdin.on('error', () => { /* the client may not read stdin */ });
    if (opts.stdin !== undefined) child.stdin.end(opts.stdin); else child.stdin.end();
  });
}

// Run a command expected to make exactly one request; returns {r, req}.
async function one(args, opts) {
  requests.length = 0;
  const r = await run(args, opts);
  assert.equal(requests.length, 1, `one request for ${args.join(' ')}; stderr: ${r.stderr}`);
  return { r, req: requests[0] };
}

function expectReq(req, method, p, query, ctype, body) {
  assert.equal(req.method, method);
  assert.equal(req.path, p);
  assert.equal(req.query, query);
  assert.equal(req.headers['content-type'], ctype);
  assert.equal(req.headers.authorization, undefined);
  assert.equal(req.headers.expect, undefined);
  if (body !== undefined) assert.deepEqual(req.body, Buffer.isBuffer(body) ? body : Buffer.from(body));
}

test.before(async () => {
  server = http.createServer(handler);
  await new Promise((res, rej) => { server.once('error', rej); server.listen(SOCK, res); });
  tcpServer = http.createServer(handler);
  await new Promise((res, rej) => { tcpServer.once('error', rej); tcpServer.listen(0, '127.0.0.1', res); });
  tcpPort = tcpServer.address().port;
});

test.after(() => { server.close(); tcpServer.close(); });

test('send to the hub: text by default, DATA byte for byte', async () => {
  const { r, req } = await one(['send', '--hub', 'chat', 'hello world']);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout, '');
  expectReq(req, 'POST', '/api/hubs/chat/:send', '', 'text/plain', 'hello world');
  assert.equal(req.headers['content-length'], '11');
  assert.equal(req.headers.host, 'localhost');
});

test('send to a group: json, excluded in order, filter, ttl, encoded path', async () => {
  const { r, req } = await one(['send', '--hub', 'chat', '--group', 'g 1/x', '--json',
    '--exclude', 'c1', '--exclude', 'c&2', '--filter', "userId ne 'bob'", '--ttl', '30', '{"a":[1,2]}']);
  assert.equal(r.code, 0, r.stderr);
  expectReq(req, 'POST', '/api/hubs/chat/groups/g%201%2Fx/:send',
    'excluded=c1&excluded=c%262&filter=userId%20ne%20%27bob%27&messageTtlSeconds=30', 'application/json', '{"a":[1,2]}');
});

test('send to a user: binary from stdin (no DATA), every byte value', async () => {
  const bytes = Buffer.alloc(3000);
  for (let i = 0; i < bytes.length; i++) bytes[i] = i % 256;
  const { r, req } = await one(['send', '--hub', 'chat', '--user', 'user@example.com/x', '--binary',
    '--filter', "'g1' in groups"], { stdin: bytes });
  assert.equal(r.code, 0, r.stderr);
  expectReq(req, 'POST', '/api/hubs/chat/users/user%40example.com%2Fx/:send', 'filter=%27g1%27%20in%20groups',
    'application/octet-stream', bytes);
});

test('send to a connection: text from stdin with -, ttl 0', async () => {
  const { r, req } = await one(['send', '--hub', 'chat', '--connection', 'conn~1', '--text', '--ttl', '0', '-'],
    { stdin: 'line one\nline two\n' });
  assert.equal(r.code, 0, r.stderr);
  expectReq(req, 'POST', '/api/hubs/chat/connections/conn~1/:send', 'messageTtlSeconds=0', 'text/plain',
    'line one\nline two\n');
});

test('send: an empty message from stdin is sent with Content-Length 0', async () => {
  const { r, req } = await one(['send', '--hub', 'chat'], { stdin: '' });
  assert.equal(r.code, 0, r.stderr);
  expectReq(req, 'POST', '/api/hubs/chat/:send', '', 'text/plain', '');
  assert.equal(req.headers['content-length'], '0');
});

test('send: usage errors exit 2 and send nothing', async () => {
  const cases = [
    [['send', 'x'], /--hub is required/],
    [['send', '--hub', 'chat', '--json', '{"a":'], /not valid JSON/],
    [['send', '--hub', 'chat', '--ttl', '301', 'x'], /--ttl needs an integer from 0 to 300/],
    [['send', '--hub', 'chat', '--ttl', '5s', 'x'], /--ttl/],
    [['send', '--hub', 'chat', '--group', 'g', '--user', 'u', 'x'], /at most one of --group/],
    [['send', '--hub', 'chat', '--group', 'g', '--group', 'h', 'x'], /at most one of --group/],
    [['send', '--hub', 'chat', '--json', '--text', 'x'], /at most one of --json/],
    [['send', '--hub', 'chat', '--user', 'u', '--exclude', 'c', 'x'], /--exclude applies/],
    [['send', '--hub', 'chat', '--connection', 'c', '--filter', 'f', 'x'], /--filter does not apply/],
    [['send', '--hub', 'chat', '--hub', 'other', 'x'], /--hub given more than once/],
    [['send', '--hub', 'chat', 'x', 'y'], /unexpected argument `y`/],
    [['send', '--hub', 'chat', '--reason', 'r', 'x'], /--reason does not apply to `wpsgate send`/],
    [['send', '--hub', 'chat', '--bogus', 'x'], /unrecognized option/],
    [['--url', 'http://127.0.0.1:1', 'status'], /not both/],
    [['--socket', 'a', 'status'], /--socket given more than once/],
    [['frobnicate'], /unknown command `frobnicate`/],
    [['group'], /`group` needs a subcommand/],
    [['group', 'frob', '--hub', 'h'], /unknown subcommand `group frob`/],
    [[], /Usage: wpsgate/],
  ];
  for (const [args, re] of cases) {
    requests.length = 0;
    const r = await run(args);
    assert.equal(r.code, 2, `${args.join(' ')}: ${r.stderr}`);
    assert.match(r.stderr, re, args.join(' '));
    assert.equal(requests.length, 0, args.join(' '));
  }
});

test('token: query in order, prints the url; --json prints the object', async () => {
  const answer = { token: 'tok.en.x', baseUrl: 'wss://h.example/client/hubs/chat',
    url: 'wss://h.example/client/hubs/chat?access_token=tok.en.x' };
  queue.push({ status: 200, type: 'application/json', body: JSON.stringify(answer) });
  let { r, req } = await one(['token', '--hub', 'chat', '--user', 'al ice', '--role', 'webpubsub.joinLeaveGroup',
    '--role', 'webpubsub.sendToGroup.g1', '--group', 'g1', '--group', 'g 2', '--minutes', '5', '--mqtt']);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout, `${answer.url}\n`);
  expectReq(req, 'POST', '/api/hubs/chat/:generateToken',
    'userId=al%20ice&role=webpubsub.joinLeaveGroup&role=webpubsub.sendToGroup.g1&group=g1&group=g%202' +
    '&minutesToExpire=5&clientType=MQTT', undefined, '');
  assert.equal(req.headers['content-length'], '0');

  queue.push({ status: 200, type: 'application/json', body: JSON.stringify(answer) });
  ({ r, req } = await one(['token', '--hub', 'chat', '--client-type', 'MQTT']));
  assert.equal(r.code, 0, r.stderr);
  expectReq(req, 'POST', '/api/hubs/chat/:generateToken', 'clientType=MQTT', undefined, '');
  queue.push({ status: 200, type: 'application/json', body: JSON.stringify(answer) });
  ({ r, req } = await one(['token', '--hub', 'chat', '--client-type', 'default']));
  assert.equal(r.code, 0, r.stderr);
  expectReq(req, 'POST', '/api/hubs/chat/:generateToken', '', undefined, '');
  for (const bad of [['--client-type', 'iot'], ['--mqtt', '--client-type', 'mqtt'], ['--client-type', 'mqtt', '--client-type', 'mqtt']]) {
    requests.length = 0;
    const b = await run(['token', '--hub', 'chat', ...bad]);
    assert.equal(requests.length, 0, bad.join(' '));
    assert.equal(b.code, 2, bad.join(' '));
    assert.match(b.stderr, /--client-type/);
  }

  queue.push({ status: 200, type: 'application/json', body: JSON.stringify(answer) });
  ({ r, req } = await one(['token', '--hub', 'chat', '--json']));
  assert.equal(r.code, 0, r.stderr);
  assert.deepEqual(JSON.parse(r.stdout), answer);
  expectReq(req, 'POST', '/api/hubs/chat/:generateToken', '', undefined, '');

  requests.length = 0;
  r = await run(['token', '--hub', 'chat', '--minutes', '0']);
  assert.equal(r.code, 2);
  assert.equal(requests.length, 0);
});

test('group add/remove with a connection, a user, or a filter', async () => {
  let { r, req } = await one(['group', 'add', '--hub', 'chat', '--group', 'g1', '--connection', 'c/1']);
  assert.equal(r.code, 0, r.stderr);
  expectReq(req, 'PUT', '/api/hubs/chat/groups/g1/connections/c%2F1', '', undefined, '');
  ({ r, req } = await one(['group', 'add', '--hub', 'chat', '--group', 'g1', '--user', 'u1']));
  assert.equal(r.code, 0, r.stderr);
  expectReq(req, 'PUT', '/api/hubs/chat/users/u1/groups/g1', '', undefined, '');
  ({ r, req } = await one(['group', 'remove', '--hub', 'chat', '--group', 'g1', '--connection', 'c1']));
  assert.equal(r.code, 0, r.stderr);
  expectReq(req, 'DELETE', '/api/hubs/chat/groups/g1/connections/c1', '', undefined, '');
  assert.equal(req.headers['content-length'], undefined);
  ({ r, req } = await one(['group', 'remove', '--hub', 'chat', '--group', 'g1', '--user', 'u@1']));
  assert.equal(r.code, 0, r.stderr);
  expectReq(req, 'DELETE', '/api/hubs/chat/users/u%401/groups/g1', '', undefined, '');
  ({ r, req } = await one(['group', 'add', '--hub', 'chat', '--group', 'g1', '--group', 'g2', '--filter', "userId eq 'a'"]));
  assert.equal(r.code, 0, r.stderr);
  expectReq(req, 'POST', '/api/hubs/chat/:addToGroups', '', 'application/json',
    '{"groups":["g1","g2"],"filter":"userId eq \'a\'"}');
  ({ r, req } = await one(['group', 'remove', '--hub', 'chat', '--group', 'g1', '--filter', 'x']));
  assert.equal(r.code, 0, r.stderr);
  expectReq(req, 'POST', '/api/hubs/chat/:removeFromGroups', '', 'application/json', '{"groups":["g1"],"filter":"x"}');

  for (const args of [['group', 'add', '--hub', 'chat', '--group', 'g1'],
    ['group', 'add', '--hub', 'chat', '--group', 'g1', '--user', 'u', '--connection', 'c'],
    ['group', 'add', '--hub', 'chat', '--connection', 'c']]) {
    requests.length = 0;
    const u = await run(args);
    assert.equal(u.code, 2, args.join(' '));
    assert.equal(requests.length, 0);
  }
});

test('exists commands: 0 when 200, 1 when 404, HEAD on the right path', async () => {
  const cases = [
    [['group', 'exists', '--hub', 'chat', '--group', 'g1'], '/api/hubs/chat/groups/g1', ''],
    [['user', 'exists', '--hub', 'chat', '--user', 'u 1'], '/api/hubs/chat/users/u%201', ''],
    [['connection', 'exists', '--hub', 'chat', '--connection', 'c1'], '/api/hubs/chat/connections/c1', ''],
    [['permission', 'check', '--hub', 'chat', '--connection', 'c1', '--permission', 'joinLeaveGroup',
      '--target', 'g1'], '/api/hubs/chat/permissions/joinLeaveGroup/connections/c1', 'targetName=g1'],
  ];
  for (const [args, p, q] of cases) {
    let { r, req } = await one(args);
    assert.equal(r.code, 0, `${args.join(' ')}: ${r.stderr}`);
    assert.equal(r.stdout, '');
    expectReq(req, 'HEAD', p, q, undefined, '');
    queue.push({ status: 404 });
    ({ r, req } = await one(args));
    assert.equal(r.code, 1, args.join(' '));
    assert.equal(r.stderr, '');
    queue.push({ status: 500, headers: { 'x-ms-error-code': 'Error.Internal' } });
    ({ r } = await one(args));
    assert.equal(r.code, 1);
    assert.match(r.stderr, /: 500 Error\.Internal/);
  }
});

test('group list follows nextLink, prints one line per connection; --json and --top', async () => {
  const page1 = { value: [{ connectionId: 'c1', userId: 'u1' }, { connectionId: 'c2' }],
    nextLink: 'https://x.webpubsub.azure.com/api/hubs/chat/groups/g1/connections?api-version=2024-12-01&maxpagesize=2&continuationToken=abc%2B1%3D' };
  const page2 = { value: [{ connectionId: 'c3', userId: 'u3' }] };
  queue.push({ status: 200, type: 'application/json', body: JSON.stringify(page1) });
  queue.push({ status: 200, type: 'application/json', body: JSON.stringify(page2) });
  requests.length = 0;
  let r = await run(['group', 'list', '--hub', 'chat', '--group', 'g1', '--max-page-size', '2']);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout, 'c1\tu1\nc2\t\nc3\tu3\n');
  assert.equal(requests.length, 2);
  expectReq(requests[0], 'GET', '/api/hubs/chat/groups/g1/connections', 'maxpagesize=2', undefined, '');
  expectReq(requests[1], 'GET', '/api/hubs/chat/groups/g1/connections', 'maxpagesize=2&continuationToken=abc%2B1%3D',
    undefined, '');

  queue.push({ status: 200, type: 'application/json', body: JSON.stringify(page1) });
  requests.length = 0;
  r = await run(['group', 'list', '--hub', 'chat', '--group', 'g1', '--top', '2', '--json']);
  assert.equal(r.code, 0, r.stderr);
  assert.deepEqual(JSON.parse(r.stdout), page1.value);
  assert.equal(requests.length, 1);
  assert.equal(requests[0].query, 'top=2');

  queue.push({ status: 200, type: 'application/json', body: '{"nope":1}' });
  r = await run(['group', 'list', '--hub', 'chat', '--group', 'g1']);
  assert.equal(r.code, 1);
  assert.match(r.stderr, /no "value" array/);
});

test('close commands and remove-from-groups', async () => {
  const cases = [
    [['group', 'close', '--hub', 'chat', '--group', 'g1', '--exclude', 'c1', '--reason', 'bye now'],
      'POST', '/api/hubs/chat/groups/g1/:closeConnections', 'excluded=c1&reason=bye%20now'],
    [['user', 'close', '--hub', 'chat', '--user', 'u1', '--exclude', 'a', '--exclude', 'b'],
      'POST', '/api/hubs/chat/users/u1/:closeConnections', 'excluded=a&excluded=b'],
    [['user', 'remove-from-groups', '--hub', 'chat', '--user', 'u1'], 'DELETE', '/api/hubs/chat/users/u1/groups', ''],
    [['connection', 'close', '--hub', 'chat', '--connection', 'c1', '--reason', 'idle'],
      'DELETE', '/api/hubs/chat/connections/c1', 'reason=idle'],
    [['connection', 'close', '--hub', 'chat', '--connection', 'c1'], 'DELETE', '/api/hubs/chat/connections/c1', ''],
    [['connection', 'close-all', '--hub', 'chat', '--reason', 'maintenance'],
      'POST', '/api/hubs/chat/:closeConnections', 'reason=maintenance'],
    [['connection', 'remove-from-groups', '--hub', 'chat', '--connection', 'c1'],
      'DELETE', '/api/hubs/chat/connections/c1/groups', ''],
  ];
  for (const [args, m, p, q] of cases) {
    const { r, req } = await one(args);
    assert.equal(r.code, 0, `${args.join(' ')}: ${r.stderr}`);
    expectReq(req, m, p, q, undefined, '');
  }
});

test('permission grant and revoke; a bad permission name is a usage error', async () => {
  let { r, req } = await one(['permission', 'grant', '--hub', 'chat', '--connection', 'c1', '--permission',
    'sendToGroup', '--target', 'g 1']);
  assert.equal(r.code, 0, r.stderr);
  expectReq(req, 'PUT', '/api/hubs/chat/permissions/sendToGroup/connections/c1', 'targetName=g%201', undefined, '');
  ({ r, req } = await one(['permission', 'revoke', '--hub', 'chat', '--connection', 'c1', '--permission', 'joinLeaveGroup']));
  assert.equal(r.code, 0, r.stderr);
  expectReq(req, 'DELETE', '/api/hubs/chat/permissions/joinLeaveGroup/connections/c1', '', undefined, '');
  requests.length = 0;
  r = await run(['permission', 'grant', '--hub', 'chat', '--connection', 'c1', '--permission', 'admin']);
  assert.equal(r.code, 2);
  assert.match(r.stderr, /sendToGroup or joinLeaveGroup/);
  r = await run(['permission', 'grant', '--hub', 'chat', '--permission', 'sendToGroup']);
  assert.equal(r.code, 2);
  assert.match(r.stderr, /--connection is required/);
  assert.equal(requests.length, 0);
});

test('an error answer exits 1 and prints its code and message', async () => {
  queue.push({ status: 400, type: 'application/json', body: '{"code":"InvalidParameter","message":"hub is invalid"}' });
  let { r } = await one(['send', '--hub', 'chat', 'x']);
  assert.equal(r.code, 1);
  assert.equal(r.stderr, 'wpsgate: send: 400 InvalidParameter: hub is invalid\n');
  queue.push({ status: 502, type: 'text/plain', body: 'bad\ngateway' });
  ({ r } = await one(['group', 'add', '--hub', 'chat', '--group', 'g', '--user', 'u']));
  assert.equal(r.code, 1);
  assert.equal(r.stderr, 'wpsgate: group add: 502: bad gateway\n');
});

test('an unreachable gateway exits 3', async () => {
  const r = await run(['--socket', path.join(tmp, 'none.sock'), 'send', '--hub', 'chat', 'x'], { noSocket: true });
  assert.equal(r.code, 3);
  assert.equal(r.stderr, `wpsgate: cannot reach the gateway at unix:${path.join(tmp, 'none.sock')}: No such file or directory\n`);
  const t = await run(['--url', 'http://127.0.0.1:1', 'status'], { noSocket: true });
  assert.equal(t.code, 3);
  const u = await run(['--url', 'ftp://127.0.0.1:1', 'status'], { noSocket: true });
  assert.equal(u.code, 2);
  const s = await run(['--url', 'https://127.0.0.1:1', 'status'], { noSocket: true });
  assert.equal(s.code, 2);
  assert.match(s.stderr, /https is not spoken here/);
  for (const bad of ['http://', 'http://h:x/', 'http://h:1234567/', 'http://[::1/']) {
    const b = await run(['--url', bad, 'status'], { noSocket: true });
    assert.equal(b.code, 2, bad);
    assert.equal(b.stderr, 'wpsgate: --url: not an http://HOST[:PORT][/PATH] URL\n', bad);
  }
});

test('the socket comes from $WPSGATE_SOCKET; --url uses TCP', async () => {
  let { r, req } = await one(['user', 'exists', '--hub', 'chat', '--user', 'u'],
    { noSocket: true, env: { WPSGATE_SOCKET: SOCK } });
  assert.equal(r.code, 0, r.stderr);
  assert.equal(req.path, '/api/hubs/chat/users/u');
  ({ r, req } = await one(['--url', `http://127.0.0.1:${tcpPort}/`, 'send', '--hub', 'h', 'x'], { noSocket: true }));
  assert.equal(r.code, 0, r.stderr);
  expectReq(req, 'POST', '/api/hubs/h/:send', '', 'text/plain', 'x');
  assert.equal(req.headers.host, `127.0.0.1:${tcpPort}`);
});

test('status: healthz only (readyz and metrics 404) is ok', async () => {
  queue.push({ status: 200, type: 'application/json', body: '{"status":"ok"}' });
  queue.push({ status: 404, type: 'application/json', body: '{"code":"NotFound","message":"no route"}' });
  queue.push({ status: 404, type: 'application/json', body: '{"code":"NotFound","message":"no route"}' });
  requests.length = 0;
  const r = await run(['status']);
  assert.equal(r.code, 0, r.stderr);
  assert.deepEqual(requests.map((q) => `${q.method} ${q.path}`), ['GET /healthz', 'GET /readyz', 'GET /metrics']);
  assert.match(r.stdout, /^gateway {10}unix:.*gw\.sock$/m);
  assert.match(r.stdout, /^health {11}ok$/m);
  assert.match(r.stdout, /^readiness {8}not served by this gateway$/m);
  assert.match(r.stdout, /^metrics {10}not served by this gateway \(404\)$/m);
});

test('status: readiness, build info and figures from /metrics; not ready exits 1', async () => {
  const metrics = [
    '# HELP wpsgate_requests_total Requests.',
    '# TYPE wpsgate_requests_total counter',
    'wpsgate_requests_total{op="send_to_all",status="202"} 40',
    'wpsgate_requests_total{op="send_to_group",status="400"} 2',
    'wpsgate_requests_in_flight 3',
    'wpsgate_build_info{version="9.8.7",api_version="2024-12-01"} 1',
    'process_resident_memory_bytes 5242880',
    'wpsgate_circuit_breaker_state{state="closed"} 0',
    'wpsgate_circuit_breaker_state{state="open"} 1',
    'wpsgate_circuit_breaker_state{state="half_open"} 0',
    '',
  ].join('\n');
  queue.push({ status: 200, type: 'application/json', body: '{"status":"ok"}' });
  queue.push({ status: 200, type: 'application/json', body: '{"ready":true}' });
  queue.push({ status: 200, type: 'text/plain; version=0.0.4', body: metrics });
  let r = await run(['status']);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /^readiness {8}ready$/m);
  assert.match(r.stdout, /^version {10}9\.8\.7 \(api-version 2024-12-01\)$/m);
  assert.match(r.stdout, /^requests {9}42$/m);
  assert.match(r.stdout, /^in flight {8}3$/m);
  assert.match(r.stdout, /^memory {11}5\.0 MiB$/m);
  assert.match(r.stdout, /^breaker {10}open$/m);
  assert.doesNotMatch(r.stdout, /^outbox/m);

  queue.push({ status: 200, type: 'application/json', body: '{"status":"ok"}' });
  queue.push({ status: 503, type: 'application/json', body: '{"ready":false,"credentials":"missing"}' });
  queue.push({ status: 200, type: 'text/plain', body: metrics });
  r = await run(['status', '--json']);
  assert.equal(r.code, 1);
  const j = JSON.parse(r.stdout);
  assert.equal(j.health.status, 200);
  assert.deepEqual(j.readiness, { status: 503, body: { ready: false, credentials: 'missing' } });
  assert.equal(j.metrics.wpsgate_requests_total, 42);
  assert.equal(j.info.version, '9.8.7');
  assert.equal(j.info.breaker, 'open');
  assert.equal(j.metrics.wpsgate_circuit_breaker_state, 1);
});

test('--help for every command, exit 0, on stdout', async () => {
  const cmds = [['send'], ['token'], ['status'], ['group', 'add'], ['group', 'remove'], ['group', 'exists'],
    ['group', 'list'], ['group', 'close'], ['user', 'exists'], ['user', 'close'], ['user', 'remove-from-groups'],
    ['connection', 'exists'], ['connection', 'close'], ['connection', 'close-all'],
    ['connection', 'remove-from-groups'], ['permission', 'grant'], ['permission', 'revoke'], ['permission', 'check']];
  requests.length = 0;
  for (const c of cmds) {
    const r = await run([...c, '--help']);
    assert.equal(r.code, 0, c.join(' '));
    assert.ok(r.stdout.startsWith(`Usage: wpsgate ${c.join(' ')}`), r.stdout);
  }
  let r = await run(['--help']);
  assert.equal(r.code, 0);
  assert.match(r.stdout, /Exit status: 0 success/);
  r = await run(['help', 'group']);
  assert.equal(r.code, 0);
  assert.match(r.stdout, /wpsgate group list --hub H --group G/);
  r = await run(['--version']);
  assert.equal(r.code, 0);
  assert.match(r.stdout, /^wpsgate \d+\.\d+\.\d+\n$/);
  assert.equal(requests.length, 0);
});
