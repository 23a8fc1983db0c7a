// chat-client.js: the chat demonstration's browser side, as a node program with @azure/web-pubsub-client.
// Connects with the client URL given as the first argument, sends the event "hello", then "shout", and
// prints what comes back: the app's answer to each event and the app's message to the group. Exits when it
// has seen both, or after 10 s.
'use strict';

const path = require('node:path');
const { WebPubSubClient } = require(require.resolve('@azure/web-pubsub-client',
  { paths: [path.join(__dirname, '..', 'tests')] }));

const client = new WebPubSubClient(process.argv[2], { autoReconnect: false });
const give = setTimeout(() => { console.log('no answer in 10 s'); process.exit(1); }, 10000);
let answers = 0;
let group = 0;
const done = () => {
  if (answers >= 2 && group >= 1) {
    clearTimeout(give);
    client.stop();
    process.exit(0);
  }
};
let me = null;
client.on('connected', (e) => { me = e; });
client.on('server-message', (e) => { console.log(`the app answered: ${e.message.data}`); answers++; done(); });
client.on('group-message', (e) => {
  console.log(`group ${e.message.group}: ${e.message.data}`);
  group++;
  done();
});
(async () => {
  await client.start();
  for (let i = 0; i < 50 && me === null; i++) await new Promise((r) => setTimeout(r, 20));
  console.log(me ? `connected as user ${me.userId} (connection ${me.connectionId})` : 'connected');
  await client.sendEvent('hello', 'hi there', 'text', { fireAndForget: false });
  await client.sendEvent('shout', 'good morning', 'text', { fireAndForget: false });
})().catch((e) => { console.log(`error: ${e.message}`); process.exit(1); });
