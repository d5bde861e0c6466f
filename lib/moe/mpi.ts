/**
 * SPEC §8's `mpi` transport: one process per rank under mpirun. Every process first exchanges a header
 * (what it is about to do, with what shapes: mismatches fail on every rank before any payload moves) and
 * its routing, then makes the whole cluster's plan itself (plan.ts, as `sim` does) and moves its own part
 * of it: hop 1 over the IB rail communicator (ranks of its local index), hop 2 over the node's
 * communicator, each hop one exchange of per-peer buffers packed and unpacked by the backend's copyRows
 * and reduceRows. Same rows, same order, same reductions as `sim`: the same bits and the same stats.
 */
import { callAsync, ERROR_CODES, ErrorCode, Fp8kitError } from '../errors.js';
import { MpiBuffers, native } from '../native.js';
import type { Tensor } from '../tensor.js';
import { CombinePlan, DispatchPlan } from './plan.js';
import { RowList } from './rows.js';

/** Communicators of the native exchange (native/mpi/mpi_api.h). */
export const enum Comm {
  Cluster = 0,
  Node = 1,
  Rail = 2,
}

/** Buffers of an exchange that failed: MPI may still write or read them, so they are never freed. */
const pinned: unknown[] = [];

let shutdownHooked = false;

const MAGIC = 0x46503858;
export const HEADER_INTS = 16;
const MESSAGE_BYTES = 256;

/** Fields of the header every rank sends before an operation (the rest of the 16 ints are the operation's). */
export const H_MAGIC = 0, H_OP = 1, H_SEQ = 2, H_STATUS = 3;
export const OP_DISPATCH = 1, OP_COMBINE = 2;

/** This process's place in an mpi cluster, once connected. */
export class MpiLink {
  private broken?: string;
  private seq = 0;
  private constructor(readonly handle: object, readonly rank: number, readonly timeoutSeconds: number) {}

  /** Makes the cluster's communicators (every process of the job must, with the same topology); Cluster has checked that the transport is available. */
  static async connect(node: number, nodes: number, gpusPerNode: number, timeoutSeconds: number): Promise<MpiLink> {
    if (!shutdownHooked) {
      shutdownHooked = true;
      // MPI_Finalize waits for every process of the job: bounded, so that no process hangs in exit.
      process.on('exit', (code) => native().mpiShutdown(Math.max(10, 2 * timeoutSeconds), code));
    }
    const { handle } = await callAsync(() => native().mpiComms(node, nodes, gpusPerNode, timeoutSeconds));
    return new MpiLink(handle, native().mpiRank(handle), timeoutSeconds);
  }

  /** The next operation's number (its messages' tags), refused once an exchange failed. */
  begin(fn: string): number {
    if (this.broken) throw new Fp8kitError('ERR_TRANSPORT', `${fn}: an earlier exchange of this cluster failed (${this.broken}); its ranks are out of step`);
    return ++this.seq;
  }

  /** Messages to and from every peer of a communicator (null: none; an array: several, in order), tagged by operation and step. */
  async exchange(which: Comm, sends: MpiBuffers[], recvs: MpiBuffers[], seq: number, step: number, timeoutSeconds = this.timeoutSeconds): Promise<void> {
    try {
      await callAsync(() => native().mpiExchange(this.handle, which, sends, recvs, (seq % 2000) * 16 + step, timeoutSeconds));
    } catch (e) {
      if (e instanceof Fp8kitError && e.code === 'ERR_TRANSPORT') {
        this.broken = e.message;
        pinned.push(sends, recvs);
      }
      throw e;
    }
  }

  /**
   * Every rank's header for operation `seq` (this one's with its own failure, if any, as status and
   * message): a rank that failed its own checks still takes part, so the others fail at once too.
   */
  async agree(header: Int32Array, failure: unknown, ranks: number, seq: number, fn: string): Promise<Int32Array[]> {
    const mine = new Int32Array(HEADER_INTS + MESSAGE_BYTES / 4);
    mine.set(header.subarray(0, HEADER_INTS));
    mine[H_MAGIC] = MAGIC, mine[H_SEQ] = seq;
    if (failure !== undefined) {
      const err = failure instanceof Fp8kitError ? failure : new Fp8kitError('ERR_INTERNAL', String(failure));
      mine[H_STATUS] = 1 + Math.max(0, ERROR_CODES.indexOf(err.code));
      new TextEncoder().encodeInto(err.message.slice(0, MESSAGE_BYTES / 2), new Uint8Array(mine.buffer, 4 * HEADER_INTS, MESSAGE_BYTES));
    }
    const all = Array.from({ length: ranks }, () => new Int32Array(mine.length));
    await this.exchange(Comm.Cluster, all.map(() => mine), all, seq, 0);
    if (failure !== undefined) throw failure;
    for (let r = 0; r < ranks; r++) {
      const h = all[r];
      if (h[H_MAGIC] !== MAGIC || h[H_SEQ] !== seq || h[H_OP] !== header[H_OP]) {
        this.broken = `rank ${r} is at another operation`;
        throw new Fp8kitError('ERR_TRANSPORT', `${fn}: rank ${r} sent ${h[H_OP] === OP_DISPATCH ? 'a dispatch' : h[H_OP] === OP_COMBINE ? 'a combine' : 'something else'} (operation ${h[H_SEQ]}) where this rank does ${header[H_OP] === OP_DISPATCH ? 'a dispatch' : 'a combine'} (operation ${seq}): every rank must call the same operations in the same order`);
      }
      if (h[H_STATUS]) {
        const text = new TextDecoder().decode(new Uint8Array(h.buffer, 4 * HEADER_INTS, MESSAGE_BYTES)).replace(/\0+$/, '');
        throw new Fp8kitError(ERROR_CODES[h[H_STATUS] - 1] ?? 'ERR_INTERNAL', `rank ${r} failed, so no rank sent anything: ${text}`);
      }
    }
    return all;
  }
}

/**
 * Every rank's `values` at rank 0 (the others get undefined), waiting up to `timeoutSeconds`: what a
 * benchmark gathers; tagged apart from the operations.
 */
export async function gatherAtZero(link: MpiLink, ranks: number, values: Float64Array, timeoutSeconds: number): Promise<Float64Array[] | undefined> {
  const none = Array.from({ length: ranks }, () => null);
  if (link.rank !== 0) {
    await link.exchange(Comm.Cluster, none.map((_, r) => (r === 0 ? values : null)), none, 2047, 15, timeoutSeconds);
    return undefined;
  }
  const all = none.map((_, r) => (r === 0 ? values : new Float64Array(values.length)));
  await link.exchange(Comm.Cluster, none, all.map((v, r) => (r === 0 ? null : v)), 2047, 15, timeoutSeconds);
  return all;
}

/** A checked header field: every rank must send rank 0's value. The message is the same on every rank. */
export function sameEverywhere(all: Int32Array[], field: number, what: string, code: ErrorCode, fn: string, show: (v: number) => string = String): void {
  for (let r = 1; r < all.length; r++)
    if (all[r][field] !== all[0][field]) throw new Fp8kitError(code, `${fn}: rank ${r} passes ${what} ${show(all[r][field])}, rank 0 ${show(all[0][field])}`);
}

/** The row movements of one dispatch's hops at rank `me`: what the copies need, from the whole plan. */
export interface RankDispatch {
  /** Hop 1: rows of my tokens for each node's forwarder (peer b of the rail), concatenated by b. */
  ibSend: { rowOf: Int32Array; count: Int32Array };
  /** Hop 1: rows I receive as forwarder, from each source node a (in order of a: the plan's order). */
  ibRecv: Int32Array;
  /** Hop 2: rows I send each rank of my node (peer q), concatenated by q: from my rows (0) or my IB rows (1). */
  nvlSend: { srcOf: Int32Array; rowOf: Int32Array; count: Int32Array };
  /** Hop 2: rows I receive from each rank of my node. */
  nvlRecv: Int32Array;
  /** My received rows: from peer q's buffer (q < G), my rows (G) or my IB rows (G + 1). */
  assemble: { srcOf: Int32Array; rowOf: Int32Array };
}

export function rankDispatch(plan: DispatchPlan, me: number, nodes: number, G: number): RankDispatch {
  const R = nodes * G, a = (me / G) | 0, l = me % G;
  const { ib, ibStart, finals, recvStart, source } = plan;
  const ibSrc = ib.srcOf, ibRowOf = ib.rowOf;
  // Hop 1, as a source: each other node's forwarder f = (b, l) takes, in its order, the rows I own.
  const count = new Int32Array(nodes), rows: number[] = [];
  for (let b = 0; b < nodes; b++) {
    if (b === a) continue;
    const f = b * G + l;
    for (let i = ibStart[f]; i < ibStart[f + 1]; i++)
      if (ibSrc[i] === me) rows.push(ibRowOf[i]), count[b]++;
  }
  // Hop 1, as the forwarder: my IB rows come from the rail's other nodes, each a block in order of node.
  const ibRecv = new Int32Array(nodes);
  for (let i = ibStart[me]; i < ibStart[me + 1]; i++) ibRecv[(ibSrc[i] / G) | 0]++;
  // Hop 2: the sender of received row i of rank r is its source (same node) or the forwarder of the
  // source's rail on r's node; rows I send other ranks of my node go in their receive order.
  const senderOf = (i: number, node: number) => (finals.srcOf[i] < R ? finals.srcOf[i] : node * G + (source[2 * i] % G));
  const nvlCount = new Int32Array(G), sSrc: number[] = [], sRow: number[] = [];
  for (let q = 0; q < G; q++) {
    const r = a * G + q;
    if (r === me) continue;
    for (let i = recvStart[r]; i < recvStart[r + 1]; i++) {
      if (senderOf(i, a) !== me) continue;
      const local = finals.srcOf[i] < R;
      sSrc.push(local ? 0 : 1), sRow.push(local ? finals.rowOf[i] : finals.rowOf[i] - ibStart[me]);
      nvlCount[q]++;
    }
  }
  const n = recvStart[me + 1] - recvStart[me];
  const nvlRecv = new Int32Array(G), aSrc = new Int32Array(n), aRow = new Int32Array(n);
  for (let i = recvStart[me]; i < recvStart[me + 1]; i++) {
    const q = senderOf(i, a) % G, at = i - recvStart[me];
    if (a * G + q !== me) {
      aSrc[at] = q, aRow[at] = nvlRecv[q]++;
    } else if (finals.srcOf[i] < R) {
      aSrc[at] = G, aRow[at] = finals.rowOf[i];
    } else {
      aSrc[at] = G + 1, aRow[at] = finals.rowOf[i] - ibStart[me];
    }
  }
  return {
    ibSend: { rowOf: Int32Array.from(rows), count },
    ibRecv,
    nvlSend: { srcOf: Int32Array.from(sSrc), rowOf: Int32Array.from(sRow), count: nvlCount },
    nvlRecv,
    assemble: { srcOf: aSrc, rowOf: aRow },
  };
}

/** The row movements of one combine at rank `me`. */
export interface RankCombine {
  /** Reduction 1 inputs: rows of my y for each forwarder of my node (peer q), concatenated by q. */
  ySend: { rowOf: Int32Array; count: Int32Array };
  /** Rows of y I receive from each rank of my node. */
  yRecv: Int32Array;
  /** Reduction 1 at me: over the received rows (source q < G) and my own y (G). */
  first: RowList;
  /** My partials for each source node a (rail peer a), a block each in order of a; my own node's stay. */
  partCount: Int32Array;
  /** Partials I receive from each node's forwarder of my rail. */
  partRecv: Int32Array;
  /** Reduction 2 at me: over the received partials (source b) and my own (b = my node). */
  second: RowList;
}

export function rankCombine(plan: CombinePlan, tokens: number[], nodeHit: Uint8Array[], me: number, nodes: number, G: number, weighted: boolean): RankCombine {
  const a = (me / G) | 0, l = me % G;
  const { first, firstStart } = plan;
  const off = first.offsets, src = first.srcOf, row = first.rowOf, w = first.weights;
  // What each forwarder of my node reduces of my y, in its order.
  const count = new Int32Array(G), rows: number[] = [];
  for (let q = 0; q < G; q++) {
    const f = a * G + q;
    if (f === me) continue;
    for (let e = off[firstStart[f]]; e < off[firstStart[f + 1]]; e++) if (src[e] === me) rows.push(row[e]), count[q]++;
  }
  // My reduction 1: the plan's segments of mine, each term from a received block or my own y.
  const yRecv = new Int32Array(G);
  const mine = new RowList(true, weighted);
  for (let seg = firstStart[me]; seg < firstStart[me + 1]; seg++) {
    for (let e = off[seg]; e < off[seg + 1]; e++) {
      const r = src[e];
      if (r === me) mine.push(G, row[e], w ? w[e] : 0);
      else mine.push(r % G, yRecv[r % G]++, w ? w[e] : 0);
    }
    mine.end();
  }
  // My partials go back to their sources: the rail's ranks of each node, in order of node (the plan's).
  const partCount = new Int32Array(nodes);
  for (let b = 0; b < nodes; b++) {
    const s = b * G + l;
    for (let t = 0; t < tokens[s]; t++) if (nodeHit[s][t * nodes + a]) partCount[b]++;
  }
  // Reduction 2 at me: for each of my tokens, its node partials in ascending node order; my own node's
  // come from my partials, after those of the rail's ranks on lower nodes.
  const partRecv = new Int32Array(nodes);
  let own = 0;
  for (let b = 0; b < a; b++) own += partCount[b];
  const second = new RowList(true);
  for (let t = 0; t < tokens[me]; t++) {
    for (let b = 0; b < nodes; b++) {
      if (!nodeHit[me][t * nodes + b]) continue;
      if (b === a) second.push(b, own++);
      else second.push(b, partRecv[b]++);
    }
    second.end();
  }
  return { ySend: { rowOf: Int32Array.from(rows), count }, yRecv, first: mine, partCount, partRecv, second };
}

/** Views of consecutive blocks of `rows`-row counts in t (null for empty blocks, and for `skip`). */
export function blocks(t: Tensor, counts: Int32Array, skip = -1): (ArrayBufferView | null)[] {
  const cols = t.shape[1];
  let at = 0;
  return Array.from(counts, (n, p) => {
    const v = n && p !== skip ? t.data.subarray(at * cols, (at + n) * cols) : null;
    at += n;
    return v;
  });
}
