// paths.js: where every node test finds the source tree, the built programs and the npm packages, so that
// `node --test tests/integration/ops.test.js` works from the top of the source tree as well as under make.
//  - SRCDIR: $WPSGATE_SRCDIR, else the tree this file is in;
//  - BUILDDIR: $WPSGATE_BUILDDIR, else SRCDIR/build when it holds a built wpsgated (README's build
//    directory), else SRCDIR (an in-tree build);
//  - WPSGATED, WPSGATE, EMULATOR: $WPSGATED, $WPSGATE, $WPSGATE_EMULATOR, else the program in BUILDDIR;
//  - NODE_MODULES: $WPSGATE_NODE_MODULES, else SRCDIR/tests/node_modules.
// make check sets every variable (Makefile.am's AM_TESTS_ENVIRONMENT). With WPSGATE_VALGRIND=1, WPSGATED
// is tests/integration/lib/vgwrap.sh, which runs the real one ($WPSGATE_VG_REAL, set here for the children
// when make did not) under valgrind.
'use strict';

const fs = require('node:fs');
const path = require('node:path');

const SRCDIR = process.env.WPSGATE_SRCDIR || path.resolve(__dirname, '..', '..');

function isProgram(p) {
  try {
    fs.accessSync(p, fs.constants.X_OK);
    return fs.statSync(p).isFile();
  } catch {
    return false;
  }
}

function findBuilddir() {
  if (process.env.WPSGATE_BUILDDIR) return process.env.WPSGATE_BUILDDIR;
  const build = path.join(SRCDIR, 'build');
  if (isProgram(path.join(build, 'wpsgated'))) return build;
  if (isProgram(path.join(SRCDIR, 'wpsgated'))) return SRCDIR;
  return build; // nothing built yet: the error names the path the README builds to
}

const BUILDDIR = findBuilddir();
const VALGRIND = !!process.env.WPSGATE_VALGRIND;
const VGWRAP = path.resolve(__dirname, '..', 'integration', 'lib', 'vgwrap.sh');

let WPSGATED = process.env.WPSGATED || path.join(BUILDDIR, 'wpsgated');
if (VALGRIND && path.resolve(WPSGATED) !== VGWRAP) {
  process.env.WPSGATE_VG_REAL = process.env.WPSGATE_VG_REAL || WPSGATED;
  WPSGATED = VGWRAP;
}
const WPSGATE = process.env.WPSGATE || path.join(BUILDDIR, 'wpsgate');
const EMULATOR = process.env.WPSGATE_EMULATOR || path.join(BUILDDIR, 'wpsgate-emulator');
const NODE_MODULES = process.env.WPSGATE_NODE_MODULES || path.join(SRCDIR, 'tests', 'node_modules');

// require() one of the npm packages the tests use (tests/package.json).
function requireModule(name) {
  return require(path.join(NODE_MODULES, name));
}

module.exports = { SRCDIR, BUILDDIR, WPSGATED, WPSGATE, EMULATOR, NODE_MODULES, VALGRIND, VGWRAP, requireModule };
