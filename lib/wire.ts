/**
 * For servers: tensors from request bodies without a copy where the bytes allow it, and a wire format for
 * a quantized tensor (header, FP8 data, f32 scales) that decodes into views of the received bytes.
 *
 * Wire format (all integers little-endian u32):
 *   bytes 0-3   magic "FP8Q"          4-7   version (1)
 *   8-11        format: 0 e4m3, 1 e5m2   12-15 scale format: 0 f32, 1 ue8m0   16-19 scale layout: 0 row, 1 mn-major
 *   20-27       tile rows, tile cols   28-31 data rank d   32-35 scales rank s
 *   then d data dims, s scale dims, the FP8 data (one byte per element), zero padding to a multiple
 *   of 4, and the scales as little-endian f32.
 */
import { Fp8kitError } from './errors.js';
import { checkQuantizedOperand } from './gemm.js';
import { describe } from './options.js';
import { checkTile, geometry, QuantizedTensor, ScaleFormat, ScaleLayout, Tile } from './quant.js';
import { bytesPerElement, checkTensor, DType, isDType, numel, Tensor, viewOf } from './tensor.js';

const MAGIC = 0x51385046;  // "FP8Q" read as a little-endian u32
const VERSION = 1;
const FORMATS = ['e4m3', 'e5m2'] as const;
const SCALE_FORMATS: ScaleFormat[] = ['f32', 'ue8m0'];
const LAYOUTS: ScaleLayout[] = ['row', 'mn-major'];
const LITTLE = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

/**
 * A tensor over the bytes of `bytes` (a Buffer or any ArrayBufferView): no copy when they start at a
 * multiple of the element size; otherwise a copy (a Buffer from a pool is often unaligned).
 */
export function tensorFromBytes<D extends DType>(bytes: ArrayBufferView, dtype: D, shape: readonly number[]): Tensor<D> {
  const fn = 'tensorFromBytes';
  if (!ArrayBuffer.isView(bytes)) throw new Fp8kitError('ERR_ARGUMENT', `${fn}: bytes must be a Buffer or another ArrayBufferView; got ${describe(bytes)}`);
  if (!isDType(dtype)) throw new Fp8kitError('ERR_DTYPE', `${fn}: unknown dtype ${describe(dtype)}`);
  const size = bytesPerElement(dtype), n = numel(shape, `${fn}: shape`);
  if (bytes.byteLength !== n * size)
    throw new Fp8kitError('ERR_SHAPE', `${fn}: ${bytes.byteLength} bytes; ${dtype} [${shape.join(', ')}] needs ${n * size}`);
  if (size > 1 && !LITTLE) throw new Fp8kitError('ERR_ARGUMENT', `${fn}: fp8kit reads little-endian data; this host is big-endian`);
  if (bytes.byteOffset % size === 0) return checkTensor({ dtype, shape: [...shape], data: viewOf(dtype, bytes.buffer, n, bytes.byteOffset) }, fn) as Tensor<D>;
  const copy = new Uint8Array(n * size);
  copy.set(new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength));
  return checkTensor({ dtype, shape: [...shape], data: viewOf(dtype, copy.buffer, n) }, fn) as Tensor<D>;
}

/** A host quantized tensor in the wire format. */
export function encodeQuantized(q: QuantizedTensor<'host'>): Uint8Array {
  const fn = 'encodeQuantized';
  const { q: r } = checkQuantizedOperand(q, 'q', fn, (q as QuantizedTensor)?.data?.shape?.length ?? 2);
  const data = checkTensor(r.data, `${fn}: q.data`, ['e4m3', 'e5m2'] as const), scales = checkTensor(r.scales, `${fn}: q.scales`, ['f32'] as const);
  if (!LITTLE) throw new Fp8kitError('ERR_ARGUMENT', `${fn}: fp8kit writes little-endian data; this host is big-endian`);
  const head = 36 + 4 * (data.shape.length + scales.shape.length);
  const dataEnd = head + data.data.length, scalesAt = Math.ceil(dataEnd / 4) * 4;
  const out = new Uint8Array(scalesAt + 4 * scales.data.length);
  const u32 = new Uint32Array(out.buffer, 0, head / 4);
  u32.set([MAGIC, VERSION, FORMATS.indexOf(data.dtype), SCALE_FORMATS.indexOf(r.scaleFormat ?? 'f32'), LAYOUTS.indexOf(r.scaleLayout ?? 'row'), r.tile[0], r.tile[1], data.shape.length, scales.shape.length, ...data.shape, ...scales.shape]);
  out.set(data.data, head);
  out.set(new Uint8Array(scales.data.buffer, scales.data.byteOffset, scales.data.byteLength), scalesAt);
  return out;
}

/** The wire format back into a quantized tensor: views of `bytes` where aligned (the data always), each part checked. */
export function decodeQuantized(bytes: ArrayBufferView): QuantizedTensor<'host'> {
  const fn = 'decodeQuantized';
  if (!ArrayBuffer.isView(bytes)) throw new Fp8kitError('ERR_ARGUMENT', `${fn}: bytes must be a Buffer or another ArrayBufferView; got ${describe(bytes)}`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const u32 = (i: number) => {
    if (4 * i + 4 > bytes.byteLength) throw new Fp8kitError('ERR_SHAPE', `${fn}: ${bytes.byteLength} bytes end inside the header`);
    return view.getUint32(4 * i, true);
  };
  if (u32(0) !== MAGIC) throw new Fp8kitError('ERR_ARGUMENT', `${fn}: not a quantized tensor (no "FP8Q" magic)`);
  if (u32(1) !== VERSION) throw new Fp8kitError('ERR_ARGUMENT', `${fn}: wire format version ${u32(1)}; this fp8kit reads version ${VERSION}`);
  const pick = <T>(list: readonly T[], i: number, what: string) => {
    if (i >= list.length) throw new Fp8kitError('ERR_ARGUMENT', `${fn}: ${what} code ${i} is unknown`);
    return list[i];
  };
  const format = pick(FORMATS, u32(2), 'format'), scaleFormat = pick(SCALE_FORMATS, u32(3), 'scale format'), scaleLayout = pick(LAYOUTS, u32(4), 'scale layout');
  const tile: Tile = checkTile([u32(5), u32(6)], fn);
  const d = u32(7), s = u32(8);
  if (d < 1 || d > 8 || s < 1 || s > 8) throw new Fp8kitError('ERR_SHAPE', `${fn}: ranks ${d} (data) and ${s} (scales) must be 1 to 8`);
  const shape = Array.from({ length: d }, (_, i) => u32(9 + i)), sShape = Array.from({ length: s }, (_, i) => u32(9 + d + i));
  const want = geometry(shape, tile, scaleLayout, fn).scaleShape;
  if (want.length !== s || want.some((x, i) => x !== sShape[i]))
    throw new Fp8kitError('ERR_SHAPE', `${fn}: scales [${sShape.join(', ')}]; data [${shape.join(', ')}] with ${tile[0]}×${tile[1]} tiles (${scaleLayout}) has [${want.join(', ')}]`);
  const head = 36 + 4 * (d + s), n = numel(shape, `${fn}: data shape`), ns = numel(sShape, `${fn}: scales shape`);
  const scalesAt = Math.ceil((head + n) / 4) * 4;
  if (bytes.byteLength !== scalesAt + 4 * ns)
    throw new Fp8kitError('ERR_SHAPE', `${fn}: ${bytes.byteLength} bytes; data [${shape.join(', ')}] and scales [${sShape.join(', ')}] need ${scalesAt + 4 * ns}`);
  const sub = (at: number, len: number) => new Uint8Array(bytes.buffer, bytes.byteOffset + at, len);
  const q: QuantizedTensor<'host'> = {
    data: tensorFromBytes(sub(head, n), format, shape),
    scales: tensorFromBytes(sub(scalesAt, 4 * ns), 'f32', sShape),
    tile, format, scaleFormat, scaleLayout,
  };
  checkQuantizedOperand(q, 'q', fn, d);
  return q;
}
