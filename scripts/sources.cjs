// The addon's C++ sources, listed once for binding.gyp (CMakeLists.txt globs the same folders).
const fs = require('fs');
const path = require('path');
const root = path.join(__dirname, '..');
const dirs = ['native/addon', 'native/common', 'native/ref', 'native/cpu', 'native/cpu/gemm', 'native/emu', 'native'];
const out = [];
for (const d of dirs) {
  if (!fs.existsSync(path.join(root, d))) continue;
  for (const f of fs.readdirSync(path.join(root, d)).sort()) if (f.endsWith('.cc')) out.push(`${d}/${f}`);
}
console.log(out.join(' '));
