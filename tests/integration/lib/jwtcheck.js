// jwtcheck.js: HS256 JWT verification with node's crypto, independent of the C signer, for the tests.
'use strict';

const crypto = require('node:crypto');

function b64urlDecode(s) {
  if (!/^[A-Za-z0-9_-]*$/.test(s)) throw new Error('not base64url');
  return Buffer.from(s, 'base64url');
}

function hs256(key, data) {
  return crypto.createHmac('sha256', Buffer.from(key, 'utf8')).update(data).digest();
}

// Parse and verify a compact JWT against key (a string: its UTF-8 bytes are the HMAC key).
// Returns { header, claims, headerJson, claimsJson }; throws an Error saying what is wrong.
function verifyJwt(token, key) {
  if (typeof token !== 'string') throw new Error('token is not a string');
  const parts = token.split('.');
  if (parts.length !== 3) throw new Error(`token has ${parts.length} parts, expected 3`);
  const headerJson = b64urlDecode(parts[0]).toString('utf8');
  const claimsJson = b64urlDecode(parts[1]).toString('utf8');
  const header = JSON.parse(headerJson);
  const claims = JSON.parse(claimsJson);
  if (header.alg !== 'HS256') throw new Error(`header alg is ${JSON.stringify(header.alg)}, expected "HS256"`);
  if (header.typ !== undefined && header.typ !== 'JWT') throw new Error(`header typ is ${JSON.stringify(header.typ)}`);
  const sig = b64urlDecode(parts[2]);
  const want = hs256(key, `${parts[0]}.${parts[1]}`);
  if (sig.length !== want.length || !crypto.timingSafeEqual(sig, want)) throw new Error('signature does not verify with the key');
  return { header, claims, headerJson, claimsJson };
}

// true when token is a JWT whose signature verifies with key
function signedWith(token, key) {
  try { verifyJwt(token, key); return true; } catch { return false; }
}

// Every JWT-shaped substring of text (three base64url parts, the first starting with "eyJ").
function findJwts(text) {
  return text.match(/eyJ[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+/g) || [];
}

module.exports = { verifyJwt, signedWith, findJwts, hs256 };
