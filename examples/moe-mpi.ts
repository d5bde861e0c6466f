/**
 * The DeepSeek-V3 MoE layer across processes: one process per rank under mpirun (SPEC §8, the `mpi`
 * transport). Each rank routes its tokens, dispatches them along the two-hop path, runs its experts as
 * one grouped FP8 GEMM, and combines the outputs back at the tokens' sources.
 *
 *   npx tsc -p examples && mpirun -np 4 node examples/dist/moe-mpi.js            # 2 nodes x 2 ranks, nodes by --gpus
 *   FP8KIT_MPI_NODE=shared mpirun -np 16 --hostfile hosts node examples/dist/moe-mpi.js 2 8
 */
import * as fp8 from 'fp8kit';

import { values } from './seeded.js';

const nodes = Number(process.argv[2] ?? 2), gpusPerNode = Number(process.argv[3] ?? 2);
const hidden = 512, experts = 8 * nodes * gpusPerNode, tokens = 256;

async function main(): Promise<void> {
  // One host can stand for several nodes: 'block' puts world ranks [n·G, (n+1)·G) on node n. On real
  // nodes leave the default ('shared': a node is a shared-memory domain).
  const nodeOf = (process.env.FP8KIT_MPI_NODE as 'shared' | 'block' | undefined) ?? 'block';
  const cluster = await new fp8.Cluster({ nodes, gpusPerNode }, { transport: 'mpi', numExperts: experts, nodeOf }).connect();
  const rank = cluster.rank, local = experts / cluster.ranks;

  // This rank's experts: W_e [hidden, hidden] in 128x128 blocks, packed once.
  const w = fp8.tensor('f32', [local, hidden, hidden], values(local * hidden * hidden, 1000 + rank, 0.1));
  const packed = await fp8.packWeights(await fp8.quantize(w, { tile: [128, 128] }));

  // The gate: 8 groups, 4 kept, top-8 (DeepSeek-V3's), then the dispatch with an FP8 payload.
  const x = fp8.castToBf16Sync(fp8.tensor('f32', [tokens, hidden], values(tokens * hidden, rank + 1, 4)));
  const logits = fp8.tensor('f32', [tokens, experts], values(tokens * experts, 77 + rank, 8));
  const { topkIdx, topkWeights } = await fp8.route(logits, { topk: 8, groups: 8, topkGroups: 4, routeScale: 2.5 });
  const [received] = await cluster.dispatch([{ x, topkIdx, topkWeights }], { expertAlignment: 128 });

  // The experts: one grouped GEMM over the expert-major rows, then the weighted combine.
  const e = received.expanded!;
  const y = await fp8.groupedGemmContiguous(e.a!, packed, e.mIndices) as fp8.Tensor<'bf16'>;
  const [out] = await cluster.combine([y], [received], { weights: true });

  console.log(`rank ${rank}: received ${received.recvX.shape[0]} tokens (${e.mIndices.length} expert rows), output [${out.shape.join(', ')}]`);
  if (rank === 0) {
    const s = cluster.stats();
    console.log(`cluster: IB ${(s.ibBytes / 1e6).toFixed(2)} MB (flat all-to-all ${(s.flatIbBytes / 1e6).toFixed(2)} MB), NVLink ${(s.nvlBytes / 1e6).toFixed(2)} MB, model ${(1e6 * s.modelSeconds).toFixed(1)} µs`);
  }
}

main().catch((err) => {
  console.error(err);
  process.exitCode = 1;
});
