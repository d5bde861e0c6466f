import { readFileSync } from 'node:fs';
import * as path from 'node:path';

/** The package version, read from package.json so the two cannot disagree. */
export const version: string = JSON.parse(readFileSync(path.join(__dirname, '..', 'package.json'), 'utf8')).version;
