/**
 * Keys and bindings for the Durable Object tests in workerd (vitest.workers.config.ts, project
 * `replica-do`): a seeded test group of 4; the object under test is replica 0; replica 1's secrets are
 * handed to the tests so they can forge authentic frames from a peer. Peers are unreachable (a closed
 * local port), so everything the replica sends waits in its outbox and is retried from alarms.
 */
import { sha256 } from '@noble/hashes/sha2.js';
import { bytesToHex, utf8ToBytes } from '@noble/hashes/utils.js';
import { deal } from '../../shared/config/deal.ts';
import { seededRandom } from '../../shared/crypto/random.ts';
import { thresholdStructure } from '../../shared/quorum/structure-file.ts';

export function replicaBindings(): Record<string, string> {
  const out = deal(thresholdStructure(4, 1), seededRandom('replica-do-tests'), { testOnly: true });
  return {
    SINTRA_GROUP: JSON.stringify(out.group),
    SINTRA_PEERS: JSON.stringify([null, 'http://127.0.0.1:9', 'http://127.0.0.1:9', 'http://127.0.0.1:9']),
    ...out.secrets[0]!,
    SINTRA_BOOTSTRAP: '1',
    // Admission: 2 requests/s per address (burst 4), and one API key ("do-test-key") at its own quota.
    SINTRA_CLIENT_RATE: '2',
    SINTRA_API_KEYS: JSON.stringify([{ id: 'do-test', sha256: bytesToHex(sha256(utf8ToBytes('do-test-key'))), rate: 1, burst: 1 }]),
    TEST_PEER1_SECRETS: JSON.stringify(out.secrets[1]),
  };
}
