// subscribe.js: a minimal WebSocket subscriber for the quickstart: connects to the client URL given as the
// first argument and prints "connected", then "received <data>" for every message.
'use strict';
const WebSocket = require('ws');
const ws = new WebSocket(process.argv[2]);
ws.on('open', () => console.log('connected'));
ws.on('message', (data, isBinary) => console.log('received ' + (isBinary ? data.toString('base64') : data.toString())));
ws.on('close', (code, reason) => { console.log(`closed ${code} ${reason}`); process.exit(0); });
ws.on('error', (e) => { console.log('error ' + e.message); process.exit(1); });
