// Run by test/portable.test.ts with the package root as argument: every kind of operation on seeded
// inputs, on `ref` and `cpu`, printed as one JSON object of SHA-256 digests of the results' bytes. The
// host's node runs it on the x86-64 build, arm64 node under qemu-user on the linux-arm64 build: the
// reference must give the same bytes on both machines, and arm64's `cpu` the reference's.
'use strict';
const crypto = require('node:crypto');
const fp8 = require(process.argv[2]);

let state = 0x2545f491;
function values(n, scale) {  // xorshift32, uniform in (-scale, scale)
  const v = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    state ^= state << 13, state ^= state >>> 17, state ^= state << 5;
    v[i] = ((state >>> 0) / 2 ** 32 - 0.5) * 2 * scale;
  }
  return v;
}
const digest = (...ts) => {
  const h = crypto.createHash('sha256');
  for (const t of ts) h.update(new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength));
  return h.digest('hex').slice(0, 16);
};

const x = fp8.tensor('f32', [96, 384], values(96 * 384, 6));
const w = fp8.tensor('f32', [256, 384], values(256 * 384, 0.5));
const logits = fp8.tensor('f32', [64, 256], values(64 * 256, 8));
const bias = fp8.tensor('f32', [256], values(256, 0.1));
const out = {};
for (const backend of ['ref', 'cpu']) {
  const r = (out[backend] = {});
  const o = { backend };
  const e4m3 = fp8.castToFp8Sync(x, o);
  r.castToFp8 = digest(e4m3, fp8.castToFp8Sync(x, { ...o, format: 'e5m2' }));
  r.castFromFp8 = digest(fp8.castFromFp8Sync(e4m3, o), fp8.castFromFp8Sync(e4m3, { ...o, out: 'bf16' }));
  const bf16 = fp8.castToBf16Sync(x, o);
  r.bf16 = digest(bf16, fp8.castToF32Sync(bf16, o));
  const qa = fp8.quantizeSync(bf16, o);
  const qb = fp8.quantizeSync(w, { ...o, tile: [128, 128] });
  const qc = fp8.quantizeSync(x, { ...o, tile: [128, 1] });
  r.quantize = digest(qa.data, qa.scales, qb.data, qb.scales, qc.data, qc.scales);
  r.dequantize = digest(fp8.dequantizeSync(qa, o));
  const ct = fp8.castTransposeSync(bf16, o);
  r.castTranspose = digest(ct.rowwise.data, ct.rowwise.scales, ct.columnwise.data, ct.columnwise.scales);
  r.gemm = digest(fp8.gemmSync(qa, qb, o), fp8.gemmSync(qa, qb, { ...o, accumulate: 'limited', out: 'f32' }));
  const g = fp8.routeSync(logits, { ...o, topk: 8, groups: 8, topkGroups: 4, bias, routeScale: 2.5 });
  r.route = digest(g.topkIdx, g.topkWeights);
  const l = fp8.dispatchLayoutSync(g.topkIdx, 256, { nodes: 2, gpusPerNode: 2 }, o);
  r.dispatchLayout = digest(l.tokensPerRank, l.tokensPerNode, l.tokensPerExpert, l.isTokenInRank);
}
console.log(JSON.stringify({ platform: process.platform, arch: process.arch, node: process.version, backends: fp8.backends().map((b) => `${b.name}${b.available ? '' : ' (unavailable)'}`), digests: out }));
