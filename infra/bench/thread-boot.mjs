// Entry of a benchmark worker thread: loads the TypeScript module named in workerData.entry through tsx
// (worker threads do not inherit the parent's --import tsx loader on Node 20).
import { workerData } from 'node:worker_threads';
import { tsImport } from 'tsx/esm/api';

await tsImport(workerData.entry, import.meta.url);
