// chat-app.js: a chat application as a developer would write it with @azure/web-pubsub-express, run
// behind wpsgated by scripts/chat-demo.sh and tests/e2e/events-chat.js. It holds no access key and no
// connection string: it listens on a Unix socket for the event calls wpsgated has verified and forwards,
// and it sends through wpsgated's Unix socket with plain HTTP.
// Usage: node chat-app.js APP_SOCKET GATEWAY_SOCKET HUB
// It prints one JSON line per thing it saw ({"seen": ...}) so that a test or a demo can follow it.
'use strict';

const http = require('node:http');
const fs = require('node:fs');
const path = require('node:path');

const [appSock, gwSock, hub] = process.argv.slice(2);
const mod = (name) => require(require.resolve(name, { paths: [path.join(__dirname, '..', 'tests')] }));
const express = mod('express');
const { WebPubSubEventHandler } = mod('@azure/web-pubsub-express');

const say = (o) => process.stdout.write(JSON.stringify(o) + '\n');

// POST to the gateway's REST side: no credential, the gateway signs.
function gateway(method, urlPath, contentType, body) {
  return new Promise((resolve, reject) => {
    const data = Buffer.from(body);
    const r = http.request({ socketPath: gwSock, method, path: urlPath, timeout: 10000,
      headers: { 'content-type': contentType, 'content-length': data.length } }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode));
    });
    r.on('timeout', () => r.destroy(new Error('gateway timeout')));
    r.on('error', reject);
    r.end(data);
  });
}

const handler = new WebPubSubEventHandler(hub, {
  path: '/eventhandler',
  handleConnect: (req, res) => {
    say({ seen: 'connect', userId: req.context.userId, connectionId: req.context.connectionId,
      subprotocols: req.subprotocols || [] });
    // The app decides who the client is and where it belongs.
    res.setState('nick', 'alice-the-first');
    res.success({ userId: 'alice', groups: ['room'], roles: ['webpubsub.sendToGroup.room'],
      subprotocol: (req.subprotocols || [])[0] });
  },
  onConnected: (req) => {
    say({ seen: 'connected', userId: req.context.userId, connectionId: req.context.connectionId });
  },
  handleUserEvent: async (req, res) => {
    say({ seen: 'user', event: req.context.eventName, userId: req.context.userId, data: req.data,
      dataType: req.dataType, state: req.context.states.nick });
    if (req.context.eventName === 'shout') {
      const st = await gateway('POST', `/api/hubs/${hub}/groups/room/:send?api-version=2024-12-01`,
        'text/plain', `${req.context.userId} says ${req.data}`);
      say({ seen: 'sent', status: st });
    }
    res.success(`echo: ${req.data}`, 'text');
  },
  onDisconnected: (req) => {
    say({ seen: 'disconnected', userId: req.context.userId, connectionId: req.context.connectionId });
  },
});

const app = express();
app.use((req, _res, next) => {
  // what the gateway sends the app, for the test: no signature, the verified identity
  say({ seen: 'request', method: req.method, path: req.path, headers: req.headers });
  next();
});
app.use(handler.getMiddleware());
try { fs.unlinkSync(appSock); } catch (_) { /* none */ }
const server = app.listen(appSock, () => say({ listening: appSock }));
process.on('SIGTERM', () => server.close(() => process.exit(0)));
