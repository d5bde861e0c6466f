/** `fp8kit info`: what this machine can run, and why not where it cannot. */
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { parseArgs } from 'node:util';

import { backends } from '../backends.js';
import { Fp8kitError } from '../errors.js';
import { cpuFlags } from '../cpuinfo.js';
import { addonBinary, mpiStatus, native } from '../native.js';
import { version } from '../version.js';

export interface CudaToolkit {
  nvcc: string | null;
  version: string | null;
  include: string | null;
}

/** The CUDA toolkit: CUDA_HOME / CUDA_PATH, else nvcc on PATH, else /usr/local/cuda. */
export function findCudaToolkit(): CudaToolkit {
  const roots = [process.env.CUDA_HOME, process.env.CUDA_PATH].filter((r): r is string => !!r);
  const exe = process.platform === 'win32' ? 'nvcc.exe' : 'nvcc';
  for (const dir of (process.env.PATH ?? '').split(path.delimiter)) {
    if (dir && existsSync(path.join(dir, exe))) roots.push(path.dirname(dir));
  }
  if (process.platform !== 'win32') roots.push('/usr/local/cuda');
  let nvcc: string | null = null;
  let include: string | null = null;
  for (const r of roots) {
    if (!nvcc && existsSync(path.join(r, 'bin', exe))) nvcc = path.join(r, 'bin', exe);
    if (!include && existsSync(path.join(r, 'include', 'cuda_fp8.h'))) include = path.join(r, 'include');
  }
  if (!include && nvcc) {
    // A wrapper on PATH (as /usr/local/bin/nvcc): ask nvcc where its headers are.
    try {
      const out = execFileSync(nvcc, ['--dryrun', '-x', 'cu', '-c', '/dev/null', '-o', '/dev/null'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
      const m = /INCLUDES="?-I"?([^"\s]+)/.exec(out);
      if (m && existsSync(path.join(m[1], 'cuda_fp8.h'))) include = m[1];
    } catch (e) {
      const m = /INCLUDES="?-I"?([^"\s]+)/.exec(String((e as { stderr?: string }).stderr ?? ''));
      if (m && existsSync(path.join(m[1], 'cuda_fp8.h'))) include = m[1];
    }
  }
  let ver: string | null = null;
  if (nvcc) {
    try {
      ver = /release ([\d.]+)/.exec(execFileSync(nvcc, ['--version'], { encoding: 'utf8' }))?.[1] ?? null;
    } catch {
      ver = null;
    }
  }
  return { nvcc, version: ver, include };
}

export function runInfo(args: string[]): number {
  let json = false;
  try {
    json = parseArgs({ args, strict: true, options: { json: { type: 'boolean' } } }).values.json === true;
  } catch (e) {
    throw new Fp8kitError('ERR_ARGUMENT', `info: ${(e as Error).message}`);
  }
  const simd = native().cpuSimd();
  const flags = cpuFlags();
  const info = {
    version,
    node: process.versions.node,
    napi: process.versions.napi,
    platform: `${process.platform}-${process.arch}`,
    binary: addonBinary(),
    cpu: { model: os.cpus()[0]?.model ?? 'unknown', cores: os.cpus().length, simd: simd.name, gemm: simd.gemm, reason: simd.reason || undefined, features: ['avx2', 'avx512f', 'avx512bw', 'avx512vl', 'avx512vbmi', 'avx512_bf16', 'amx_tile', 'amx_bf16'].filter((f) => flags.includes(f)) },
    backends: backends(),
    cuda: { toolkit: findCudaToolkit(), driver: native().cudaDriver() },
    mpi: mpiStatus(),
  };
  if (json) {
    process.stdout.write(JSON.stringify(info, null, 2) + '\n');
    return 0;
  }
  const lines = [
    `fp8kit ${info.version} (Node ${info.node}, N-API ${info.napi}, ${info.platform})`,
    `binary: ${info.binary.kind}, ${info.binary.path}`,
    `cpu: ${info.cpu.model}, ${info.cpu.cores} cores; SIMD path: ${info.cpu.simd} (features: ${info.cpu.features.join(' ') || 'none'})`,
    `gemm: ${info.cpu.gemm}${info.cpu.reason ? ` (${info.cpu.reason})` : ''}`,
    'backends:',
    ...info.backends.map((b) => `  ${b.name.padEnd(9)} ${b.available ? 'available  ' : 'unavailable'} ${b.available ? (b.device ?? '') : b.reason}`),
    `cuda toolkit: ${info.cuda.toolkit.nvcc ? `nvcc ${info.cuda.toolkit.version ?? '?'} at ${info.cuda.toolkit.nvcc}` : 'nvcc not found'}; headers: ${info.cuda.toolkit.include ?? 'not found'}`,
    `cuda driver: ${info.cuda.driver.found ? `found (version ${info.cuda.driver.version ?? '?'}), ${info.cuda.driver.devices !== undefined ? `${info.cuda.driver.devices} device(s)` : info.cuda.driver.reason}` : info.cuda.driver.reason}`,
    `mpi transport: ${info.mpi.available ? `available (${info.mpi.description})` : `unavailable: ${info.mpi.reason}`}`,
  ];
  process.stdout.write(lines.join('\n') + '\n');
  return 0;
}
