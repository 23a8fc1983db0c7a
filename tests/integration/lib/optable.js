// optable.js: the 25 Web PubSub data-plane operations (api-version 2024-12-01) as the tests see them,
// written independently of src/common/ops.c from shared/docs/webpubsub-rest.md section 1.
'use strict';

const OPS = [
  ['GetServiceStatus', 'HEAD', '/api/health', 200],
  ['GenerateClientToken', 'POST', '/api/hubs/{hub}/:generateToken', 200],
  ['SendToAll', 'POST', '/api/hubs/{hub}/:send', 202],
  ['CloseAllConnections', 'POST', '/api/hubs/{hub}/:closeConnections', 204],
  ['AddConnectionsToGroups', 'POST', '/api/hubs/{hub}/:addToGroups', 200],
  ['RemoveConnectionsFromGroups', 'POST', '/api/hubs/{hub}/:removeFromGroups', 200],
  ['ConnectionExists', 'HEAD', '/api/hubs/{hub}/connections/{connectionId}', 200],
  ['CloseConnection', 'DELETE', '/api/hubs/{hub}/connections/{connectionId}', 204],
  ['SendToConnection', 'POST', '/api/hubs/{hub}/connections/{connectionId}/:send', 202],
  ['RemoveConnectionFromAllGroups', 'DELETE', '/api/hubs/{hub}/connections/{connectionId}/groups', 204],
  ['GroupExists', 'HEAD', '/api/hubs/{hub}/groups/{group}', 200],
  ['CloseGroupConnections', 'POST', '/api/hubs/{hub}/groups/{group}/:closeConnections', 204],
  ['SendToGroup', 'POST', '/api/hubs/{hub}/groups/{group}/:send', 202],
  ['ListConnectionsInGroup', 'GET', '/api/hubs/{hub}/groups/{group}/connections', 200],
  ['AddConnectionToGroup', 'PUT', '/api/hubs/{hub}/groups/{group}/connections/{connectionId}', 200],
  ['RemoveConnectionFromGroup', 'DELETE', '/api/hubs/{hub}/groups/{group}/connections/{connectionId}', 204],
  ['GrantPermission', 'PUT', '/api/hubs/{hub}/permissions/{permission}/connections/{connectionId}', 200],
  ['CheckPermission', 'HEAD', '/api/hubs/{hub}/permissions/{permission}/connections/{connectionId}', 200],
  ['RevokePermission', 'DELETE', '/api/hubs/{hub}/permissions/{permission}/connections/{connectionId}', 204],
  ['UserExists', 'HEAD', '/api/hubs/{hub}/users/{userId}', 200],
  ['CloseUserConnections', 'POST', '/api/hubs/{hub}/users/{userId}/:closeConnections', 204],
  ['SendToUser', 'POST', '/api/hubs/{hub}/users/{userId}/:send', 202],
  ['RemoveUserFromAllGroups', 'DELETE', '/api/hubs/{hub}/users/{userId}/groups', 204],
  ['AddUserToGroup', 'PUT', '/api/hubs/{hub}/users/{userId}/groups/{group}', 200],
  ['RemoveUserFromGroup', 'DELETE', '/api/hubs/{hub}/users/{userId}/groups/{group}', 204],
].map(([name, method, pattern, success]) => ({
  name, method, pattern, success,
  // one path segment per parameter: anything but '/'
  re: new RegExp('^' + pattern.replace(/[.*+?^$()|[\]\\]/g, '\\$&').replace(/\{[A-Za-z]+\}/g, '[^/]+') + '$'),
}));

// The operation a (method, raw path) pair names, or null.
function matchOp(method, rawPath) {
  const path = rawPath.split('?')[0];
  return OPS.find((o) => o.method === method && o.re.test(path)) || null;
}

module.exports = { OPS, matchOp };
