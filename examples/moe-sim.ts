/**
 * One DeepSeek-V3 MoE layer on a simulated cluster (every rank in this process): the gate, the two-hop
 * dispatch, each rank's experts as one grouped FP8 GEMM, the weighted combine, and the traffic per link.
 *
 *   npx tsc -p examples && node examples/dist/moe-sim.js [nodes] [gpusPerNode]
 */
import * as fp8 from 'fp8kit';

import { values } from './seeded.js';

const nodes = Number(process.argv[2] ?? 2), gpusPerNode = Number(process.argv[3] ?? 4);
const hidden = 512, tokens = 128, ranks = nodes * gpusPerNode, experts = 8 * ranks;

async function main(): Promise<void> {
  const cluster = new fp8.Cluster({ nodes, gpusPerNode }, { numExperts: experts });
  const local = experts / ranks;
  const packed = await Promise.all(Array.from({ length: ranks }, async (_, r) =>
    fp8.packWeights(await fp8.quantize(fp8.tensor('f32', [local, hidden, hidden], values(local * hidden * hidden, 1000 + r, 0.1)), { tile: [128, 128] }))));
  const inputs = await Promise.all(Array.from({ length: ranks }, async (_, r) => {
    const x = fp8.castToBf16Sync(fp8.tensor('f32', [tokens, hidden], values(tokens * hidden, r + 1, 4)));
    const logits = fp8.tensor('f32', [tokens, experts], values(tokens * experts, 77 + r, 8));
    return { x, ...(await fp8.route(logits, { topk: 8, groups: 8, topkGroups: 4, routeScale: 2.5 })) };
  }));
  const received = await cluster.dispatch(inputs, { expertAlignment: 128 });
  const y = await Promise.all(received.map((r, rank) => fp8.groupedGemmContiguous(r.expanded!.a!, packed[rank], r.expanded!.mIndices) as Promise<fp8.Tensor<'bf16'>>));
  const out = await cluster.combine(y, received, { weights: true });
  received.forEach((r, rank) => console.log(`rank ${rank}: received ${r.recvX.shape[0]} tokens (${r.expanded!.mIndices.length} expert rows), output [${out[rank].shape.join(', ')}]`));
  const s = cluster.stats();
  console.log(`cluster: IB ${(s.ibBytes / 1e6).toFixed(2)} MB (flat all-to-all ${(s.flatIbBytes / 1e6).toFixed(2)} MB), NVLink ${(s.nvlBytes / 1e6).toFixed(2)} MB, model ${(1e6 * s.modelSeconds).toFixed(1)} µs`);
}

main().catch((e) => {
  console.error(e);
  process.exitCode = 1;
});
