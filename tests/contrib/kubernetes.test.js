// kubernetes.test.js: the Kubernetes example (contrib/kubernetes: the key; contrib/kubernetes/workload-identity:
// Azure workload identity) is valid Kubernetes and describes the pod docs/operations.md "Containers" says.
//  - every file parses as YAML 1.1 (what kubectl reads) without warnings;
//  - every object passes the OpenAPI schema of its kind (npm kubernetes-models: types, required fields)
//    and type-checks as a literal of its type in the Kubernetes API types (npm kubernetes-types with
//    tsc --strict: a misspelt or misplaced field is an error there); a broken copy fails both;
//  - the pod: the gateway is a native sidecar (init container, restartPolicy Always) with startup and
//    liveness probes on /healthz and readiness on /readyz at the port metrics.listen names; the socket's
//    emptyDir is mounted in the gateway and the app at the directory of listen.unix.path; non-root,
//    read-only root, no privilege escalation, ALL capabilities dropped and memory limits everywhere;
//    the key's Secret reaches only the copying init container and the gateway's CREDENTIALS_DIRECTORY;
//    the workload identity variant has the webhook's label, a service account with a client id, no
//    Secret, entra kind workload_identity, and is otherwise the same Deployment.
// The ConfigMaps' wpsgate.conf pass `wpsgated -t` in the image itself: tests/contrib/container.sh.
'use strict';

const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { spawnSync } = require('node:child_process');
const { SRCDIR, NODE_MODULES, requireModule } = require('../lib/paths.js');

const YAML = requireModule('yaml');
const DIR = path.join(SRCDIR, 'contrib/kubernetes');
const VARIANTS = { key: DIR, 'workload-identity': path.join(DIR, 'workload-identity') };

function load(dir) {
  const objs = [];
  for (const f of fs.readdirSync(dir).filter((n) => n.endsWith('.yaml')).sort()) {
    const docs = YAML.parseAllDocuments(fs.readFileSync(path.join(dir, f), 'utf8'), { version: '1.1' });
    for (const d of docs) {
      assert.deepEqual(d.errors, [], `${f}: ${d.errors.join('; ')}`);
      assert.deepEqual(d.warnings, [], `${f}: ${d.warnings.join('; ')}`);
      objs.push({ file: f, obj: d.toJS() });
    }
  }
  return objs;
}

// The kubernetes-models class and the kubernetes-types module and type of each kind used here.
const KINDS = {
  'apps/v1 Deployment': { model: 'kubernetes-models/apps/v1/Deployment', types: 'apps/v1' },
  'v1 ConfigMap': { model: 'kubernetes-models/v1/ConfigMap', types: 'core/v1' },
  'v1 Secret': { model: 'kubernetes-models/v1/Secret', types: 'core/v1' },
  'v1 ServiceAccount': { model: 'kubernetes-models/v1/ServiceAccount', types: 'core/v1' },
};

function kindOf(o) {
  const k = KINDS[`${o.apiVersion} ${o.kind}`];
  assert.ok(k, `no validator for ${o.apiVersion} ${o.kind}`);
  return k;
}

async function schemaErrors(o) {
  const k = kindOf(o);
  const mod = await import(path.join(NODE_MODULES, k.model + '.js'));
  try {
    new mod[o.kind](o).validate();
    return null;
  } catch (e) {
    return e.message;
  }
}

// tsc --strict over one file that assigns every object as a literal of its type: the excess property
// check names any field the type does not have. Returns tsc's output ('' when clean).
function typeErrors(objs) {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'wpsgate-k8s-'));
  try {
    const lines = [];
    objs.forEach((o, i) => {
      const mod = path.join(NODE_MODULES, 'kubernetes-types', kindOf(o).types);
      lines.push(`import type { ${o.kind} as T${i} } from ${JSON.stringify(mod)};`);
      lines.push(`export const o${i}: T${i} = ${JSON.stringify(o, null, 1)};`);
    });
    fs.writeFileSync(path.join(tmp, 'manifests.ts'), lines.join('\n') + '\n');
    fs.writeFileSync(path.join(tmp, 'tsconfig.json'), JSON.stringify({
      compilerOptions: { strict: true, noEmit: true, types: [], module: 'commonjs', target: 'es2020' },
      files: ['manifests.ts'],
    }));
    const tsc = path.join(NODE_MODULES, 'typescript/bin/tsc');
    const r = spawnSync(process.execPath, [tsc, '-p', tmp], {
      cwd: tmp,
      encoding: 'utf8',
      timeout: 60000,
    });
    assert.equal(r.error, undefined, String(r.error));
    return r.status === 0 ? '' : r.stdout + r.stderr;
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true });
  }
}

for (const [variant, dir] of Object.entries(VARIANTS)) {
  test(`${variant}: every object passes its kind's schema and type-checks against the Kubernetes API types`, async () => {
    const objs = load(dir);
    assert.ok(objs.length >= 2, 'a Deployment and a ConfigMap at least');
    for (const { file, obj } of objs) assert.equal(await schemaErrors(obj), null, file);
    assert.equal(typeErrors(objs.map((o) => o.obj)), '');
  });
}

test('the validators catch a broken manifest: a wrong type fails the schema, a misspelt field the types', async () => {
  const dep = load(DIR).find((o) => o.obj.kind === 'Deployment').obj;
  const wrongType = structuredClone(dep);
  wrongType.spec.template.spec.initContainers[1].ports[0].containerPort = '9464';
  assert.match(await schemaErrors(wrongType), /containerPort must be integer/);
  const misspelt = structuredClone(dep);
  misspelt.spec.template.spec.containers[0].volumeMount = misspelt.spec.template.spec.containers[0].volumeMounts;
  assert.match(typeErrors([misspelt]), /'"volumeMount"' does not exist in type 'Container'/);
  const misplaced = structuredClone(dep);
  misplaced.spec.template.spec.fsGroup = 10001;
  assert.match(typeErrors([misplaced]), /'"fsGroup"' does not exist in type 'PodSpec'/);
});

// What the pod must be for the gateway and the app to work together, in either variant.
function checkPod(objs) {
  const byKind = (k) => objs.filter((o) => o.obj.kind === k).map((o) => o.obj);
  const [dep] = byKind('Deployment');
  assert.ok(dep, 'a Deployment');
  const pod = dep.spec.template.spec;
  assert.deepEqual(dep.spec.selector.matchLabels, Object.fromEntries(
    Object.entries(dep.spec.template.metadata.labels).filter(([k]) => k in dep.spec.selector.matchLabels)));
  assert.equal(pod.securityContext.runAsNonRoot, true);
  assert.equal(pod.securityContext.runAsUser, 10001, 'the image user');
  assert.equal(pod.securityContext.fsGroup, 10001, 'the socket group: every container of the pod is in it');
  assert.equal(pod.securityContext.seccompProfile.type, 'RuntimeDefault');
  const all = [...pod.initContainers, ...pod.containers];
  for (const c of all) {
    const sc = c.securityContext;
    assert.equal(sc.readOnlyRootFilesystem, true, c.name);
    assert.equal(sc.allowPrivilegeEscalation, false, c.name);
    assert.equal(sc.runAsNonRoot, true, c.name);
    assert.deepEqual(sc.capabilities.drop, ['ALL'], c.name);
    assert.ok(!sc.capabilities.add, c.name);
    assert.ok(c.resources.requests.cpu && c.resources.requests.memory && c.resources.limits.memory, c.name);
  }
  const gw = pod.initContainers.find((c) => c.name === 'wpsgate');
  assert.ok(gw, 'the gateway among the init containers');
  assert.equal(gw.restartPolicy, 'Always', 'a native sidecar');
  const app = pod.containers.find((c) => c.name === 'app');
  assert.ok(app, 'the app container');

  // the configuration: the ConfigMap the volume names, mounted where -c reads it
  const cmVol = pod.volumes.find((v) => v.configMap);
  const cm = byKind('ConfigMap').find((c) => c.metadata.name === cmVol.configMap.name);
  assert.ok(cm, `ConfigMap ${cmVol.configMap.name}`);
  const cmMount = gw.volumeMounts.find((m) => m.name === cmVol.name);
  assert.equal(cmMount.readOnly, true);
  assert.deepEqual(gw.args, ['-c', path.posix.join(cmMount.mountPath, 'wpsgate.conf')]);
  const conf = cm.data['wpsgate.conf'];
  assert.ok(conf, 'wpsgate.conf in the ConfigMap');

  // the socket: in an emptyDir both mount, at the directory of listen.unix.path
  const sockPath = conf.match(/unix = \{ path = "([^"]+)"; mode = "0660"; group = "wpsgate"; \}/)[1];
  const sockVol = pod.volumes.find((v) => v.emptyDir && gw.volumeMounts.some((m) => m.name === v.name &&
    m.mountPath === path.posix.dirname(sockPath)));
  assert.ok(sockVol, `an emptyDir mounted at ${path.posix.dirname(sockPath)} in the gateway`);
  assert.ok(app.volumeMounts.some((m) => m.name === sockVol.name && m.mountPath === path.posix.dirname(sockPath)),
    'the app mounts the socket directory');
  assert.deepEqual(app.env.find((e) => e.name === 'WPSGATE_SOCKET'), { name: 'WPSGATE_SOCKET', value: sockPath });
  assert.match(conf, /tcp = \[ \];/, 'no TCP listener: every container of a pod shares the loopback');

  // the probes: on the metrics listener's port
  const port = Number(conf.match(/metrics = \{ listen = "0\.0\.0\.0:(\d+)"; \};/)[1]);
  const portDef = gw.ports.find((p) => p.name === 'metrics');
  assert.equal(portDef.containerPort, port);
  for (const [probe, p] of [['startupProbe', '/healthz'], ['livenessProbe', '/healthz'], ['readinessProbe', '/readyz']]) {
    assert.equal(gw[probe].httpGet.path, p, probe);
    assert.ok([port, 'metrics'].includes(gw[probe].httpGet.port), probe);
  }
  assert.equal(dep.spec.template.metadata.annotations['prometheus.io/port'], String(port));
  const grace = Number(conf.match(/shutdown_grace_ms = (\d+);/)[1]);
  assert.ok(grace < (pod.terminationGracePeriodSeconds ?? 30) * 1000, 'the drain fits in the grace period');

  // nothing but the gateway sees any credential
  for (const v of pod.volumes.filter((x) => x.secret || x.projected))
    assert.ok(!app.volumeMounts.some((m) => m.name === v.name), `the app mounts ${v.name}`);
  return { dep, pod, gw, app, conf, byKind };
}

test('key: the Secret reaches the gateway as a private file in its CREDENTIALS_DIRECTORY', () => {
  const { pod, gw, app, conf, byKind } = checkPod(load(DIR));
  assert.match(conf, /access_key_file = "access-key";/);
  const secVol = pod.volumes.find((v) => v.secret);
  const secret = byKind('Secret').find((s) => s.metadata.name === secVol.secret.secretName);
  assert.ok(secret && secret.stringData['access-key'], 'the Secret with the key access-key');
  assert.equal(secVol.secret.defaultMode, 0o400);
  const copier = pod.initContainers[0];
  assert.notEqual(copier.name, 'wpsgate', 'the copy runs before the gateway starts');
  assert.equal(copier.restartPolicy, undefined, 'an ordinary init container: it runs to completion');
  const from = copier.volumeMounts.find((m) => m.name === secVol.name);
  assert.equal(from.readOnly, true);
  const credDir = gw.env.find((e) => e.name === 'CREDENTIALS_DIRECTORY').value;
  const credMount = gw.volumeMounts.find((m) => m.mountPath === credDir);
  assert.equal(credMount.readOnly, true);
  const credVol = pod.volumes.find((v) => v.name === credMount.name);
  assert.equal(credVol.emptyDir.medium, 'Memory', 'the copy never touches the node disk');
  const to = copier.volumeMounts.find((m) => m.name === credVol.name);
  assert.deepEqual(copier.command, ['/usr/bin/install', '-m', '0400', path.posix.join(from.mountPath, 'access-key'),
    path.posix.join(to.mountPath, 'access-key')]);
  assert.ok(!gw.volumeMounts.some((m) => m.name === secVol.name), 'the gateway reads the copy only');
  assert.ok(!app.volumeMounts.some((m) => m.name === credVol.name), 'the app does not see the copy');
});

test('workload identity: the webhook label, a federated service account, no Secret, otherwise the same pod', () => {
  const objs = load(VARIANTS['workload-identity']);
  const { dep, pod, gw, conf, byKind } = checkPod(objs);
  assert.equal(dep.spec.template.metadata.labels['azure.workload.identity/use'], 'true');
  assert.equal(dep.spec.template.metadata.annotations['azure.workload.identity/skip-containers'], 'app');
  const sa = byKind('ServiceAccount').find((s) => s.metadata.name === pod.serviceAccountName);
  assert.ok(sa, `ServiceAccount ${pod.serviceAccountName}`);
  assert.match(sa.metadata.annotations['azure.workload.identity/client-id'],
    /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/);
  assert.equal(byKind('Secret').length, 0);
  assert.ok(!pod.volumes.some((v) => v.secret));
  assert.match(conf, /entra = \{ kind = "workload_identity"; \};/);
  assert.doesNotMatch(conf, /access_key_file|connection_string_file/);
  assert.ok(!(gw.env || []).some((e) => e.name.startsWith('AZURE_')), 'the webhook sets the AZURE_* variables');

  // the key variant's Deployment, less the key's parts, plus the identity's: the two cannot drift apart
  const base = structuredClone(load(DIR).find((o) => o.obj.kind === 'Deployment').obj);
  const bp = base.spec.template.spec;
  const secVol = bp.volumes.find((v) => v.secret).name;
  const copier = bp.initContainers[0];
  const credVol = copier.volumeMounts.find((m) => m.name !== secVol).name;
  bp.volumes = bp.volumes.filter((v) => v.name !== secVol && v.name !== credVol);
  bp.initContainers = bp.initContainers.slice(1);
  const bgw = bp.initContainers[0];
  delete bgw.env;
  bgw.volumeMounts = bgw.volumeMounts.filter((m) => m.name !== credVol);
  base.spec.template.metadata.labels['azure.workload.identity/use'] = 'true';
  base.spec.template.metadata.annotations['azure.workload.identity/skip-containers'] = 'app';
  bp.serviceAccountName = pod.serviceAccountName;
  assert.deepEqual(dep, base);
  // and the same configuration but for the credential
  const baseConf = load(DIR).find((o) => o.obj.kind === 'ConfigMap').obj.data['wpsgate.conf'];
  assert.equal(conf.replace('entra = { kind = "workload_identity"; };', 'access_key_file = "access-key";'), baseConf);
});
