// conf-schema.test.js: the configuration table (wpsgated --config-schema) is the one source of truth:
// wpsgate.conf(5) documents exactly its keys, each with its default, range and reload rule, and the
// shipped etc/wpsgate.conf is its template (wpsgated --config-template), byte for byte.
'use strict';

const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');
const { execFileSync } = require('node:child_process');

const SRCDIR = process.env.WPSGATE_SRCDIR || path.resolve(__dirname, '../..');
const BUILDDIR = process.env.WPSGATE_BUILDDIR || path.join(SRCDIR, 'build');
// The valgrind wrapper is for running the daemon; these are quick one-shot calls of the real binary.
const WPSGATED = process.env.WPSGATE_VG_REAL || process.env.WPSGATED || path.join(BUILDDIR, 'wpsgated');

function run(...args) {
  return execFileSync(WPSGATED, args, { encoding: 'utf8', timeout: 20000 });
}

const schema = JSON.parse(run('--config-schema'));
const leaves = schema.filter((k) => k.type !== 'group');
const page = fs.readFileSync(path.join(SRCDIR, 'docs/wpsgate.conf.5'), 'utf8');

// The text of each entry: ".TP" / ".B key" up to the next ".TP" or ".SH", groff escapes undone.
function entries() {
  const out = new Map();
  const lines = page.split('\n');
  for (let i = 0; i < lines.length; i++) {
    if (lines[i].trim() !== '.TP') continue;
    const m = /^\.B ([a-z][a-z0-9_.[\]]*)\s*$/.exec(lines[i + 1] || '');
    if (!m) continue;
    const body = [];
    for (let j = i + 2; j < lines.length && !/^\.(TP|SH|SS)\b/.test(lines[j]); j++) {
      if (lines[j].startsWith('.\\"')) continue;
      body.push(lines[j].replace(/^\.(B|BR|I|IR|RB|RI)\s+/, ''));
    }
    out.set(m[1], body.join(' ').replace(/\\-/g, '-').replace(/\\&/g, '').replace(/""/g, '"')
      .replace(/\\\(em/g, '--').replace(/\s+/g, ' '));
  }
  return out;
}
const documented = entries();
// An entry of upstreams has the keys of upstream (one table): upstreams[].K is documented as upstream.K.
for (const k of schema) {
  const m = /^upstreams\[\]\.(.*)$/.exec(k.key);
  if (m && documented.has(`upstream.${m[1]}`) && !documented.has(k.key))
    documented.set(k.key, documented.get(`upstream.${m[1]}`));
}

// The introduction of each .SH section (up to its first .TP), by the section's first word in lower
// case ("LISTEN" -> "listen"): a section may say once that all its keys need a restart.
function intros() {
  const out = new Map();
  for (const part of page.split(/^\.SH /m).slice(1)) {
    const title = part.split('\n')[0].replace(/"/g, '').split(/[ (]/)[0].toLowerCase();
    out.set(title, part.split(/^\.TP$/m)[0].replace(/\n\.B?R? ?/g, ' '));
  }
  return out;
}
const intro = intros();

// Every "A..B" range the text states, as numbers ("0..1e9" too).
function ranges(text) {
  return [...text.matchAll(/(-?[0-9][0-9.e+]*)\.\.(-?[0-9][0-9.e+]*[0-9])/g)].map((m) => [Number(m[1]), Number(m[2])]);
}

test('the page documents exactly the keys of the table', () => {
  const keys = leaves.map((k) => k.key);
  assert.ok(keys.length >= 60, `only ${keys.length} keys in the schema`);
  const missing = keys.filter((k) => !documented.has(k));
  const extra = [...documented.keys()].filter((k) => !keys.includes(k));
  assert.ok(documented.has('upstreams[].hubs'), 'upstreams[] keys are taken from upstream');
  assert.deepEqual(missing, [], 'in the table but not in wpsgate.conf(5)');
  assert.deepEqual(extra, [], 'in wpsgate.conf(5) but not in the table');
});

test('each entry gives the default and the range of the table', () => {
  const problems = [];
  for (const k of leaves) {
    const text = documented.get(k.key);
    if (!text) continue;
    const low = text.toLowerCase();
    if (k.default !== undefined) {
      // the default as written in a file; strings may be shown with or without their quotes
      const d = k.default.replace(/^"(.*)"$/, '$1');
      const said = k.type === 'number' ? new RegExp(`default ${Number(d)}\\b`).test(low) : text.includes(d);
      if (!said) problems.push(`${k.key}: default ${k.default} not stated`);
      if (!/default/.test(low)) problems.push(`${k.key}: the word "default" is missing`);
    }
    if ((k.type === 'integer' || k.type === 'number') &&
        !ranges(text).some(([a, b]) => a === k.min && b === k.max))
      problems.push(`${k.key}: range ${k.min}..${k.max} not stated`);
    if (k.values) for (const v of k.values) if (!text.includes(v)) problems.push(`${k.key}: value ${v} not named`);
    if (k.max_entries !== undefined && !text.includes(String(k.max_entries)))
      problems.push(`${k.key}: at most ${k.max_entries} entries not stated`);
    const section = intro.get(k.key.split('.')[0]) || '';
    const allRestart = new RegExp(`every ${k.key.split('.')[0]} key needs a restart`, 'i').test(section.replace(/\s+/g, ' '));
    if (k.restart && !/restart/.test(low) && !allRestart)
      problems.push(`${k.key}: does not say that a change needs a restart`);
  }
  assert.deepEqual(problems, []);
});

test('etc/wpsgate.conf is the template of the table', () => {
  const shipped = fs.readFileSync(path.join(SRCDIR, 'etc/wpsgate.conf'), 'utf8');
  const template = run('--config-template');
  assert.ok(shipped === template,
    'etc/wpsgate.conf differs from `wpsgated --config-template`: regenerate it with\n' +
    '  build/wpsgated --config-template > etc/wpsgate.conf');
});

test('every key of the template is a key of the table, at its default', () => {
  // Each "name = value;" line of the template (commented or not) under its groups.
  const stack = [];
  const seen = new Map();
  for (const raw of run('--config-template').split('\n')) {
    const line = raw.replace(/^\s*(# )?/, '');
    let m;
    if ((m = /^([a-z_]+) = \{$/.exec(line)) || (m = /^([a-z_]+) = \( \{$/.exec(line))) {
      if (line.endsWith('( {')) seen.set([...stack, m[1]].join('.'), '( ... )');
      stack.push(line.endsWith('( {') ? `${m[1]}[]` : m[1]);
    } else if (/^\}( \))?;$/.test(line)) {
      stack.pop();
    } else if ((m = /^([a-z_]+) = (.*?);(  #.*)?$/.exec(line)) && !raw.trimStart().startsWith('# #')) {
      seen.set([...stack, m[1]].join('.'), m[2]);
    }
  }
  for (const k of leaves) {
    assert.ok(seen.has(k.key), `${k.key} is not in the template`);
    if (k.default !== undefined && !k.key.startsWith('listen.') && k.key !== 'access.tcp')
      assert.equal(seen.get(k.key), k.default, `${k.key} is not shown at its default`);
  }
});
