/** The CPU's feature flags as Linux lists them (/proc/cpuinfo); none elsewhere. */
import { readFileSync } from 'node:fs';

export function cpuFlags(): string[] {
  try {
    return /^flags\s*:(.*)$/m.exec(readFileSync('/proc/cpuinfo', 'utf8'))?.[1].trim().split(/\s+/) ?? [];
  } catch {
    return [];
  }
}
