/** A dealt test group (real keys from a seed) as the replicas and clients see it. */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { deal } from '../../shared/config/deal.ts';
import { parseGroup, parseReplicaSecrets } from '../../shared/config/group.ts';
import type { Group, ReplicaSecrets } from '../../shared/config/group.ts';
import type { SignerPolicy } from '../../shared/app/signer-policy.ts';
import { seededRandom } from '../../shared/crypto/random.ts';
import { thresholdStructure } from '../../shared/quorum/structure-file.ts';

export interface TestGroup {
  readonly group: Group;
  readonly secrets: readonly ReplicaSecrets[];
}

const cache = new Map<string, TestGroup>();

/** `echo: false`: a group as dealt before echo keys existed (threshold BLS consistent-broadcast proofs). */
export function testGroup(n = 4, t = Math.floor((n - 1) / 3), seed = 'test-group', echo = true): TestGroup {
  const key = `${n}/${t}/${seed}/${echo}`;
  let g = cache.get(key);
  if (!g) {
    const out = deal(thresholdStructure(n, t), seededRandom(seed), { testOnly: true, echo });
    const group = parseGroup(JSON.parse(JSON.stringify(out.group)));
    g = { group, secrets: out.secrets.map((s) => parseReplicaSecrets(s, group)) };
    cache.set(key, g);
  }
  return g;
}

const FIXTURE_PATH = path.resolve(import.meta.dirname, '../fixtures/threshold-rsa-primes.json');

/**
 * A test group with a threshold RSA key (keys.rsa, certificates valid 2026-2036) from the fixed 1024-bit
 * safe primes of test/fixtures/threshold-rsa-primes.json (`pair` picks one of them).
 */
export function testRsaGroup(n = 4, t = Math.floor((n - 1) / 3), seed = 'test-rsa-group', pair = 0): TestGroup {
  const key = `rsa/${n}/${t}/${seed}/${pair}`;
  let g = cache.get(key);
  if (!g) {
    const out = deal(thresholdStructure(n, t), seededRandom(seed), {
      testOnly: true,
      rsa: { ...fixturePrimes(pair), notBefore: new Date('2026-01-01T00:00:00Z'), notAfter: new Date('2036-01-01T00:00:00Z') },
    });
    const group = parseGroup(JSON.parse(JSON.stringify(out.group)));
    g = { group, secrets: out.secrets.map((s) => parseReplicaSecrets(s, group)) };
    cache.set(key, g);
  }
  return g;
}

/** Genesis of the test beacon chains: 2026-01-01T00:00:00Z, 3-second rounds. */
export const TEST_BEACON_GENESIS = 1767225600;

/** A test group with a randomness beacon key (keys.beacon; genesis TEST_BEACON_GENESIS unless given). */
export function testBeaconGroup(n = 4, t = Math.floor((n - 1) / 3), seed = 'test-beacon-group', beacon: { period: number; genesisTime: number } = { period: 3, genesisTime: TEST_BEACON_GENESIS }): TestGroup {
  const key = `beacon/${n}/${t}/${seed}/${beacon.period}/${beacon.genesisTime}`;
  let g = cache.get(key);
  if (!g) {
    const out = deal(thresholdStructure(n, t), seededRandom(seed), { testOnly: true, beacon });
    const group = parseGroup(JSON.parse(JSON.stringify(out.group)));
    g = { group, secrets: out.secrets.map((s) => parseReplicaSecrets(s, group)) };
    cache.set(key, g);
  }
  return g;
}

/**
 * A test group with a signing service (group.json `signer`) whose initial policy is `policy` (test keys:
 * the caller's). The same kernel key and every other key as testGroup(n, t, seed).
 */
export function testSignerGroup(policy: SignerPolicy, n = 4, t = Math.floor((n - 1) / 3), seed = 'test-signer-group', o: { readonly rsa?: boolean; readonly beacon?: boolean } = {}): TestGroup {
  const out = deal(thresholdStructure(n, t), seededRandom(seed), {
    testOnly: true,
    signerPolicy: policy,
    ...(o.rsa ? { signerRsa: fixturePrimes(1) } : {}),
    ...(o.beacon ? { beacon: { period: 3, genesisTime: TEST_BEACON_GENESIS } } : {}),
  });
  const group = parseGroup(JSON.parse(JSON.stringify(out.group)));
  return { group, secrets: out.secrets.map((s) => parseReplicaSecrets(s, group)) };
}

/** Safe primes `pair` of the 1024-bit fixture (test/fixtures/threshold-rsa-primes.json). */
export function fixturePrimes(pair: number): { p: bigint; q: bigint } {
  const fixture = JSON.parse(readFileSync(FIXTURE_PATH, 'utf8')) as { modulus1024: { p: string; q: string }[] };
  const pq = fixture.modulus1024[pair]!;
  return { p: BigInt(`0x${pq.p}`), q: BigInt(`0x${pq.q}`) };
}
