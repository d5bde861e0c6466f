/// <reference types="node" preserve="true" />
/** fp8kit: FP8 kernels for Node.js. The public surface of SPEC.md §10 (lib/api.ts). */
export * from './api.js';

// `import fp8 from 'fp8kit'`: the module's names as one object, in CommonJS (where TypeScript's interop
// reads .default) as in ESM (dist/index.mjs).
import * as api from './api.js';
export default api;
