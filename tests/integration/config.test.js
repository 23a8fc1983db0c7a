// config.test.js: `wpsgated -c FILE -t` on good and broken configurations and credential files:
// exit status, an error naming the key and the line, and never the secret.
'use strict';

const { test, after } = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');
const { makeKey, makeTmpDir, removeTmpDir, configText, writeSecretFile, runGatewaySync, redact, WPSGATED, launch, freePort } = require('./lib/harness');
const { startUpstream } = require('./lib/fake-upstream');

const dir = makeTmpDir('wpsgate-cfg-');
after(() => removeTmpDir(dir));
const key = makeKey();
const keyFile = path.join(dir, 'access-key');
writeSecretFile(keyFile, key + '\n');
const ENDPOINT = 'http://127.0.0.1:9';

const base = { sock: path.join(dir, 'gw.sock'), tcpPort: 7999, endpoint: ENDPOINT, keyFile };
// Line numbers of configText's output (see lib/harness.js): tcp 4, endpoint 7, access_key_file 8,
// api_version 9, timeout_ms 10, limits 12, log 13.
const LINES = { tcp: 4, endpoint: 7, access_key_file: 8, timeout_ms: 10, limits: 12, log: 13 };

let n = 0;
function writeConfig(text) {
  const f = path.join(dir, `c${n++}.conf`);
  fs.writeFileSync(f, text);
  return f;
}

function lineOf(text, needle) {
  return text.split('\n').findIndex((l) => l.includes(needle)) + 1;
}

// All the ways the key could show: whole, trimmed windows of 12 characters, base64 and hex of its bytes.
function assertNoKey(out, what) {
  const forms = [key, Buffer.from(key).toString('base64'), Buffer.from(key).toString('hex')];
  for (let i = 0; i + 12 <= key.length; i += 4) forms.push(key.slice(i, i + 12));
  for (const f of forms) assert.ok(!out.includes(f), `${what}: (part of) the key was printed`);
}

function check(cfgFile, extraArgs = [], env = undefined) {
  const r = runGatewaySync(['-c', cfgFile, '-t', ...extraArgs], 20000, env);
  const out = r.stdout + r.stderr;
  assertNoKey(out, path.basename(cfgFile));
  return { status: r.status, signal: r.signal, out };
}

function expectError(text, { keyName, line, what }) {
  const r = check(writeConfig(text));
  assert.equal(r.status, 1, `${what}: exit status; output: ${redact(r.out, key)}`);
  if (keyName) assert.ok(r.out.includes(keyName), `${what}: the message does not name ${keyName}: ${redact(r.out, key)}`);
  if (line) assert.match(r.out, new RegExp(`(line\\s*${line}\\b|:${line}\\b)`), `${what}: the message does not give line ${line}: ${redact(r.out, key)}`);
  assert.ok(!/configuration OK/.test(r.out), `${what}: says configuration OK`);
}

test('the generated configuration has the documented line numbers', () => {
  const t = configText(base);
  for (const [k, l] of Object.entries(LINES)) assert.equal(lineOf(t, k === 'limits' || k === 'log' ? `${k} =` : k), l, k);
});

test('-t on a good configuration: configuration OK, exit 0, no key', () => {
  const r = check(writeConfig(configText(base)));
  assert.equal(r.status, 0, redact(r.out, key));
  assert.match(r.out, /configuration OK/);
});

test('-t on a good configuration with a connection string file', () => {
  const cs = path.join(dir, 'cs-good');
  writeSecretFile(cs, `Endpoint=${ENDPOINT};AccessKey=${key};Version=1.0;\n`);
  const r = check(writeConfig(configText(Object.assign({}, base, { connFile: cs }))));
  assert.equal(r.status, 0, redact(r.out, key));
  assert.match(r.out, /configuration OK/);
});

test('syntax error: exit 1 with the line', () => {
  const t = configText(base).replace('max_body_bytes = 1048576;', 'max_body_bytes = ;');
  expectError(t, { line: LINES.limits, what: 'syntax error' });
});

test('timeout_ms of the wrong type', () => {
  const t = configText(base).replace('timeout_ms = 30000;', 'timeout_ms = "soon";');
  expectError(t, { keyName: 'timeout_ms', line: LINES.timeout_ms, what: 'timeout_ms string' });
});

test('timeout_ms negative', () => {
  const t = configText(base).replace('timeout_ms = 30000;', 'timeout_ms = -5;');
  expectError(t, { keyName: 'timeout_ms', line: LINES.timeout_ms, what: 'timeout_ms -5' });
});

test('max_body_bytes negative', () => {
  const t = configText(base).replace('max_body_bytes = 1048576;', 'max_body_bytes = -1;');
  expectError(t, { keyName: 'max_body_bytes', line: LINES.limits, what: 'max_body_bytes -1' });
});

test('a TCP listener on a non-loopback address without explicit permission', () => {
  const t = configText(base).replace('"127.0.0.1:7999"', '"10.1.2.3:7999"');
  expectError(t, { keyName: 'tcp', line: LINES.tcp, what: 'tcp 10.1.2.3' });
});

test('an http:// upstream that is not loopback', () => {
  const t = configText(Object.assign({}, base, { endpoint: 'http://example.com' }));
  expectError(t, { keyName: 'endpoint', line: LINES.endpoint, what: 'http://example.com' });
});

test('an endpoint that is not an http(s) URL', () => {
  const t = configText(Object.assign({}, base, { endpoint: 'ftp://127.0.0.1' }));
  expectError(t, { keyName: 'endpoint', line: LINES.endpoint, what: 'ftp endpoint' });
});

test('an unknown log level', () => {
  const t = configText(Object.assign({}, base, { level: 'loud' }));
  expectError(t, { keyName: 'level', line: LINES.log, what: 'log level loud' });
});

test('a missing endpoint', () => {
  const t = configText(base).split('\n').filter((l) => !l.includes('endpoint =')).join('\n');
  expectError(t, { keyName: 'endpoint', what: 'no endpoint' });
});

test('an access_key_file that does not exist', () => {
  const t = configText(Object.assign({}, base, { keyFile: path.join(dir, 'no-such-key') }));
  expectError(t, { keyName: 'access_key_file', what: 'missing key file' });
});

test('a key file readable by others (0644) is refused, and the key not printed', () => {
  const loose = path.join(dir, 'loose-key');
  writeSecretFile(loose, key + '\n', 0o644);
  const t = configText(Object.assign({}, base, { keyFile: loose }));
  expectError(t, { keyName: 'access_key_file', what: 'key file 0644' });
});

test('a key file readable by the group (0640) is refused', () => {
  const loose = path.join(dir, 'group-key');
  writeSecretFile(loose, key + '\n', 0o640);
  expectError(configText(Object.assign({}, base, { keyFile: loose })), { keyName: 'access_key_file', what: 'key file 0640' });
});

test('a connection string file readable by others is refused', () => {
  const cs = path.join(dir, 'cs-loose');
  writeSecretFile(cs, `Endpoint=${ENDPOINT};AccessKey=${key};Version=1.0;\n`, 0o644);
  expectError(configText(Object.assign({}, base, { connFile: cs })), { keyName: 'connection_string_file', what: 'connection string 0644' });
});

test('a malformed connection string is refused without echoing it', () => {
  const cs = path.join(dir, 'cs-bad');
  writeSecretFile(cs, `Endpoint=${ENDPOINT};AccessKey=${key};Version=1.0;${key}\n`);
  expectError(configText(Object.assign({}, base, { connFile: cs })), { keyName: 'connection_string_file', what: 'segment without =' });
  const cs2 = path.join(dir, 'cs-nokey');
  writeSecretFile(cs2, `Endpoint=${ENDPOINT};Version=1.0;\n`);
  expectError(configText(Object.assign({}, base, { connFile: cs2 })), { keyName: 'connection_string_file', what: 'no AccessKey' });
});

test('an empty key file is refused', () => {
  const empty = path.join(dir, 'empty-key');
  writeSecretFile(empty, '');
  expectError(configText(Object.assign({}, base, { keyFile: empty })), { keyName: 'access_key_file', what: 'empty key file' });
});

test('allow_non_loopback = true permits a non-loopback TCP listener', () => {
  const t = configText(base).replace('"127.0.0.1:7999" ];', '"127.0.0.1:7999", "192.0.2.1:7999" ];\n  allow_non_loopback = true;');
  const r = check(writeConfig(t));
  assert.equal(r.status, 0, redact(r.out, key));
  assert.match(r.out, /configuration OK/);
});

test('a bare credential name is read from $CREDENTIALS_DIRECTORY (systemd LoadCredential=)', async (t) => {
  const credDir = path.join(dir, 'creds');
  fs.mkdirSync(credDir, { mode: 0o700 });
  writeSecretFile(path.join(credDir, 'wps-key'), key + '\n', 0o400);
  const up = await startUpstream({ key });
  t.after(() => up.close());
  const tcpPort = await freePort();
  const o = Object.assign({}, base, { keyFile: 'wps-key', endpoint: up.endpoint, tcpPort, sock: path.join(dir, 'cred.sock') });
  const cfgFile = writeConfig(configText(o));
  const noEnv = check(cfgFile, [], { CREDENTIALS_DIRECTORY: '' });
  assert.equal(noEnv.status, 1, `without $CREDENTIALS_DIRECTORY: ${redact(noEnv.out, key)}`);
  assert.match(noEnv.out, /CREDENTIALS_DIRECTORY/);
  const ok = check(cfgFile, [], { CREDENTIALS_DIRECTORY: credDir });
  assert.equal(ok.status, 0, redact(ok.out, key));
  const gw = await launch(t, { dir: makeTmpDir(), key, keyFile: 'wps-key', cfgFile, sock: o.sock, tcpPort, env: { CREDENTIALS_DIRECTORY: credDir } });
  const res = await gw.request({ via: 'tcp', method: 'HEAD', path: '/api/hubs/chat/users/u1' });
  assert.equal(res.status, 200);
  assert.equal(up.requests.length, 1);
  assert.ok(up.requests[0].jwt.ok, up.requests[0].jwt.error);
  await gw.stop();
  assertNoKey(gw.stdout() + gw.stderr(), 'run with $CREDENTIALS_DIRECTORY');
});

test('a configuration file that does not exist', () => {
  const r = runGatewaySync(['-c', path.join(dir, 'nope.conf'), '-t']);
  assert.equal(r.status, 1, r.stdout + r.stderr);
});

test('wpsgated exists and is executable', () => {
  fs.accessSync(WPSGATED, fs.constants.X_OK);
});
