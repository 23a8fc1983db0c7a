// help.test.js: the habits of the platform, for each of the three programs: -h/--help print the usage on
// standard output and exit 0, -V/--version print "NAME VERSION" and exit 0, an unknown option prints to
// standard error and exits 2, and the program's man page documents every option its usage names.
'use strict';

const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');
const { spawnSync } = require('node:child_process');
const { SRCDIR, BUILDDIR } = require('../lib/paths.js');

const PROGRAMS = [
  { name: 'wpsgated', bin: process.env.WPSGATE_VG_REAL || process.env.WPSGATED || path.join(BUILDDIR, 'wpsgated'), man: 'docs/wpsgated.8' },
  { name: 'wpsgate', bin: process.env.WPSGATE || path.join(BUILDDIR, 'wpsgate'), man: 'docs/wpsgate.1' },
  { name: 'wpsgate-emulator', bin: process.env.WPSGATE_EMULATOR || path.join(BUILDDIR, 'wpsgate-emulator'), man: 'docs/wpsgate-emulator.1' },
];

function run(bin, args) {
  const r = spawnSync(bin, args, { encoding: 'utf8', timeout: 10000 });
  assert.equal(r.error, undefined, `${bin} ${args.join(' ')}: ${r.error}`);
  return r;
}

for (const p of PROGRAMS) {
  test(`${p.name}: -h and --help print the usage on stdout, exit 0`, () => {
    for (const a of ['-h', '--help']) {
      const r = run(p.bin, [a]);
      assert.equal(r.status, 0, `${a}: ${r.stderr}`);
      assert.match(r.stdout, /^usage: /i, a);
      assert.equal(r.stderr, '', `${a}: nothing on stderr`);
    }
  });

  test(`${p.name}: -V and --version print the version on stdout, exit 0`, () => {
    for (const a of ['-V', '--version']) {
      const r = run(p.bin, [a]);
      assert.equal(r.status, 0, `${a}: ${r.stderr}`);
      assert.match(r.stdout, new RegExp(`^${p.name} [0-9][0-9A-Za-z.+~-]*\\n$`), a);
      assert.equal(r.stderr, '');
    }
  });

  test(`${p.name}: an unknown option goes to stderr with exit 2`, () => {
    const r = run(p.bin, ['--no-such-option']);
    assert.equal(r.status, 2);
    assert.equal(r.stdout, '');
    assert.match(r.stderr, /no-such-option|unrecognized|usage/);
  });

  test(`${p.name}: the man page documents every option of the usage`, () => {
    const usage = run(p.bin, ['--help']).stdout;
    const page = fs.readFileSync(path.join(SRCDIR, p.man), 'utf8').replace(/\\-/g, '-').replace(/\\f[BIRP]/g, '');
    const opts = [...new Set([...usage.matchAll(/(?<![\w-])(--[a-z][a-z0-9-]*|-[a-zA-Z])\b/g)].map((m) => m[1]))];
    assert.ok(opts.length >= 4, `options found in the usage: ${opts}`);
    const missing = opts.filter((o) => !new RegExp(`(^|[^\\w-])${o.replace(/-/g, '\\-')}(?![\\w-])`, 'm').test(page));
    assert.deepEqual(missing, [], `${p.man} does not document these options of the usage`);
  });
}
