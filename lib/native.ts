import * as path from 'node:path';

import { Fp8kitError } from './errors.js';

/** What one peer of an mpi exchange sends or receives: nothing, a buffer, or buffers in order. */
export type MpiBuffers = ArrayBufferView | null | (ArrayBufferView | null)[];

/** The addon's exports (native/addon/addon.cc). */
export interface NativeAddon {
  abiVersion: number;
  loadPlugin(name: string, paths: string[]): void;
  backends(): { name: string; available: boolean; reason: string | null; device: string | null }[];
  cudaDriver(): { found: boolean; version?: number; devices?: number; reason?: string };
  cpuSimd(level?: number): { level: number; name: string; gemm: string; reason: string };
  benchCopy(dst: Uint8Array, src: Uint8Array): void;
  benchPeak(kind: 'fma' | 'vdpbf16ps' | 'amx'): number;
  isDetached(buffer: ArrayBufferLike): boolean;
  isOutput(array: ArrayBufferView): boolean;
  allocOutput(bytes: number): ArrayBuffer;
  memoryStats(): { poolBytes: number; poolBuffers: number; poolLimit: number; poolHits: number; poolMisses: number; poolEvictions: number; outputs: number; outputBytes: number; deviceTensors: number; deviceBytes: number };
  releaseMemory(): number;
  deviceAlloc(backend: string, bytes: number): object;
  deviceFree(handle: object): void;
  deviceCopy(handle: object, host: ArrayBufferView, direction: 'upload' | 'download', stream: object | undefined, async: boolean): unknown;
  streamCreate(backend: string): object;
  streamSync(backend: string, stream: object, async: boolean): unknown;
  // Tensor arguments are typed arrays (host) or device-memory handles.
  castToFp8(backend: string, x: object, xDtype: number, n: number, q: object, format: number, saturate: boolean, stream: object | undefined, async: boolean): unknown;
  castFromFp8(backend: string, q: object, format: number, n: number, y: object, yDtype: number, stream: object | undefined, async: boolean): unknown;
  quantize(backend: string, x: object, xDtype: number, geometry: object, q: object, scales: object, stream: object | undefined, async: boolean): unknown;
  dequantize(backend: string, q: object, scales: object, geometry: object, y: object, yDtype: number, stream: object | undefined, async: boolean): unknown;
  castTranspose(backend: string, x: object, xDtype: number, geometry: object, qRow: object, sRow: object, qCol: object, sCol: object, stream: object | undefined, async: boolean): unknown;
  gemm(backend: string, a: object, aScales: object, b: object, bScales: object, c: object | null, d: object, params: object, stream: object | undefined, async: boolean): unknown;
  packBBytes(backend: string, params: object): number;
  packB(backend: string, b: object, bScales: object, packed: object, params: object, stream: object | undefined, async: boolean): unknown;
  route(backend: string, logits: object, dtype: number, bias: object | null, params: object, idx: object, weights: object, stream: object | undefined, async: boolean): unknown;
  dispatchLayout(backend: string, topkIdx: object, params: object, perRank: object, perNode: object, perExpert: object, inRank: object, stream: object | undefined, async: boolean): unknown;
  copyRows(backend: string, sources: object[], sourceRows: number[], rowBytes: number, srcOf: Int32Array, rowOf: Int32Array, n: number, dst: object, stream: object | undefined, async: boolean): unknown;
  reduceRows(backend: string, sources: object[], sourceRows: number[], h: number, offsets: Int32Array, srcOf: Int32Array, rowOf: Int32Array, weights: Float32Array | null, n: number, y: object, stream: object | undefined, async: boolean): unknown;
  convert(backend: string, x: object, xDtype: number, n: number, y: object, yDtype: number, stream: object | undefined, async: boolean): unknown;
  mpiLoad(paths: string[]): { available: boolean; reason: string | null; description?: string };
  /** node: this process's node, or -1 for the shared-memory domain. */
  mpiComms(node: number, nodes: number, gpusPerNode: number, timeoutSeconds: number): Promise<{ handle: object }>;
  mpiRank(handle: object): number;
  /** which: 0 the cluster's ranks, 1 the node's (by local index), 2 the rail's (by node). */
  /** Finalizes MPI (at most timeoutSeconds, else exits the process with exitCode). */
  mpiShutdown(timeoutSeconds: number, exitCode: number): void;
  mpiExchange(handle: object, which: number, sends: MpiBuffers[], recvs: MpiBuffers[], tag: number, timeoutSeconds: number): Promise<void>;
}

export const packageRoot = path.join(__dirname, '..');

let addon: NativeAddon | undefined;

/** Loads the addon once: a prebuild, else build/Release. One error says what was tried and what to do. */
export function native(): NativeAddon {
  if (addon) return addon;
  try {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    addon = require('node-gyp-build')(packageRoot) as NativeAddon;
  } catch (e) {
    const why = e instanceof Error ? e.message : String(e);
    throw new Fp8kitError(
      'ERR_BACKEND_UNAVAILABLE',
      `fp8kit could not load its native addon (${process.platform}-${process.arch}, Node ${process.versions.node}, ` +
        `N-API ${process.versions.napi}). Tried ${path.join(packageRoot, 'prebuilds')} and ` +
        `${path.join(packageRoot, 'build', 'Release', 'fp8kit.node')}: ${why}\n` +
        (process.platform === 'win32'
          ? 'On Windows fp8kit runs from its prebuilt win32-x64 binary only (there is no MSVC build); reinstall the package.'
          : `To fix: install a C++ toolchain (g++, make, python3) and run \`npm rebuild fp8kit\`.`),
    );
  }
  addon.loadPlugin('cuda', cudaPluginPaths());
  return addon;
}

/** The addon binary that loads (node-gyp-build's choice: a local build first, else a prebuild), and which kind. */
export function addonBinary(): { path: string; kind: 'prebuilt' | 'built here' } {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const p = (require('node-gyp-build') as { path(dir: string): string }).path(packageRoot);
  return { path: p, kind: p.includes(`${path.sep}prebuilds${path.sep}`) ? 'prebuilt' : 'built here' };
}

/** Where the mpi transport's library may be: FP8KIT_MPI_LIBRARY alone when set, else the build folder and prebuilds. */
export function mpiLibraryPaths(): string[] {
  if (process.env.FP8KIT_MPI_LIBRARY) return [process.env.FP8KIT_MPI_LIBRARY];
  const file = 'libfp8kit_mpi.so';
  return [path.join(packageRoot, 'build', 'Release', file), path.join(packageRoot, 'prebuilds', `${process.platform}-${process.arch}`, file)];
}

/** Whether the mpi transport can run here (libmpi and libfp8kit_mpi.so both load), and if not, why. */
export function mpiStatus(): { available: boolean; reason: string | null; description?: string } {
  return native().mpiLoad(mpiLibraryPaths());
}

/** Where the CUDA plugin may be: FP8KIT_CUDA_PLUGIN alone when set, else the build folders and prebuilds. */
export function cudaPluginPaths(): string[] {
  if (process.env.FP8KIT_CUDA_PLUGIN) return [process.env.FP8KIT_CUDA_PLUGIN];
  const file = 'fp8kit_cuda.so';
  return [
    path.join(packageRoot, 'build-cmake', 'Release', file),
    path.join(packageRoot, 'build', 'Release', file),
    path.join(packageRoot, 'prebuilds', `${process.platform}-${process.arch}`, file),
  ];
}
