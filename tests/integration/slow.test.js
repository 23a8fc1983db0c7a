// slow.test.js: slow senders (slowloris) against the real wpsgated: a request must arrive whole within
// limits.request_timeout_s of its connection's start or of the previous answer, else the connection is
// shut down without an answer and nothing goes upstream; a request being handled has no such deadline;
// the idle timeout (which restarts with every byte) is set far higher so only the new deadline can act.
'use strict';

const { test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const net = require('node:net');
const { gatewayWithUpstream } = require('./lib/harness');

const REQ_S = 1;          // limits.request_timeout_s
const IDLE_S = 60;        // limits.idle_timeout_s: never reached here
const DRIP_MS = 200;      // a slow sender's pace: far below the idle timeout
const WAIT_MS = 6000;     // bound of every exchange
const H = '/api/hubs/chat';
const V = 'api-version=2024-12-01';

let up;
let gw;
let stop;

before(async () => {
  ({ up, gw, stop } = await gatewayWithUpstream({
    timeoutMs: 10000, limits: { idle_timeout_s: IDLE_S, request_timeout_s: REQ_S },
  }));
});

after(() => stop && stop());

// Connect, write `head` at once, then `drip` one byte every DRIP_MS (as long as the socket is open);
// resolve with what came back, whether the server closed, and when.
function slowSend(target, head, drip) {
  return new Promise((resolve) => {
    const t0 = Date.now();
    const s = target.socketPath ? net.connect({ path: target.socketPath }) : net.connect({ host: '127.0.0.1', port: target.port });
    const chunks = [];
    let i = 0;
    let done = false;
    let ticker = null;
    const finish = (closed) => {
      if (done) return;
      done = true;
      clearInterval(ticker);
      clearTimeout(timer);
      s.destroy();
      resolve({ data: Buffer.concat(chunks).toString('latin1'), closed, ms: Date.now() - t0 });
    };
    const timer = setTimeout(() => finish(false), WAIT_MS);
    s.on('data', (c) => chunks.push(c));
    s.on('end', () => finish(true));
    s.on('close', () => finish(true));
    s.on('error', () => finish(true));
    s.on('connect', () => {
      s.write(head);
      ticker = setInterval(() => { if (i < drip.length && !s.destroyed) s.write(drip[i++]); }, DRIP_MS);
    });
  });
}

function closedInTime(r) {
  assert.ok(r.closed, `the gateway closed the connection (waited ${r.ms} ms)`);
  assert.equal(r.data, '', 'no answer to an incomplete request');
  assert.ok(r.ms >= REQ_S * 1000 - 100 && r.ms < REQ_S * 1000 + 1500, `closed after about ${REQ_S} s: ${r.ms} ms`);
}

for (const via of ['tcp', 'unix']) {
  test(`${via}: headers sent one byte at a time are cut off after request_timeout_s`, async () => {
    const n0 = up.requests.length;
    const r = await slowSend(gw[via], `POST ${H}/:send?${V} HTTP/1.1\r\nHost: localhost\r\n`,
      'Content-Type: text/plain\r\nContent-Length: 2\r\n\r\nhi');
    closedInTime(r);
    assert.equal(up.requests.length, n0, 'nothing upstream');
  });

  test(`${via}: a body sent one byte at a time is cut off after request_timeout_s`, async () => {
    const n0 = up.requests.length;
    const r = await slowSend(gw[via],
      `POST ${H}/:send?${V} HTTP/1.1\r\nHost: localhost\r\nContent-Type: text/plain\r\nContent-Length: 40\r\n\r\n`,
      'x'.repeat(40));
    closedInTime(r);
    assert.equal(up.requests.length, n0, 'nothing upstream');
  });
}

test('a keep-alive connection: answered in time, then closed when the next request does not come', async () => {
  const n0 = up.requests.length;
  const r = await slowSend(gw.tcp,
    `POST ${H}/:send?${V} HTTP/1.1\r\nHost: localhost\r\nContent-Type: text/plain\r\nContent-Length: 2\r\n\r\nhi`, '');
  assert.ok(r.closed, `closed by the gateway (waited ${r.ms} ms)`);
  assert.match(r.data, /^HTTP\/1\.1 202 /, 'the whole request was answered');
  assert.ok(r.ms >= REQ_S * 1000 - 100 && r.ms < REQ_S * 1000 + 1500, `then closed after about ${REQ_S} s: ${r.ms} ms`);
  assert.equal(up.requests.length, n0 + 1, 'the request went upstream once');
});

test('a whole request that takes longer upstream than request_timeout_s is still answered', async () => {
  up.respond(() => ({ delayMs: REQ_S * 1000 + 800 }));
  try {
    const r = await slowSend(gw.unix,
      `POST ${H}/:send?${V} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\nContent-Type: text/plain\r\nContent-Length: 2\r\n\r\nhi`, '');
    assert.match(r.data, /^HTTP\/1\.1 202 /, `answered after ${r.ms} ms`);
    assert.ok(r.ms >= REQ_S * 1000 + 700, `the upstream's delay was waited for: ${r.ms} ms`);
  } finally {
    up.respond(null);
  }
});

test('the gateway is healthy afterwards', async () => {
  const r = await slowSend(gw.tcp, 'GET /healthz HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n', '');
  assert.match(r.data, /^HTTP\/1\.1 200 /);
});
