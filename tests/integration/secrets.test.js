// secrets.test.js: a varied workload through wpsgated with -v debug logging, then a search of everything
// the gateway wrote (stdout, stderr, response bodies and headers) for the key and for JWTs signed with it.
'use strict';

const { test, after } = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const { startGateway, makeKey, runGatewaySync } = require('./lib/harness');
const { startUpstream } = require('./lib/fake-upstream');
const { findJwts, signedWith } = require('./lib/jwtcheck');

const H = '/api/hubs/chat';
const key = makeKey();
const ups = [];
after(async () => { for (const u of ups) await u.close(); });

// Every representation of the key that a careless log line could contain.
function keyForms() {
  const forms = new Map([
    ['key', key],
    ['key base64', Buffer.from(key).toString('base64')],
    ['key hex', Buffer.from(key).toString('hex')],
    ['key HEX', Buffer.from(key).toString('hex').toUpperCase()],
    ['key url-encoded', encodeURIComponent(key)],
  ]);
  for (let i = 0; i + 12 <= key.length; i += 4) forms.set(`key[${i}..${i + 12})`, key.slice(i, i + 12));
  return forms;
}

// Responses as text: status line facts, every header, the body.
function responseText(r) {
  const hs = r.rawHeaders && r.rawHeaders.length ? r.rawHeaders.join('\n') : JSON.stringify(r.headers);
  return `${r.status}\n${hs}\n${Buffer.isBuffer(r.body) ? r.body.toString('latin1') : String(r.body)}`;
}

function scan(where, text, upstreamTokens, { clientTokensAllowed }) {
  const problems = [];
  for (const [name, form] of keyForms()) if (text.includes(form)) problems.push(`${where}: contains ${name}`);
  for (const tok of upstreamTokens) if (text.includes(tok)) problems.push(`${where}: contains an upstream JWT`);
  for (const tok of upstreamTokens) {
    const sig = tok.split('.')[2];
    if (sig && text.includes(sig)) problems.push(`${where}: contains the signature of an upstream JWT`);
  }
  if (!clientTokensAllowed) {
    for (const jwt of findJwts(text)) if (signedWith(jwt, key)) problems.push(`${where}: contains a JWT signed with the key`);
  }
  return problems;
}

async function workload(gw, up) {
  const send = (via, path, ct, body, extra = {}) => gw.request(Object.assign({ via, method: 'POST', path,
    headers: Object.assign({ 'content-type': ct, authorization: 'Bearer app-placeholder' }, extra.headers || {}), body }, extra.req || {}));
  // successes of every kind of operation
  assert.equal((await send('unix', `${H}/:send?filter=userId%20ne%20%27a%27`, 'application/json', '{"m":1}')).status, 202);
  assert.equal((await send('tcp', `${H}/groups/g1/:send`, 'text/plain', 'text')).status, 202);
  assert.equal((await send('tcp', `${H}/users/user%40example.com/:send`, 'application/octet-stream', Buffer.from([0, 1, 2]))).status, 202);
  assert.equal((await gw.request({ via: 'unix', method: 'HEAD', path: `${H}/users/u1` })).status, 200);
  assert.equal((await gw.request({ via: 'tcp', method: 'PUT', path: `${H}/permissions/sendToGroup/connections/c1?targetName=g1` })).status, 200);
  assert.equal((await gw.request({ via: 'unix', method: 'GET', path: `${H}/groups/g1/connections?maxpagesize=5` })).status, 200);
  assert.equal((await gw.request({ via: 'tcp', method: 'HEAD', path: '/api/health' })).status, 200);
  // client tokens (their JWTs are in the responses by design; they must not reach the log)
  for (const q of ['userId=u1&role=webpubsub.joinLeaveGroup&group=g1', 'clientType=MQTT', '']) {
    assert.equal((await gw.request({ via: 'unix', method: 'POST', path: `${H}/:generateToken?${q}` })).status, 200);
  }
  // validation errors
  assert.equal((await send('tcp', `${H}/:send?messageTtlSeconds=999`, 'text/plain', 'x')).status, 400);
  assert.equal((await send('unix', `${H}/:send`, 'text/html', 'x')).status, 415);
  assert.equal((await gw.request({ via: 'tcp', method: 'GET', path: '/api/hubs/chat/nope' })).status, 404);
  assert.equal((await gw.request({ via: 'tcp', method: 'GET', path: `${H}/:send` })).status, 405);
  // upstream errors of several kinds
  up.once({ status: 401, headers: { 'content-type': 'application/json', 'www-authenticate': 'Bearer' }, body: '{"code":"Unauthorized","message":"bad token"}' });
  assert.equal((await gw.request({ via: 'unix', method: 'DELETE', path: `${H}/connections/c1` })).status, 401);
  up.once({ status: 404, headers: { 'x-ms-error-code': 'Error.Connection.NotExisted', 'content-type': 'application/json' }, body: '{"code":"NotFound","message":"no"}' });
  assert.equal((await gw.request({ via: 'tcp', method: 'PUT', path: `${H}/groups/g1/connections/nope` })).status, 404);
  up.respond((rec) => (rec.path === `${H}/users/u1/groups` ? { destroy: true } : undefined));
  assert.equal((await gw.request({ via: 'unix', method: 'DELETE', path: `${H}/users/u1/groups` })).status, 502);
  up.respond(null);
  // a request whose query carries something token-like from the app: it is not the gateway's secret
  assert.equal((await send('tcp', `${H}/:send?filter=userId%20eq%20%27access_token%27`, 'text/plain', 'x')).status, 202);
}

function checkGateway(gw, up, what) {
  const problems = [];
  problems.push(...scan(`${what} stdout`, gw.stdout(), up.tokens, { clientTokensAllowed: false }));
  problems.push(...scan(`${what} stderr`, gw.stderr(), up.tokens, { clientTokensAllowed: false }));
  gw.responses.forEach((r, i) => problems.push(...scan(`${what} response #${i}`, responseText(r), up.tokens, { clientTokensAllowed: true })));
  return problems;
}

test('the scanner itself finds a planted key, key fragment, upstream JWT and key-signed JWT', () => {
  const { hs256 } = require('./lib/jwtcheck');
  const h = Buffer.from('{"alg":"HS256","typ":"JWT"}').toString('base64url');
  const p = Buffer.from('{"aud":"x","exp":1}').toString('base64url');
  const jwt = `${h}.${p}.${hs256(key, `${h}.${p}`).toString('base64url')}`;
  const other = `${h}.${p}.${hs256('another key', `${h}.${p}`).toString('base64url')}`;
  assert.equal(scan('t', `ts=1 msg=x key=${key}`, [], { clientTokensAllowed: false }).length > 0, true);
  assert.equal(scan('t', `k=${key.slice(8, 24)}`, [], { clientTokensAllowed: false }).length > 0, true);
  assert.equal(scan('t', `authorization=Bearer ${other}`, [other], { clientTokensAllowed: true }).length > 0, true);
  assert.equal(scan('t', `token=${jwt}`, [], { clientTokensAllowed: false }).length > 0, true);
  assert.deepEqual(scan('t', `token=${jwt}`, [], { clientTokensAllowed: true }), []);
  assert.deepEqual(scan('t', 'authorization=[redacted] msg=fine', [other], { clientTokensAllowed: false }), []);
});

test('-v debug logging: no key, no upstream JWT, no client token in anything the gateway wrote', async (t) => {
  const up = await startUpstream({ key });
  ups.push(up);
  const gw = await startGateway(t, { endpoint: up.endpoint, key, args: ['-v'], timeoutMs: 3000 });
  await workload(gw, up);
  await gw.stop();
  assert.ok(up.tokens.length >= 10, `the upstream saw ${up.tokens.length} tokens`);
  assert.ok(up.requests.every((r) => r.jwt.ok), 'upstream JWTs verify');
  assert.match(gw.stderr(), /level=debug/, '-v produced debug lines (else this test proves nothing about them)');
  assert.match(gw.stderr(), /authorization/i, '-v shows the upstream headers, Authorization redacted');
  const problems = checkGateway(gw, up, '-v');
  assert.deepEqual(problems, []);
});

test('info logging with a connection string file: no key anywhere', async (t) => {
  const up = await startUpstream({ key });
  ups.push(up);
  const gw = await startGateway(t, { endpoint: up.endpoint, key, useConnString: true, timeoutMs: 3000 });
  await workload(gw, up);
  await gw.stop();
  assert.ok(up.requests.every((r) => r.jwt.ok), 'upstream JWTs verify with the key from the connection string');
  assert.deepEqual(checkGateway(gw, up, 'info/connstr'), []);
});

test('-t, good and bad, prints no key', async (t) => {
  const up = await startUpstream({ key });
  ups.push(up);
  const gw = await startGateway(t, { endpoint: up.endpoint, key, useConnString: true });
  await gw.stop();
  const r = runGatewaySync(['-c', gw.cfgFile, '-t', '-v']);
  assert.equal(r.status, 0);
  const problems = scan('-t', r.stdout + r.stderr, [], { clientTokensAllowed: false });
  // the same config with an error: still no key
  fs.writeFileSync(gw.cfgFile, fs.readFileSync(gw.cfgFile, 'utf8').replace(/timeout_ms = \d+;/, 'timeout_ms = "x";'));
  const r2 = runGatewaySync(['-c', gw.cfgFile, '-t', '-v']);
  assert.equal(r2.status, 1);
  problems.push(...scan('-t bad', r2.stdout + r2.stderr, [], { clientTokensAllowed: false }));
  assert.deepEqual(problems, []);
});
