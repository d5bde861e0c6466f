import * as path from 'node:path';

import { Fp8kitError } from './errors.js';

/** The addon's exports (native/addon/addon.cc). */
export interface NativeAddon {
  abiVersion: number;
  backends(): { name: string; available: boolean; reason: string | null; device: string | null }[];
  cudaDriver(): { found: boolean; version?: number; devices?: number; reason?: string };
  cpuSimd(level?: number): { level: number; name: string };
  benchCopy(dst: Uint8Array, src: Uint8Array): void;
  isDetached(buffer: ArrayBufferLike): boolean;
  castToFp8(backend: string, x: ArrayBufferView, xDtype: number, n: number, q: Uint8Array, format: number, saturate: boolean, async: boolean): unknown;
  castFromFp8(backend: string, q: Uint8Array, format: number, n: number, y: ArrayBufferView, yDtype: number, async: boolean): unknown;
  convert(backend: string, x: ArrayBufferView, xDtype: number, n: number, y: ArrayBufferView, yDtype: number, async: boolean): unknown;
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
        `To fix: install a C++ toolchain (g++, make, python3) and run \`npm rebuild fp8kit\`.`,
    );
  }
  return addon;
}
