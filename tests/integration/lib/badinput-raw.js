// badinput-raw.js: send raw bytes on a fresh connection (TCP or Unix socket) and read every response
// until the server closes, bounded in time; parse the responses without trusting them to be well formed.
'use strict';

const net = require('node:net');

// Resolves to { data (Buffer), closed (true when the server closed, false on our timeout), ms }.
// half: end our side after writing (for requests whose end is the end of the stream).
function exchange(target, bytes, { half = false, timeoutMs = 5000 } = {}) {
  return new Promise((resolve) => {
    const t0 = Date.now();
    const s = target.socketPath ? net.connect({ path: target.socketPath }) : net.connect({ host: '127.0.0.1', port: target.port });
    const chunks = [];
    let done = false;
    const finish = (closed) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      s.destroy();
      resolve({ data: Buffer.concat(chunks), closed, ms: Date.now() - t0 });
    };
    const timer = setTimeout(() => finish(false), timeoutMs);
    s.on('data', (c) => chunks.push(c));
    s.on('end', () => finish(true));
    s.on('close', () => finish(true));
    // a reset after the server answered and closed (it did not read all we sent) is a close too
    s.on('error', () => finish(true));
    s.on('connect', () => {
      s.write(Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes, 'latin1'), () => { if (half) s.end(); });
    });
  });
}

// Every response's status, in order: header blocks are followed by Content-Length bytes of body (none
// for HEAD, 1xx, 204, 304; the rest of the data without a length). libmicrohttpd 0.9.75 writes the
// header block of some error pages twice: a block directly followed by another is counted as it is.
function statuses(data, head = false) {
  const out = [];
  let p = 0;
  while (p < data.length) {
    const m = /^HTTP\/1\.[01] (\d{3})/.exec(data.subarray(p, p + 16).toString('latin1'));
    const end = data.indexOf('\r\n\r\n', p);
    if (!m || end < 0) break;
    const status = Number(m[1]);
    out.push(status);
    const cl = /\r\ncontent-length:\s*(\d+)/i.exec(data.subarray(p, end).toString('latin1'));
    p = end + 4;
    if (/^HTTP\/1\.[01] \d{3}/.test(data.subarray(p, p + 12).toString('latin1'))) continue;
    if (head || (status >= 100 && status < 200) || status === 204 || status === 304) continue;
    p = cl ? p + Number(cl[1]) : data.length;
  }
  return out;
}

// The first final (non-1xx) response: { status, headers (lower-case names), body (Buffer) } or null.
function firstFinal(data, head) {
  let p = 0;
  while (p < data.length) {
    const end = data.indexOf('\r\n\r\n', p);
    if (end < 0) return null;
    const lines = data.subarray(p, end).toString('latin1').split('\r\n');
    const m = /^HTTP\/1\.[01] (\d{3})/.exec(lines[0]);
    if (!m) return null;
    const status = Number(m[1]);
    const headers = {};
    for (const l of lines.slice(1)) {
      const i = l.indexOf(':');
      if (i > 0) headers[l.slice(0, i).trim().toLowerCase()] = l.slice(i + 1).trim();
    }
    p = end + 4;
    if (status >= 100 && status < 200) continue;
    let body = Buffer.alloc(0);
    if (!head && status !== 204 && status !== 304) {
      if (headers['content-length'] !== undefined) body = data.subarray(p, p + Number(headers['content-length']));
      else body = data.subarray(p);
    }
    return { status, headers, body };
  }
  return null;
}

module.exports = { exchange, statuses, firstFinal };
