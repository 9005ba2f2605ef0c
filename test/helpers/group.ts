/** A dealt test group (real keys from a seed) as the replicas and clients see it. */
import { deal } from '../../shared/config/deal.ts';
import { parseGroup, parseReplicaSecrets } from '../../shared/config/group.ts';
import type { Group, ReplicaSecrets } from '../../shared/config/group.ts';
import { seededRandom } from '../../shared/crypto/random.ts';
import { thresholdStructure } from '../../shared/quorum/structure-file.ts';

export interface TestGroup {
  readonly group: Group;
  readonly secrets: readonly ReplicaSecrets[];
}

const cache = new Map<string, TestGroup>();

export function testGroup(n = 4, t = Math.floor((n - 1) / 3), seed = 'test-group'): TestGroup {
  const key = `${n}/${t}/${seed}`;
  let g = cache.get(key);
  if (!g) {
    const out = deal(thresholdStructure(n, t), seededRandom(seed), { testOnly: true });
    const group = parseGroup(JSON.parse(JSON.stringify(out.group)));
    g = { group, secrets: out.secrets.map((s) => parseReplicaSecrets(s, group)) };
    cache.set(key, g);
  }
  return g;
}
