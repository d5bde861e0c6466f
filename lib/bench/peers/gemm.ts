/**
 * The GEMM peers of `fp8kit bench gemm`: oneDNN's bf16 matmul and OpenBLAS sgemm. They are C libraries,
 * so native/peers/gemm_peer.cc is compiled against each where it is installed (g++, once per source
 * version, into the temporary folder) and run as a child process on the same shapes. A peer that is
 * missing says so, with the command that installs it.
 */
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { cpuFlags } from '../../cpuinfo.js';
import { packageRoot } from '../../native.js';
import { median } from '../harness.js';

export interface GemmPeer {
  name: string;
  /** The peer's binary, or why there is none. */
  exe?: string;
  reason?: string;
}

const PEERS = {
  onednn: { define: 'PEER_DNNL', lib: '-ldnnl', install: 'apt-get install libdnnl-dev' },
  openblas: { define: 'PEER_OPENBLAS', lib: '-lopenblas', install: 'apt-get install libopenblas-dev' },
} as const;
export type GemmPeerName = keyof typeof PEERS;

const built = new Map<string, GemmPeer>();

/** The peer's binary, built on first use. */
export function gemmPeer(name: GemmPeerName): GemmPeer {
  const cached = built.get(name);
  if (cached) return cached;
  const p = PEERS[name];
  const source = join(packageRoot, 'native', 'peers', 'gemm_peer.cc');
  let peer: GemmPeer;
  try {
    const hash = createHash('sha256').update(readFileSync(source)).update(name).digest('hex').slice(0, 12);
    const dir = join(tmpdir(), 'fp8kit-peers');
    mkdirSync(dir, { recursive: true });
    const exe = join(dir, `gemm-${name}-${hash}`);
    if (!existsSync(exe)) execFileSync('g++', ['-O2', '-std=c++17', `-D${p.define}`, source, '-o', exe, p.lib], { stdio: ['ignore', 'ignore', 'pipe'] });
    peer = { name, exe };
  } catch (e) {
    const why = String((e as { stderr?: Buffer }).stderr ?? (e as Error).message).split('\n').find((l) => /error|cannot find|not found/i.test(l)) ?? String(e);
    peer = { name, reason: `${name} not available (${why.trim()}); install it with: ${p.install}` };
  }
  built.set(name, peer);
  return peer;
}

/** The peer's times for D[M,N] = A·Bᵀ over K, `reps` runs after one warm-up, on `threads` threads. */
export function runGemmPeer(peer: GemmPeer, m: number, n: number, k: number, reps: number, threads: number): { impl: string; ms: number[] } {
  if (!peer.exe) throw new Error(peer.reason);
  const env: NodeJS.ProcessEnv = { ...process.env, OMP_NUM_THREADS: String(threads), OPENBLAS_NUM_THREADS: String(threads) };
  // OpenBLAS picks its kernels by CPU model; SkylakeX is its AVX-512 sgemm (MEASURING.md).
  if (peer.name === 'openblas' && !env.OPENBLAS_CORETYPE && cpuFlags().includes('avx512f')) env.OPENBLAS_CORETYPE = 'SkylakeX';
  const out = execFileSync(peer.exe, [String(m), String(n), String(k), String(reps)], { env, encoding: 'utf8', maxBuffer: 1 << 20 });
  return JSON.parse(out.trim().split('\n').at(-1) ?? '{}');
}

/** A peer's median time for a shape, and that over fp8kit's (above 1: fp8kit is faster). */
export interface PeerTime {
  name: string;
  impl: string;
  ms: number;
  fp8kitSpeedup: number;
}

/**
 * The peers on D[M,N] = A·Bᵀ beside fp8kit's median `ms` for the same shape: their times, and a note for
 * each that is missing (once: `seen` holds the notes earlier rows gave) or failed.
 */
export function timePeers(names: GemmPeerName[], m: number, n: number, k: number, reps: number, threads: number, ms: number, seen: string[]): { peers: PeerTime[]; notes: string[] } {
  const peers: PeerTime[] = [], notes: string[] = [];
  for (const name of names) {
    const peer = gemmPeer(name);
    if (!peer.exe) {
      if (!seen.includes(peer.reason!)) notes.push(peer.reason!);
      continue;
    }
    try {
      const r = runGemmPeer(peer, m, n, k, reps, threads);
      const t = median(r.ms);
      peers.push({ name, impl: r.impl, ms: t, fp8kitSpeedup: t / ms });
    } catch (e) {
      notes.push(`${name} failed on [${m}, ${n}, ${k}]: ${(e as Error).message.split('\n')[0]}`);
    }
  }
  return { peers, notes };
}
