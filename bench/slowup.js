// slowup.js: a slow fixed-answer upstream for bench/run.sh: answers every request 202 after DELAY_MS (default 5000).
// Usage: node bench/slowup.js PORT [DELAY_MS]. Listens on 127.0.0.1 only; stops on SIGTERM or after 15 minutes.
'use strict';
const http = require('node:http');
const port = parseInt(process.argv[2], 10);
const delay = parseInt(process.argv[3] || '5000', 10);
if (!(port > 0 && port < 65536)) { console.error('usage: node slowup.js PORT [DELAY_MS]'); process.exit(2); }
let requests = 0;
const server = http.createServer((req, res) => {
  requests++;
  req.resume();
  req.on('end', () => setTimeout(() => { res.writeHead(202, { 'Content-Length': '0' }); res.end(); }, delay));
});
server.keepAliveTimeout = 120000;
server.headersTimeout = 130000;
server.requestTimeout = 0;
server.maxConnections = 20000;
server.listen(port, '127.0.0.1', () => console.error(`slowup: listening on 127.0.0.1:${port}, delay ${delay} ms`));
const stop = () => { console.error(`slowup: ${requests} requests`); process.exit(0); };
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
setTimeout(stop, 15 * 60 * 1000).unref();
