// sdk.js: the official @azure/web-pubsub SDK as a load client for bench/run.sh (fixed concurrency, req/s, latency).
// Usage: node bench/sdk.js ENDPOINT CONCURRENCY SECONDS [WARMUP_SECONDS]
// The access key comes from the environment (BENCH_KEY), never from the command line. Prints one line:
//   SDKRESULT requests=N seconds=S rps=R p50_us=.. p90_us=.. p99_us=.. p999_us=.. max_us=.. errors=N first_error=..
'use strict';
const path = require('node:path');
const srcdir = process.env.WPSGATE_SRCDIR || path.join(__dirname, '..');
const { WebPubSubServiceClient } = require(path.join(srcdir, 'tests', 'node_modules', '@azure', 'web-pubsub'));

const [endpoint, concArg, secsArg, warmArg] = process.argv.slice(2);
if (!endpoint || !concArg || !secsArg) {
  console.error('usage: node sdk.js ENDPOINT CONCURRENCY SECONDS [WARMUP_SECONDS]');
  process.exit(2);
}
const key = process.env.BENCH_KEY || 'placeholder-key-for-the-gateway-0123456789';
const concurrency = Math.max(1, Math.min(1024, parseInt(concArg, 10)));
const seconds = Math.max(0.5, Math.min(600, parseFloat(secsArg)));
const warmup = Math.max(0, Math.min(60, parseFloat(warmArg || '0')));

const client = new WebPubSubServiceClient(`Endpoint=${endpoint};AccessKey=${key};Version=1.0;`, 'bench', {
  allowInsecureConnection: true, // the benchmark's upstream and the gateway speak plain http on loopback
  retryOptions: { maxRetries: 0 },
});
const group = client.group('g1');
// A 256-byte JSON body, as everywhere else in the benchmark.
const headStr = '{"seq":1,"msg":"', tailStr = '"}';
const message = JSON.parse(headStr + 'x'.repeat(256 - headStr.length - tailStr.length) + tailStr);
if (JSON.stringify(message).length !== 256) throw new Error('body is not 256 bytes');

const lat = [];
let errors = 0, firstError = '', measuring = warmup === 0;
const t0 = process.hrtime.bigint();
const tMeasure = t0 + BigInt(Math.round(warmup * 1e9));
const deadline = tMeasure + BigInt(Math.round(seconds * 1e9));
let tStart = measuring ? t0 : 0n;

async function worker() {
  for (;;) {
    const s = process.hrtime.bigint();
    if (s >= deadline) return;
    if (!measuring && s >= tMeasure) { measuring = true; tStart = s; }
    const m = measuring;
    try {
      await group.sendToAll(message);
      if (m) lat.push(Number(process.hrtime.bigint() - s) / 1000);
    } catch (e) {
      if (m) errors++;
      if (!firstError) firstError = String(e.statusCode || e.code || e.message).slice(0, 60).replace(/\s+/g, '_');
    }
  }
}

Promise.all(Array.from({ length: concurrency }, worker)).then(() => {
  const secs = Number(process.hrtime.bigint() - tStart) / 1e9;
  lat.sort((a, b) => a - b);
  const p = (q) => (lat.length ? Math.round(lat[Math.min(lat.length - 1, Math.floor((q / 100) * lat.length))]) : 0);
  console.log(`SDKRESULT requests=${lat.length} seconds=${secs.toFixed(3)} rps=${Math.round(lat.length / secs)} ` +
    `p50_us=${p(50)} p90_us=${p(90)} p99_us=${p(99)} p999_us=${p(99.9)} max_us=${p(100)} errors=${errors} ` +
    `first_error=${firstError || '-'}`);
  process.exit(0);
});
setTimeout(() => { console.error('sdk.js: overran its deadline'); process.exit(1); }, (seconds + warmup + 30) * 1000).unref();
