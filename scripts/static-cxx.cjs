// binding.gyp's Linux link flags: the C++ runtime linked in statically (its symbols hidden), so the
// addon needs no newer libstdc++ than the machine it loads on has (native/addon/glibc_floor.h), where
// the compiler has a static libstdc++ (Fedora/RHEL ship it apart, as libstdc++-static); else nothing.
// Printed when run (for gyp); staticCxxFlags(cxx) for scripts/cross-build.cjs.
const { spawnSync } = require('child_process');
const path = require('path');

function staticCxxFlags(cxx = process.env.CXX || 'g++') {
  const r = spawnSync(cxx, ['-print-file-name=libstdc++.a'], { encoding: 'utf8' });
  const file = r.status === 0 ? r.stdout.trim() : '';
  return path.isAbsolute(file) ? ['-static-libstdc++', '-Wl,--exclude-libs,ALL'] : [];
}

module.exports = { staticCxxFlags };
if (require.main === module) console.log(staticCxxFlags().join(' '));
