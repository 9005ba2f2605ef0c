/**
 * Keys and bindings for the Durable Object tests in workerd (vitest.workers.config.ts, project
 * `replica-do`): a seeded test group of 4; the object under test is replica 0; replica 1's secrets are
 * handed to the tests so they can forge authentic frames from a peer. Peers are unreachable (a closed
 * local port), so everything the replica sends waits in its outbox and is retried from alarms.
 */
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
    TEST_PEER1_SECRETS: JSON.stringify(out.secrets[1]),
  };
}
