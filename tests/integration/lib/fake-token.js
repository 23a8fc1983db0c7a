// fake-token.js: a fake Microsoft Entra ID token service on 127.0.0.1: the AAD v2 token endpoint
// (client secret and federated assertion) and an IMDS-style managed identity endpoint. It checks what
// a real one checks, issues HS256 JWTs (aud https://webpubsub.azure.com) that wpsgate-emulator accepts
// in its --entra-issuer-key-file test mode, records every call, and fails on demand.
'use strict';

const crypto = require('node:crypto');
const http = require('node:http');

const RESOURCE = 'https://webpubsub.azure.com';
const SCOPE = `${RESOURCE}/.default`;
const ASSERTION_TYPE = 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer';
const IMDS_PATH = '/metadata/identity/oauth2/token';
const BODY_MAX = 65536;

function b64url(buf) {
  return Buffer.from(buf).toString('base64').replace(/=+$/, '').replace(/\+/g, '-').replace(/\//g, '_');
}

function signHs256(payload, key) {
  const head = b64url(JSON.stringify({ alg: 'HS256', typ: 'JWT' }));
  const body = b64url(JSON.stringify(payload));
  const sig = b64url(crypto.createHmac('sha256', key).update(`${head}.${body}`).digest());
  return `${head}.${body}.${sig}`;
}

// opts: { issuerKey (the emulator's --entra-issuer-key-file content), tenant, clientId, secret,
//   assertion, miClientId (expected client_id at IMDS; undefined: any or none), lifetimeS (default 3600) }
// Resolves to:
//   port, authority ('http://127.0.0.1:PORT'), imds (the IMDS token URL), calls (records), issued
//   (every token handed out, with n, iat, exp, at), set(fields) (change expectations: secret,
//   assertion, lifetimeS, ...), fail(mode, times = Infinity) ('500' | 'hang' | 'badjson' | 'badsig' |
//   'notoken'), ok() (stop failing), waitForCalls(n, ms), close().
// A call record: { at (ms), kind ('aad' | 'imds' | 'other'), method, path, query (URLSearchParams),
//   form (URLSearchParams), metadata (the Metadata header), status, outcome ('ok' | mode | 'refused: why') }.
async function startFakeToken(opts) {
  const o = Object.assign({ tenant: 'tenant-1', clientId: 'client-1', lifetimeS: 3600 }, opts);
  if (!o.issuerKey) throw new Error('fake-token: issuerKey is required');
  const calls = [];
  const issued = [];
  const sockets = new Set();
  const hung = new Set();
  let failMode = null;
  let failLeft = 0;
  let counter = 0;

  function takeFailure() {
    if (!failMode || failLeft <= 0) return null;
    failLeft--;
    const m = failMode;
    if (failLeft <= 0) failMode = null;
    return m;
  }

  function issue(appid) {
    counter++;
    const nowS = Date.now() / 1000;
    const iat = Math.floor(nowS);
    const exp = iat + o.lifetimeS;
    const claims = { aud: RESOURCE, iss: `https://sts.windows.net/${o.tenant}/`, iat, nbf: iat, exp, appid, tid: o.tenant, n: counter };
    // expires_in as AAD computes it: whole seconds left until exp (so never later than exp)
    const rec = { n: counter, iat, exp, at: Date.now(), expiresIn: Math.floor(exp - nowS), token: null, bad: false };
    rec.token = signHs256(claims, o.issuerKey);
    issued.push(rec);
    return rec;
  }

  function send(res, status, obj, rec) {
    rec.status = status;
    const body = typeof obj === 'string' ? obj : JSON.stringify(obj);
    res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(body) });
    res.end(body);
  }

  // Answer a request that passed the checks, or fail it as programmed.
  function answer(req, res, rec, shape, appid) {
    const mode = takeFailure();
    rec.outcome = mode || 'ok';
    if (mode === 'hang') { hung.add(res); rec.status = 0; return; }
    if (mode === '500') return send(res, 500, { error: 'temporarily_unavailable', error_description: 'AADSTS50000: There was an error issuing a token.' }, rec);
    if (mode === 'badjson') return send(res, 200, '{"access_token": "eyJ', rec);
    if (mode === 'notoken') return send(res, 200, { token_type: 'Bearer', expires_in: o.lifetimeS }, rec);
    const t = issue(appid);
    if (mode === 'badsig') {
      // a well-formed token the emulator will refuse (401): signed with another key
      const parts = t.token.split('.');
      t.token = `${parts[0]}.${parts[1]}.${b64url(crypto.randomBytes(32))}`;
      t.bad = true;
    }
    rec.n = t.n;
    if (shape === 'imds') {
      // IMDS sends every number as a string
      return send(res, 200, { access_token: t.token, client_id: appid || 'system-assigned', expires_in: String(t.expiresIn),
        expires_on: String(t.exp), ext_expires_in: String(t.expiresIn), not_before: String(t.iat), resource: RESOURCE, token_type: 'Bearer' }, rec);
    }
    return send(res, 200, { token_type: 'Bearer', expires_in: t.expiresIn, ext_expires_in: t.expiresIn, access_token: t.token }, rec);
  }

  function aad(req, res, rec, body) {
    const f = new URLSearchParams(body);
    rec.form = f;
    const refuse = (status, error, desc) => { rec.outcome = `refused: ${error}`; send(res, status, { error, error_description: desc }, rec); };
    if (req.method !== 'POST') return refuse(405, 'invalid_request', 'AADSTS900561: The endpoint only accepts POST requests.');
    if (!/^application\/x-www-form-urlencoded/i.test(req.headers['content-type'] || '')) return refuse(400, 'invalid_request', 'AADSTS900144: form body expected');
    if (rec.path !== `/${o.tenant}/oauth2/v2.0/token`) return refuse(400, 'invalid_request', 'AADSTS90002: Tenant not found.');
    if (f.get('grant_type') !== 'client_credentials') return refuse(400, 'unsupported_grant_type', 'AADSTS70003: grant_type');
    if (f.get('client_id') !== o.clientId) return refuse(400, 'unauthorized_client', 'AADSTS700016: Application not found in the directory.');
    if (f.get('scope') !== SCOPE) return refuse(400, 'invalid_scope', 'AADSTS70011: The provided value for the input parameter scope is not valid.');
    if (f.has('client_secret')) {
      if (o.secret === undefined || f.get('client_secret') !== o.secret) return refuse(401, 'invalid_client', 'AADSTS7000215: Invalid client secret provided.');
    } else if (f.has('client_assertion')) {
      if (f.get('client_assertion_type') !== ASSERTION_TYPE) return refuse(400, 'invalid_request', 'AADSTS700024: client_assertion_type');
      if (o.assertion === undefined || f.get('client_assertion') !== o.assertion) return refuse(401, 'invalid_client', 'AADSTS700024: Client assertion is not within its valid time range.');
    } else {
      return refuse(401, 'invalid_client', 'AADSTS7000218: The request body must contain client_assertion or client_secret.');
    }
    return answer(req, res, rec, 'aad', o.clientId);
  }

  function imds(req, res, rec) {
    const q = rec.query;
    const refuse = (status, error, desc) => { rec.outcome = `refused: ${error}`; send(res, status, { error, error_description: desc }, rec); };
    if (req.method !== 'GET') return refuse(405, 'invalid_request', 'GET only');
    if (rec.metadata !== 'true') return refuse(400, 'invalid_request', 'Required metadata header not specified');
    if (q.get('api-version') !== '2018-02-01') return refuse(400, 'invalid_request', 'Invalid api-version');
    if (q.get('resource') !== RESOURCE) return refuse(400, 'invalid_resource', 'AADSTS500011: resource principal not found');
    if (o.miClientId !== undefined && q.get('client_id') !== o.miClientId) return refuse(400, 'invalid_request', 'Identity not found');
    return answer(req, res, rec, 'imds', q.get('client_id'));
  }

  const server = http.createServer((req, res) => {
    const chunks = [];
    let size = 0;
    req.on('data', (c) => { size += c.length; if (size <= BODY_MAX) chunks.push(c); });
    req.on('end', () => {
      const u = new URL(req.url, 'http://127.0.0.1');
      const rec = {
        at: Date.now(), method: req.method, path: u.pathname, query: u.searchParams, form: null,
        metadata: req.headers.metadata, kind: 'other', status: 0, outcome: '',
      };
      calls.push(rec);
      const body = Buffer.concat(chunks).toString('utf8');
      if (u.pathname === IMDS_PATH) { rec.kind = 'imds'; return imds(req, res, rec); }
      if (/\/oauth2\/v2\.0\/token$/.test(u.pathname)) { rec.kind = 'aad'; return aad(req, res, rec, body); }
      rec.outcome = 'refused: no route';
      return send(res, 404, { error: 'not_found' }, rec);
    });
  });
  server.on('connection', (s) => { sockets.add(s); s.on('close', () => sockets.delete(s)); });
  await new Promise((resolve, reject) => { server.once('error', reject); server.listen(0, '127.0.0.1', resolve); });
  const { port } = server.address();

  return {
    port,
    authority: `http://127.0.0.1:${port}`,
    imds: `http://127.0.0.1:${port}${IMDS_PATH}`,
    calls,
    issued,
    set(fields) { Object.assign(o, fields); },
    fail(mode, times = Infinity) { failMode = mode; failLeft = times; },
    ok() { failMode = null; failLeft = 0; },
    // release hung requests (the client sees a reset)
    unhang() { for (const r of hung) { try { r.destroy(); } catch { /* gone */ } } hung.clear(); },
    async waitForCalls(n, ms = 10000) {
      const end = Date.now() + ms;
      while (calls.length < n && Date.now() < end) await new Promise((r) => setTimeout(r, 20));
      return calls.length >= n;
    },
    close() {
      for (const r of hung) { try { r.destroy(); } catch { /* gone */ } }
      for (const s of sockets) s.destroy();
      return new Promise((resolve) => server.close(() => resolve()));
    },
  };
}

module.exports = { startFakeToken, signHs256, RESOURCE, SCOPE, ASSERTION_TYPE };
