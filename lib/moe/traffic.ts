/**
 * SPEC §8 traffic accounting: payload bytes per IB link (rank (a, l) → (b, l)) and NVLink link (rank →
 * rank in a node), the flat all-to-all alternative, and a cost model. The model's time of one dispatch or
 * combine is set by its busiest port: each rank's IB NIC and its NVLink, each direction on its own
 * (bytes over bandwidth); the times of the operations add up.
 */
import type { Topology } from './topology.js';

export interface LinkBytes {
  kind: 'ib' | 'nvl';
  from: number;
  to: number;
  bytes: number;
}

export interface TrafficStats {
  /** Payload bytes over IB, and over NVLink (data and scales; routing metadata not counted). */
  ibBytes: number;
  nvlBytes: number;
  /** The same payload sent flat: once per (token, rank), IB wherever the ranks are on different nodes. */
  flatIbBytes: number;
  flatNvlBytes: number;
  /** Every link that carried bytes, IB first, then by source and destination rank. */
  links: LinkBytes[];
  /** The cost model's seconds for the two-hop path, and for the flat one. */
  modelSeconds: number;
  flatModelSeconds: number;
  /** Dispatches and combines counted. */
  operations: number;
}

/** Bytes through each rank's ports during one operation. */
class Ports {
  readonly ibOut: Float64Array;
  readonly ibIn: Float64Array;
  readonly nvlOut: Float64Array;
  readonly nvlIn: Float64Array;
  constructor(ranks: number) {
    this.ibOut = new Float64Array(ranks);
    this.ibIn = new Float64Array(ranks);
    this.nvlOut = new Float64Array(ranks);
    this.nvlIn = new Float64Array(ranks);
  }
  add(ib: boolean, from: number, to: number, bytes: number): void {
    (ib ? this.ibOut : this.nvlOut)[from] += bytes;
    (ib ? this.ibIn : this.nvlIn)[to] += bytes;
  }
  seconds(ibBandwidth: number, nvlBandwidth: number): number {
    const most = (a: Float64Array) => a.reduce((m, v) => Math.max(m, v), 0);
    return Math.max(Math.max(most(this.ibOut), most(this.ibIn)) / ibBandwidth, Math.max(most(this.nvlOut), most(this.nvlIn)) / nvlBandwidth);
  }
  clear(): void {
    for (const a of [this.ibOut, this.ibIn, this.nvlOut, this.nvlIn]) a.fill(0);
  }
}

/**
 * The counts of the operation under way are its own until endOperation adds them to the totals, so an
 * operation that fails part way (discard) leaves the totals as they were.
 */
export class Traffic {
  private readonly ranks: number;
  private readonly links: Float64Array;  // [kind · R² + from · R + to]: bytes
  private readonly pending: Float64Array;  // the same, for the operation under way
  private flatIb = 0;
  private flatNvl = 0;
  private seconds = 0;
  private flatSeconds = 0;
  private operations = 0;
  private readonly now: Ports;
  private readonly flatNow: Ports;

  constructor(private readonly topology: Topology, private readonly ibBandwidth: number, private readonly nvlBandwidth: number) {
    this.ranks = topology.nodes * topology.gpusPerNode;
    this.links = new Float64Array(2 * this.ranks * this.ranks);
    this.pending = new Float64Array(2 * this.ranks * this.ranks);
    this.now = new Ports(this.ranks);
    this.flatNow = new Ports(this.ranks);
  }

  /** Bytes of the two-hop path on one link. */
  add(kind: 'ib' | 'nvl', from: number, to: number, bytes: number): void {
    this.pending[(kind === 'ib' ? 0 : this.ranks * this.ranks) + from * this.ranks + to] += bytes;
    this.now.add(kind === 'ib', from, to, bytes);
  }

  /** Bytes the flat path would send from one rank to another. */
  addFlat(from: number, to: number, bytes: number): void {
    const G = this.topology.gpusPerNode;
    this.flatNow.add(Math.floor(from / G) !== Math.floor(to / G), from, to, bytes);
  }

  /** Closes one dispatch or combine: its bytes and its model time join the totals. */
  endOperation(): void {
    this.pending.forEach((b, i) => (this.links[i] += b));
    this.flatIb += this.flatNow.ibOut.reduce((a, b) => a + b, 0);
    this.flatNvl += this.flatNow.nvlOut.reduce((a, b) => a + b, 0);
    this.seconds += this.now.seconds(this.ibBandwidth, this.nvlBandwidth);
    this.flatSeconds += this.flatNow.seconds(this.ibBandwidth, this.nvlBandwidth);
    this.operations++;
    this.discard();
  }

  /** Forgets the operation under way (it failed). */
  discard(): void {
    this.pending.fill(0);
    this.now.clear();
    this.flatNow.clear();
  }

  stats(): TrafficStats {
    const R = this.ranks;
    const links: LinkBytes[] = [];
    this.links.forEach((bytes, key) => {
      if (bytes) links.push({ kind: key >= R * R ? 'nvl' : 'ib', from: Math.floor((key % (R * R)) / R), to: key % R, bytes });
    });
    const sum = (kind: string) => links.filter((l) => l.kind === kind).reduce((s, l) => s + l.bytes, 0);
    return {
      ibBytes: sum('ib'), nvlBytes: sum('nvl'), flatIbBytes: this.flatIb, flatNvlBytes: this.flatNvl, links,
      modelSeconds: this.seconds, flatModelSeconds: this.flatSeconds, operations: this.operations,
    };
  }

  reset(): void {
    this.links.fill(0);
    this.flatIb = this.flatNvl = this.seconds = this.flatSeconds = this.operations = 0;
    this.discard();
  }
}
