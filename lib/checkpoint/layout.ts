/**
 * A checkpoint directory: `*.safetensors` shards and, usually, `model.safetensors.index.json`
 * (`{"metadata": {...}, "weight_map": {tensor: shard}}`). Only shard headers are read here.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';

import { Fp8kitError } from '../errors.js';
import { openForRead, readHeaderSync, SafetensorsHeader, TensorInfo } from '../safetensors.js';

export const INDEX_FILE = 'model.safetensors.index.json';

export interface Shard {
  file: string;
  path: string;
  header: SafetensorsHeader;
}

export interface Checkpoint {
  dir: string;
  /** The index's `metadata` (empty when there is no index). */
  metadata: Record<string, unknown>;
  hasIndex: boolean;
  shards: Shard[];
  /** Every tensor of every shard → its shard. */
  where: Map<string, Shard>;
}

function bad(message: string): never {
  throw new Fp8kitError('ERR_ARGUMENT', message);
}

export function openCheckpoint(dir: string): Checkpoint {
  let st: fs.Stats;
  try {
    st = fs.statSync(dir);
  } catch {
    bad(`source ${dir} does not exist`);
  }
  if (!st.isDirectory()) bad(`source ${dir} is not a directory`);
  const indexPath = path.join(dir, INDEX_FILE);
  const hasIndex = fs.existsSync(indexPath);
  let metadata: Record<string, unknown> = {};
  let files: string[];
  if (hasIndex) {
    let index: { metadata?: unknown; weight_map?: unknown };
    try {
      index = JSON.parse(fs.readFileSync(indexPath, 'utf8'));
    } catch (e) {
      bad(`${indexPath} is not valid JSON: ${(e as Error).message}`);
    }
    const wm = index?.weight_map;
    if (wm === null || typeof wm !== 'object' || Array.isArray(wm)) bad(`${indexPath} has no "weight_map" object`);
    if (index.metadata !== undefined && (index.metadata === null || typeof index.metadata !== 'object')) bad(`${indexPath}: "metadata" is not an object`);
    metadata = (index.metadata as Record<string, unknown>) ?? {};
    for (const [t, f] of Object.entries(wm))
      if (typeof f !== 'string' || path.basename(f) !== f || !f.endsWith('.safetensors'))
        bad(`${indexPath}: weight_map['${t}'] is not a .safetensors file name in the directory: ${JSON.stringify(f)}`);
    files = [...new Set(Object.values(wm) as string[])].sort();
    const shards = loadShards(dir, files);
    const cp = assemble(dir, metadata, true, shards);
    for (const [t, f] of Object.entries(wm as Record<string, string>))
      if (cp.where.get(t)?.file !== f) bad(`${indexPath}: weight_map says '${t}' is in ${f}, but ${f} has no such tensor`);
    return cp;
  }
  files = fs.readdirSync(dir).filter((f) => f.endsWith('.safetensors')).sort();
  if (!files.length) bad(`${dir} is not a checkpoint directory: it has neither ${INDEX_FILE} nor *.safetensors files`);
  return assemble(dir, metadata, false, loadShards(dir, files));
}

function loadShards(dir: string, files: string[]): Shard[] {
  return files.map((file) => {
    const p = path.join(dir, file);
    if (!fs.existsSync(p)) bad(`shard ${file} named by the index is missing from ${dir}`);
    const fd = openForRead(p);
    try {
      return { file, path: p, header: readHeaderSync(fd, p) };
    } finally {
      fs.closeSync(fd);
    }
  });
}

function assemble(dir: string, metadata: Record<string, unknown>, hasIndex: boolean, shards: Shard[]): Checkpoint {
  const where = new Map<string, Shard>();
  for (const s of shards)
    for (const name of s.header.tensors.keys()) {
      const other = where.get(name);
      if (other) bad(`tensor '${name}' is in both ${other.file} and ${s.file}`);
      where.set(name, s);
    }
  return { dir, metadata, hasIndex, shards, where };
}

export function info(cp: Checkpoint, name: string): TensorInfo | undefined {
  return cp.where.get(name)?.header.tensors.get(name);
}
