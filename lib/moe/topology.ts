/** SPEC §6: a cluster's shape; rank r = node · gpusPerNode + local. */
import { Fp8kitError } from '../errors.js';
import { describe, integer } from '../options.js';

export interface Topology {
  nodes: number;
  gpusPerNode: number;
}

/** A checked copy of a topology argument. */
export function checkTopology(t: unknown, name: string): Topology {
  if (t === null || typeof t !== 'object') throw new Fp8kitError('ERR_ARGUMENT', `${name} must be {nodes, gpusPerNode}; got ${describe(t)}`);
  const o = t as Partial<Topology>;
  const nodes = integer(o.nodes, `${name}.nodes`, 1);
  const gpusPerNode = integer(o.gpusPerNode, `${name}.gpusPerNode`, 1);
  if (nodes * gpusPerNode > 65536) throw new Fp8kitError('ERR_ARGUMENT', `${name}: ${nodes} x ${gpusPerNode} ranks is more than 65536`);
  return { nodes, gpusPerNode };
}

/** numExperts checked: a positive multiple of the rank count (SPEC §6, §7). */
export function checkExperts(numExperts: unknown, t: Topology, name: string): number {
  const e = integer(numExperts, name, 1);
  const ranks = t.nodes * t.gpusPerNode;
  if (e % ranks) throw new Fp8kitError('ERR_ARGUMENT', `${name} (${e}) must be a multiple of the ${ranks} ranks (${t.nodes} x ${t.gpusPerNode})`);
  return e;
}
