/**
 * Entry of a Node replica configured by environment variables only (a container or a VM service):
 *
 *   SINTRA_GROUP_FILE=keys/group.json SINTRA_SECRETS_FILE=keys/r1.secrets.json \
 *   SINTRA_PEERS='["https://r1.example", ...]' SINTRA_DATA_DIR=/var/lib/sintra PORT=8787 HOST=0.0.0.0 \
 *   node --import tsx workers/node/main.ts
 *
 * Everything it says on stderr is a JSON log line (workers/core/log.ts), like the replica's own:
 * `listening`, `stopping` (`reason`: the signal), and `start-failed` or `stop-failed` (exit code 1).
 *
 * `npx sintra node-replica` does the same with command-line options (docs/operations.md).
 */
import { logLine } from '../core/log.ts';
import { startNodeReplica, untilSignal } from './server.ts';
import type { ServedReplica } from './server.ts';

const env = process.env;
const log = (line: string) => console.error(line);
const errorText = (e: unknown) => (e instanceof Error ? e.message : String(e));
let served: ServedReplica | null = null;
try {
  served = await startNodeReplica({ env, port: Number(env['PORT'] ?? 8787), hostname: env['HOST'] ?? '127.0.0.1', log });
} catch (e) {
  log(logLine('error', null, 'start-failed', `cannot start the replica: ${errorText(e)}`));
  process.exitCode = 1;
}
if (served) {
  const signal = await untilSignal();
  const id = served.replica.id;
  log(logLine('info', id, 'stopping', `replica ${id}: ${signal}, stopping`, { reason: signal }));
  try {
    await served.close();
  } catch (e) {
    log(logLine('error', id, 'stop-failed', `replica ${id}: stopping failed: ${errorText(e)}`));
    process.exitCode = 1;
  }
}
