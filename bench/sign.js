// sign.js: the peer of wpsgated that bench/remote.sh measures it against: nginx's JavaScript module (njs,
// Debian libnginx-mod-http-js) signing each request the way Azure Web PubSub requires, an HS256 JWT whose
// aud is the exact upstream URL, with a short exp. And the service's side of it, verify(), which checks a
// token the way the service does (signature, aud = the URL it was sent to, exp), answering 202 or 401.
//
//   env WPS_KEY;                               (main context: the access key, from nginx's environment)
//   js_import sign from /path/to/sign.js;
//   js_set $wps_authorization sign.authorization;
//   location / { set $wps_upstream https://HOST:PORT; proxy_set_header Authorization $wps_authorization; ... }
//
// njs 0.7 runs the module's top level again for every request (in the worker, after it dropped root), so
// the key comes from the environment (`env WPS_KEY;`), not from a file read per request. It never appears
// in a log or a header, only its signatures.
import crypto from 'crypto';

const KEY = process.env.WPS_KEY;
const HEADER = Buffer.from('{"alg":"HS256","typ":"JWT"}').toString('base64url');
const LIFETIME_S = 60;

function jwt(aud, now) {
  const payload = Buffer.from(JSON.stringify({ aud: aud, iat: now, exp: now + LIFETIME_S })).toString('base64url');
  const input = HEADER + '.' + payload;
  return input + '.' + crypto.createHmac('sha256', KEY).update(input).digest('base64url');
}

// js_set: "Bearer <JWT>" for $wps_upstream followed by this request's URI (path and query as received).
function authorization(r) {
  return 'Bearer ' + jwt(r.variables.wps_upstream + r.variables.request_uri, Math.floor(Date.now() / 1000));
}

// js_content on the service's side: 202 when the token is valid for https://Host/URI, 401 otherwise.
function verify(r) {
  const m = /^Bearer ([A-Za-z0-9_-]+)\.([A-Za-z0-9_-]+)\.([A-Za-z0-9_-]+)$/.exec(r.headersIn.Authorization || '');
  let why = 'no bearer token';
  if (m) {
    const sig = crypto.createHmac('sha256', KEY).update(m[1] + '.' + m[2]).digest('base64url');
    let claims = {};
    try { claims = JSON.parse(Buffer.from(m[2], 'base64url').toString()); } catch (e) { claims = {}; }
    const aud = 'https://' + r.headersIn.Host + r.variables.request_uri;
    const now = Math.floor(Date.now() / 1000);
    if (sig !== m[3]) why = 'bad signature';
    else if (claims.aud !== aud) why = 'aud is not ' + aud;
    else if (!(claims.exp > now) || claims.exp - now > 3600) why = 'exp';
    else why = '';
  }
  r.headersOut['Content-Type'] = 'application/json';
  r.return(why === '' ? 202 : 401, why === '' ? '' : JSON.stringify({ code: 'Unauthorized', message: why }));
}

export default { authorization, verify };
