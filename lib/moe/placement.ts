/** SPEC §6: which replica of a logical expert a token is sent to, the same on every rank that asks. */
import { Fp8kitError } from '../errors.js';
import { checkOptions, describe, integer } from '../options.js';
import { checkTensor, Tensor } from '../tensor.js';

export interface ChoosePhysicalOptions {
  nodes: number;
  gpusPerNode: number;
  /** Physical slots per rank: slot p is on rank floor(p / slotsPerRank) (eplbRebalance's replicas / gpus). */
  slotsPerRank: number;
  /** The rank the tokens start from. */
  sourceRank: number;
  /** The layer to use when the placement holds several ([L, E, maxReplicas] and [L, E]); default 0 for one. */
  layer?: number;
}

/** One layer of an eplbRebalance result (or the whole result, with `layer`); other fields are ignored. */
export interface ChoosePhysicalPlacement {
  /** [E, maxReplicas] or [L, E, maxReplicas]: each expert's slots, −1 padded. */
  log2phy: Tensor<'i32'>;
  /** [E] or [L, E]: each expert's replica count. */
  logcnt: Tensor<'i32'>;
}

const FN = 'choosePhysical';


/** The chosen layer's rows, every count and listed slot checked against the cluster. */
function layerOf(placement: unknown, layer: unknown, totalSlots: number) {
  if (placement === null || typeof placement !== 'object' || !('log2phy' in placement) || !('logcnt' in placement))
    throw new Fp8kitError('ERR_ARGUMENT', `${FN}: placement must be {log2phy, logcnt} (an eplbRebalance result or one layer of it); got ${describe(placement)}`);
  const p = placement as ChoosePhysicalPlacement;
  const l2p = checkTensor(p.log2phy, 'placement.log2phy', ['i32'] as const);
  const cnt = checkTensor(p.logcnt, 'placement.logcnt', ['i32'] as const);
  const layered = l2p.shape.length === 3;
  if (!layered && l2p.shape.length !== 2)
    throw new Fp8kitError('ERR_SHAPE', `${FN}: placement.log2phy must be [E, maxReplicas] or [L, E, maxReplicas]; got [${l2p.shape.join(', ')}]`);
  const [L, E, M] = layered ? l2p.shape : [1, ...l2p.shape];
  const want = layered ? [L, E] : [E];
  if (cnt.shape.length !== want.length || cnt.shape.some((d, i) => d !== want[i]))
    throw new Fp8kitError('ERR_SHAPE', `${FN}: placement.logcnt must be [${want.join(', ')}] to match log2phy [${l2p.shape.join(', ')}]; got [${cnt.shape.join(', ')}]`);
  if (layered && L > 1 && layer === undefined)
    throw new Fp8kitError('ERR_ARGUMENT', `${FN}: placement holds ${L} layers; say which with options.layer`);
  const l = integer(layer ?? 0, `${FN}: options.layer`, 0, undefined, L);
  const slots = l2p.data.subarray(l * E * M, (l + 1) * E * M);
  const counts = cnt.data.subarray(l * E, (l + 1) * E);
  for (let e = 0; e < E; e++) {
    if (counts[e] < 1 || counts[e] > M)
      throw new Fp8kitError('ERR_ARGUMENT', `${FN}: placement.logcnt of expert ${e} is ${counts[e]}; it must be from 1 to ${M}`);
    for (let r = 0; r < counts[e]; r++) {
      const s = slots[e * M + r];
      if (s < 0 || s >= totalSlots)
        throw new Fp8kitError('ERR_ARGUMENT', `${FN}: placement.log2phy lists slot ${s} for replica ${r} of expert ${e}; the cluster has slots 0 to ${totalSlots - 1}`);
    }
  }
  return { E, M, slots, counts };
}

/**
 * The physical slot each token's routed experts go to, for the tokens `topkIdx` [T, k] (logical ids, −1 for
 * none, which stays −1) of rank `sourceRank`. The choice depends only on the token, its index and the source
 * rank, so every rank computes the same one; it prefers replicas the token reaches anyway, so that a
 * token's copies cross fewer nodes (the slow domain) and fewer ranks:
 *
 * - For token t, the nodes reached start as {the source rank's node}, the ranks reached as {}.
 * - First, each of the token's experts with exactly one replica takes it; its rank and node are reached.
 * - Then the other experts, in top-k order, each take (among its replicas in log2phy order) the first on
 *   a reached rank, else the first on a reached node, else replica number (sourceRank + t) % count, which
 *   spreads tokens over the replicas; the chosen slot's rank and node are reached.
 *
 * Slot p is on rank floor(p / slotsPerRank); rank r is on node floor(r / gpusPerNode).
 */
export function choosePhysical(topkIdx: Tensor<'i32'>, placement: ChoosePhysicalPlacement, opts: ChoosePhysicalOptions): Tensor<'i32'> {
  const o = checkOptions(opts, ['nodes', 'gpusPerNode', 'slotsPerRank', 'sourceRank', 'layer'], FN);
  if (opts === undefined) throw new Fp8kitError('ERR_ARGUMENT', `${FN}: options {nodes, gpusPerNode, slotsPerRank, sourceRank} are required`);
  const nodes = integer(o.nodes, `${FN}: options.nodes`, 1);
  const gpusPerNode = integer(o.gpusPerNode, `${FN}: options.gpusPerNode`, 1);
  const slotsPerRank = integer(o.slotsPerRank, `${FN}: options.slotsPerRank`, 1);
  const ranks = nodes * gpusPerNode;
  const sourceRank = integer(o.sourceRank, `${FN}: options.sourceRank`, 0, undefined, ranks);
  const { E, M, slots, counts } = layerOf(placement, o.layer, ranks * slotsPerRank);

  const idx = checkTensor(topkIdx, 'topkIdx', ['i32'] as const);
  if (idx.shape.length !== 2) throw new Fp8kitError('ERR_SHAPE', `${FN}: topkIdx must be [tokens, k]; got [${idx.shape.join(', ')}]`);
  const [T, k] = idx.shape;
  for (let i = 0; i < idx.data.length; i++)
    if (idx.data[i] < -1 || idx.data[i] >= E)
      throw new Fp8kitError('ERR_ARGUMENT', `${FN}: topkIdx[${Math.floor(i / k)}][${i % k}] = ${idx.data[i]} is not an expert of the placement (0 to ${E - 1}) nor -1`);

  const out = new Int32Array(T * k).fill(-1);
  // Reached marks: rankSeen[r] === t + 1 when token t reaches rank r; no clearing between tokens.
  const rankSeen = new Int32Array(ranks);
  const nodeSeen = new Int32Array(nodes);
  const rankOf = (s: number) => Math.floor(s / slotsPerRank);
  const take = (t: number, j: number, s: number) => {
    out[t * k + j] = s;
    const r = rankOf(s);
    rankSeen[r] = t + 1;
    nodeSeen[Math.floor(r / gpusPerNode)] = t + 1;
  };
  for (let t = 0; t < T; t++) {
    const mark = t + 1;
    nodeSeen[Math.floor(sourceRank / gpusPerNode)] = mark;
    for (let j = 0; j < k; j++) {
      const e = idx.data[t * k + j];
      if (e >= 0 && counts[e] === 1) take(t, j, slots[e * M]);
    }
    for (let j = 0; j < k; j++) {
      const e = idx.data[t * k + j];
      if (e < 0 || counts[e] === 1) continue;
      const row = e * M;
      let onRank = -1;
      let onNode = -1;
      for (let r = 0; r < counts[e] && onRank < 0; r++) {
        const rank = rankOf(slots[row + r]);
        if (rankSeen[rank] === mark) onRank = r;
        else if (onNode < 0 && nodeSeen[Math.floor(rank / gpusPerNode)] === mark) onNode = r;
      }
      const r = onRank >= 0 ? onRank : onNode >= 0 ? onNode : (sourceRank + t) % counts[e];
      take(t, j, slots[row + r]);
    }
  }
  return { dtype: 'i32', shape: [T, k], data: out };
}
