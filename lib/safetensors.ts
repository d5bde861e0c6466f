/**
 * SPEC.md §9: safetensors files. Layout: u64 little-endian header length N, N bytes of JSON
 * `{name: {dtype, shape, data_offsets: [begin, end]}, "__metadata__": {str: str}}`, then the data;
 * offsets are relative to the first data byte (8 + N).
 *
 * Errors: a file that is not safetensors at all, or is truncated, is ERR_ARGUMENT; an unknown dtype is
 * ERR_DTYPE naming the tensor; offsets that disagree with shape × dtype, overlap or run outside the data
 * are ERR_SHAPE naming the tensor.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';

import { Fp8kitError } from './errors.js';
import { bytesPerElement, checkTensor, DType, numel, Tensor } from './tensor.js';

const TO_DTYPE: Record<string, DType> = { F8_E4M3: 'e4m3', F8_E5M2: 'e5m2', BF16: 'bf16', F16: 'f16', F32: 'f32', I32: 'i32', U8: 'u8' };
const FROM_DTYPE = Object.fromEntries(Object.entries(TO_DTYPE).map(([k, v]) => [v, k])) as Record<DType, string>;

/** Headers beyond this are refused before allocating (the HF reader's limit is 100 MB). */
const MAX_HEADER = 100_000_000;
/** fs reads and writes move at most this many bytes a call (the syscalls take an int32 length). */
const IO_CHUNK = 1 << 30;

/** Where one tensor lies: offsets relative to the first data byte. */
export interface TensorInfo {
  dtype: DType;
  shape: number[];
  begin: number;
  end: number;
}

export interface SafetensorsHeader {
  /** In data-offset order. */
  tensors: Map<string, TensorInfo>;
  metadata: Record<string, string>;
  /** Absolute file offset of the first data byte: 8 + N. */
  dataStart: number;
}

/** The result of reading a file: tensors in file order (a Map, so any tensor name is safe as a key). */
export interface SafetensorsFile {
  tensors: Map<string, Tensor>;
  metadata: Record<string, string>;
}

/** What writeSafetensors takes: a Map or a plain object of tensors. */
export type TensorSet = Map<string, Tensor> | Record<string, Tensor>;

function fail(path: string, why: string): never {
  throw new Fp8kitError('ERR_ARGUMENT', `${path}: not a valid safetensors file: ${why}`);
}

function isObject(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

/** Validates the JSON header against `dataSize` bytes of data. */
export function parseHeader(json: Uint8Array, dataStart: number, dataSize: number, path: string): SafetensorsHeader {
  let raw: unknown;
  try {
    raw = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(json));
  } catch (e) {
    fail(path, `the header is not UTF-8 JSON (${(e as Error).message})`);
  }
  if (!isObject(raw)) fail(path, 'the header is not a JSON object');
  const metadata: Record<string, string> = {};
  const list: [string, TensorInfo][] = [];
  for (const [name, v] of Object.entries(raw)) {
    if (name === '__metadata__') {
      if (!isObject(v)) fail(path, '__metadata__ is not an object');
      for (const [k, s] of Object.entries(v)) {
        if (typeof s !== 'string') fail(path, `__metadata__.${k} is not a string`);
        metadata[k] = s;
      }
      continue;
    }
    if (!isObject(v)) fail(path, `the entry of tensor '${name}' is not an object`);
    if (typeof v.dtype !== 'string' || !Object.prototype.hasOwnProperty.call(TO_DTYPE, v.dtype))
      throw new Fp8kitError('ERR_DTYPE', `${path}: tensor '${name}' has unsupported dtype ${JSON.stringify(v.dtype)} (supported: ${Object.keys(TO_DTYPE).join(', ')})`);
    const dtype = TO_DTYPE[v.dtype];
    const n = numel(v.shape, `${path}: tensor '${name}' shape`);
    const off = v.data_offsets;
    if (!Array.isArray(off) || off.length !== 2 || !off.every((o) => Number.isSafeInteger(o) && o >= 0))
      throw new Fp8kitError('ERR_SHAPE', `${path}: tensor '${name}' has invalid data_offsets ${JSON.stringify(off)}`);
    const [begin, end] = off as number[];
    const want = n * bytesPerElement(dtype);
    if (end < begin || end - begin !== want)
      throw new Fp8kitError('ERR_SHAPE', `${path}: tensor '${name}' data_offsets [${begin}, ${end}] hold ${end - begin} bytes but ${v.dtype} [${(v.shape as number[]).join(', ')}] needs ${want}`);
    if (end > dataSize)
      throw new Fp8kitError('ERR_ARGUMENT', `${path}: file is truncated: tensor '${name}' ends at data byte ${end} but the file holds ${dataSize} data bytes`);
    list.push([name, { dtype, shape: [...(v.shape as number[])], begin, end }]);
  }
  list.sort((a, b) => a[1].begin - b[1].begin || a[1].end - b[1].end);
  for (let i = 1; i < list.length; i++)
    if (list[i][1].begin < list[i - 1][1].end)
      throw new Fp8kitError('ERR_SHAPE', `${path}: tensors '${list[i - 1][0]}' and '${list[i][0]}' overlap (data_offsets [${list[i - 1][1].begin}, ${list[i - 1][1].end}] and [${list[i][1].begin}, ${list[i][1].end}])`);
  return { tensors: new Map(list), metadata, dataStart };
}

/** Reads exactly `buf.length` bytes at `pos`; a short file is ERR_ARGUMENT. */
export function readExactSync(fd: number, buf: Uint8Array, pos: number, path: string): void {
  for (let done = 0; done < buf.length; ) {
    const n = fs.readSync(fd, buf, done, Math.min(buf.length - done, IO_CHUNK), pos + done);
    if (n === 0) fail(path, `unexpected end of file at byte ${pos + done}`);
    done += n;
  }
}

export async function readExact(fh: fs.promises.FileHandle, buf: Uint8Array, pos: number, path: string): Promise<void> {
  for (let done = 0; done < buf.length; ) {
    const { bytesRead } = await fh.read(buf, done, Math.min(buf.length - done, IO_CHUNK), pos + done);
    if (bytesRead === 0) fail(path, `unexpected end of file at byte ${pos + done}`);
    done += bytesRead;
  }
}

export function writeAllSync(fd: number, buf: Uint8Array, pos: number): void {
  for (let done = 0; done < buf.length; ) done += fs.writeSync(fd, buf, done, Math.min(buf.length - done, IO_CHUNK), pos + done);
}

export async function writeAll(fh: fs.promises.FileHandle, buf: Uint8Array, pos: number): Promise<void> {
  for (let done = 0; done < buf.length; ) done += (await fh.write(buf, done, Math.min(buf.length - done, IO_CHUNK), pos + done)).bytesWritten;
}

function headerLength(prefix: Uint8Array, size: number, path: string): number {
  if (size < 8) fail(path, `the file has ${size} bytes, fewer than the 8 of the header length`);
  const n = new DataView(prefix.buffer, prefix.byteOffset, 8).getBigUint64(0, true);
  if (n > BigInt(size - 8)) fail(path, `the header length ${n} runs past the end of the ${size}-byte file`);
  if (n > BigInt(MAX_HEADER)) fail(path, `the header length ${n} exceeds ${MAX_HEADER} bytes`);
  return Number(n);
}

/** Reads and validates the header of an open file (only the header bytes are read). */
export function readHeaderSync(fd: number, path: string): SafetensorsHeader {
  const size = fs.fstatSync(fd).size;
  const prefix = new Uint8Array(8);
  if (size >= 8) readExactSync(fd, prefix, 0, path);
  const n = headerLength(prefix, size, path);
  const json = new Uint8Array(n);
  readExactSync(fd, json, 8, path);
  return parseHeader(json, 8 + n, size - 8 - n, path);
}

export async function readHeader(fh: fs.promises.FileHandle, path: string): Promise<SafetensorsHeader> {
  const size = (await fh.stat()).size;
  const prefix = new Uint8Array(8);
  if (size >= 8) await readExact(fh, prefix, 0, path);
  const n = headerLength(prefix, size, path);
  const json = new Uint8Array(n);
  await readExact(fh, json, 8, path);
  return parseHeader(json, 8 + n, size - 8 - n, path);
}

/** Opens `path` for reading; a missing file is ERR_ARGUMENT rather than a raw ENOENT. */
export function openForRead(path: string): number {
  try {
    return fs.openSync(path, 'r');
  } catch (e) {
    throw new Fp8kitError('ERR_ARGUMENT', `cannot open ${path}: ${(e as Error).message}`);
  }
}

function checkHostEndian(): void {
  // Typed arrays are host-endian and safetensors is little-endian: views are only valid on LE hosts.
  if (os.endianness() !== 'LE') throw new Fp8kitError('ERR_ARGUMENT', 'safetensors I/O needs a little-endian host');
}

const VIEWS = { f32: Float32Array, bf16: Uint16Array, f16: Uint16Array, e4m3: Uint8Array, e5m2: Uint8Array, i32: Int32Array, u8: Uint8Array };

/**
 * Typed-array views into `data` (the file's data bytes, one ArrayBuffer) — no copy. A tensor whose
 * offset is not a multiple of its element size cannot be viewed, so that tensor alone is copied.
 */
function viewTensors(header: SafetensorsHeader, data: Uint8Array): SafetensorsFile {
  const tensors = new Map<string, Tensor>();
  for (const [name, t] of header.tensors) {
    const bpe = bytesPerElement(t.dtype);
    const n = (t.end - t.begin) / bpe;
    const at = data.byteOffset + t.begin;
    const buffer = at % bpe === 0 ? data.buffer : data.slice(t.begin, t.end).buffer; // misaligned: copy
    const off = at % bpe === 0 ? at : 0;
    tensors.set(name, { dtype: t.dtype, shape: t.shape, data: new VIEWS[t.dtype](buffer as ArrayBuffer, off, n) } as Tensor);
  }
  return { tensors, metadata: header.metadata };
}

function allocBytes(n: number, path: string): Uint8Array {
  try {
    return new Uint8Array(n);
  } catch (e) {
    throw new Fp8kitError('ERR_OUT_OF_MEMORY', `${path}: cannot allocate ${n} bytes for the tensor data: ${(e as Error).message}`);
  }
}

/**
 * Reads a whole file: the data bytes land in one ArrayBuffer and every tensor is a view into it
 * (tensors of one file share `.data.buffer`; keeping any tensor alive keeps the whole buffer alive).
 */
export function readSafetensorsSync(path: string): SafetensorsFile {
  checkHostEndian();
  const fd = openForRead(path);
  try {
    const header = readHeaderSync(fd, path);
    let size = 0;
    for (const t of header.tensors.values()) size = Math.max(size, t.end);
    const data = allocBytes(size, path);
    readExactSync(fd, data, header.dataStart, path);
    return viewTensors(header, data);
  } finally {
    fs.closeSync(fd);
  }
}

export async function readSafetensors(path: string): Promise<SafetensorsFile> {
  checkHostEndian();
  let fh: fs.promises.FileHandle;
  try {
    fh = await fs.promises.open(path, 'r');
  } catch (e) {
    throw new Fp8kitError('ERR_ARGUMENT', `cannot open ${path}: ${(e as Error).message}`);
  }
  try {
    const header = await readHeader(fh, path);
    let size = 0;
    for (const t of header.tensors.values()) size = Math.max(size, t.end);
    const data = allocBytes(size, path);
    await readExact(fh, data, header.dataStart, path);
    return viewTensors(header, data);
  } finally {
    await fh.close();
  }
}

/** An entry of a file to be written: what it holds, not yet its bytes. */
export interface TensorSpec {
  name: string;
  dtype: DType;
  shape: readonly number[];
}

/** Code-unit order, independent of locale. */
export const byName = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);

/** A planned file: the header bytes and each tensor's absolute file position. */
export interface FileLayout {
  header: Uint8Array;
  at: Map<string, { pos: number; bytes: number }>;
  size: number;
}

/**
 * Plans a file. Tensors are laid out contiguously (the HF reader rejects gaps), largest element size
 * first, then by name, as the HF writer does: every data offset is then a multiple of its element size,
 * and the bytes depend on the contents, not on the order given. The header is padded with spaces so the
 * data starts at a multiple of 8: readers can view the tensors rather than copy them.
 */
export function planLayout(specs: readonly TensorSpec[], metadata?: Record<string, string>): FileLayout {
  const json: Record<string, unknown> = {};
  if (metadata !== undefined) {
    if (!isObject(metadata)) throw new Fp8kitError('ERR_ARGUMENT', 'safetensors metadata must be an object of strings');
    for (const [k, v] of Object.entries(metadata))
      if (typeof v !== 'string') throw new Fp8kitError('ERR_ARGUMENT', `safetensors metadata '${k}' must be a string; got ${typeof v}`);
    if (Object.keys(metadata).length) json.__metadata__ = metadata;
  }
  const order = [...specs].sort((a, b) => bytesPerElement(b.dtype) - bytesPerElement(a.dtype) || byName(a.name, b.name));
  const rel = new Map<string, { begin: number; bytes: number }>();
  let offset = 0;
  for (const s of order) {
    if (s.name === '__metadata__' || rel.has(s.name)) throw new Fp8kitError('ERR_ARGUMENT', `safetensors: tensor name '${s.name}' is reserved or repeated`);
    const bytes = numel(s.shape, `tensor '${s.name}' shape`) * bytesPerElement(s.dtype);
    json[s.name] = { dtype: FROM_DTYPE[s.dtype], shape: [...s.shape], data_offsets: [offset, offset + bytes] };
    rel.set(s.name, { begin: offset, bytes });
    offset += bytes;
  }
  const text = Buffer.from(JSON.stringify(json), 'utf8');
  const n = Math.ceil(text.length / 8) * 8;
  const header = Buffer.alloc(8 + n, 0x20);
  header.writeBigUInt64LE(BigInt(n), 0);
  text.copy(header, 8);
  const at = new Map([...rel].map(([name, r]) => [name, { pos: 8 + n + r.begin, bytes: r.bytes }]));
  return { header, at, size: 8 + n + offset };
}

function bytesOf(t: Tensor): Uint8Array {
  return new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength);
}

function prepareWrite(tensors: TensorSet, metadata?: Record<string, string>): [FileLayout, [string, Tensor][]] {
  checkHostEndian();
  if (!isObject(tensors) && !(tensors instanceof Map)) throw new Fp8kitError('ERR_ARGUMENT', 'writeSafetensors: tensors must be a Map or an object of tensors');
  const list = tensors instanceof Map ? [...tensors] : Object.entries(tensors);
  for (const [name, t] of list) checkTensor(t, `tensors['${name}']`);
  return [planLayout(list.map(([name, t]) => ({ name, dtype: t.dtype, shape: t.shape })), metadata), list];
}

/** Writes the header, then each tensor's bytes straight from its typed array (no concatenation). */
export function writeSafetensorsSync(path: string, tensors: TensorSet, metadata?: Record<string, string>): void {
  const [layout, list] = prepareWrite(tensors, metadata);
  const fd = fs.openSync(path, 'w');
  try {
    writeAllSync(fd, layout.header, 0);
    for (const [name, t] of list) writeAllSync(fd, bytesOf(t), layout.at.get(name)!.pos);
  } finally {
    fs.closeSync(fd);
  }
}

export async function writeSafetensors(path: string, tensors: TensorSet, metadata?: Record<string, string>): Promise<void> {
  const [layout, list] = prepareWrite(tensors, metadata);
  const fh = await fs.promises.open(path, 'w');
  try {
    await writeAll(fh, layout.header, 0);
    for (const [name, t] of list) await writeAll(fh, bytesOf(t), layout.at.get(name)!.pos);
  } finally {
    await fh.close();
  }
}
