// The addon's C++ sources, listed once for binding.gyp (CMakeLists.txt globs the same folders).
// `node scripts/sources.cjs <arch> [<os>]`: on x64 (the default) the cpu backend's SIMD tiers; elsewhere
// (arm64, ...) native/cpu/portable in their place, the x86-64 code left out. On Windows and macOS (os
// win32 / darwin, or gyp's "win" / "mac") the CUDA emulator is left out: its fibers are a System V
// switch in ELF assembly or ucontext (deprecated on macOS); native/emu/absent names it unavailable.
const fs = require('fs');
const path = require('path');
const root = path.join(__dirname, '..');
const arch = process.argv[2] || process.arch;
const noEmu = ['win32', 'win', 'darwin', 'mac'].includes(process.argv[3] || process.platform);
const x86 = arch === 'x64' || arch === 'ia32';
const dirs = ['native/addon', 'native/common', 'native/ref', ...(x86 ? ['native/cpu', 'native/cpu/gemm'] : ['native/cpu/portable']), noEmu ? 'native/emu/absent' : 'native/emu', 'native'];
const out = [];
for (const d of dirs) {
  if (!fs.existsSync(path.join(root, d))) continue;
  for (const f of fs.readdirSync(path.join(root, d)).sort()) if (f.endsWith('.cc')) out.push(`${d}/${f}`);
}
console.log(out.join(' '));
