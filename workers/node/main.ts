/**
 * Entry of a Node replica configured by environment variables only (a container or a VM service):
 *
 *   SINTRA_GROUP_FILE=keys/group.json SINTRA_SECRETS_FILE=keys/r1.secrets.json \
 *   SINTRA_PEERS='["https://r1.example", ...]' SINTRA_DATA_DIR=/var/lib/sintra PORT=8787 HOST=0.0.0.0 \
 *   node --import tsx workers/node/main.ts
 *
 * `npx sintra node-replica` does the same with command-line options (docs/operations.md).
 */
import { startNodeReplica, untilSignal } from './server.ts';

const env = process.env;
try {
  const served = await startNodeReplica({ env, port: Number(env['PORT'] ?? 8787), hostname: env['HOST'] ?? '127.0.0.1' });
  const signal = await untilSignal();
  console.error(`replica ${served.replica.id}: ${signal}, stopping`);
  await served.close();
} catch (e) {
  console.error(`error: ${e instanceof Error ? e.message : String(e)}`);
  process.exitCode = 1;
}
