// net.js: loopback helpers the integration and end-to-end harnesses share: a free TCP port and a
// bounded connect probe.
'use strict';

const net = require('node:net');

// A TCP port on 127.0.0.1 that was free a moment ago.
function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

// Resolves true when a connection to opts ({ port, host } or { path }) opens within 1 s, else false.
function canConnect(opts) {
  return new Promise((resolve) => {
    const s = net.connect(opts);
    const done = (ok) => { s.destroy(); resolve(ok); };
    s.once('connect', () => done(true));
    s.once('error', () => done(false));
    s.setTimeout(1000, () => done(false));
  });
}

module.exports = { freePort, canConnect };
