// Feeds binding.gyp the same source list and CPU flags as CMakeLists.txt, so the two builds cannot drift apart.
// Usage: node scripts/gyp-config.cjs sources|archflags
const fs = require('fs');
const path = require('path');

const root = path.join(__dirname, '..');

function sources() {
  return ['native/core', 'native/addon'].flatMap((dir) =>
    fs.readdirSync(path.join(root, dir)).filter((f) => f.endsWith('.cpp')).sort().map((f) => `${dir}/${f}`));
}

/** Mirrors cmake/cpu_arch.cmake's "auto": x86-64-v3 when this x86-64 CPU has AVX2 and FMA. */
function archFlags() {
  if (process.arch !== 'x64' || !fs.existsSync('/proc/cpuinfo')) return [];
  const cpu = fs.readFileSync('/proc/cpuinfo', 'utf8');
  return / avx2/.test(cpu) && / fma/.test(cpu) ? ['-march=x86-64-v3'] : [];
}

const what = process.argv[2];
console.log((what === 'sources' ? sources() : archFlags()).join(' '));
