/**
 * The group a whole-replica simulation runs: a dealt group.json and per-replica secrets (real link keys,
 * so frames are authenticated exactly as in production), with the fast insecure threshold crypto of
 * infra/sim/cluster.ts in each replica's protocol context (same control flow; the real crypto costs about
 * half a second per epoch). Dealt once per structure and cached: seeds explore schedules and faults.
 */
import { deal } from '../../../shared/config/deal.ts';
import { parseGroup, parseReplicaSecrets } from '../../../shared/config/group.ts';
import type { Group, ReplicaSecrets } from '../../../shared/config/group.ts';
import { seededRandom } from '../../../shared/crypto/random.ts';
import { kernelScheme, quorumScheme } from '../../../shared/crypto/schemes.ts';
import type { ProtocolContext } from '../../../shared/protocols/context.ts';
import { insecureTestCrypto, insecureTestDecryptor, insecureTestEncrypt } from '../../../shared/protocols/crypto-suite.ts';
import type { ThresholdDecryptor } from '../../../shared/protocols/crypto-suite.ts';
import type { ParsedStructure } from '../../../shared/quorum/structure-file.ts';
import { structureKey } from '../dealer.ts';

export interface SimGroup {
  readonly group: Group;
  readonly secrets: readonly ReplicaSecrets[];
  readonly n: number;
  /** Largest broadcast value (bytes): small, so byte caps are reached by modest requests. */
  readonly maxValueBytes: number;
  context(me: number): ProtocolContext;
  decryptor(me: number): ThresholdDecryptor;
  /** A client's encryption to the group key (insecure stand-in, checkable by the decryptors). */
  encrypt(label: Uint8Array, plaintext: Uint8Array, undecryptable?: boolean): Uint8Array;
}

const cache = new Map<string, { group: Group; secrets: ReplicaSecrets[] }>();

export function simGroup(parsed: ParsedStructure, maxValueBytes: number): SimGroup {
  const key = structureKey(parsed.structure);
  let dealt = cache.get(key);
  if (!dealt) {
    const out = deal(parsed, seededRandom(`sintra-edge/sim/replica/${key}`), { testOnly: true });
    const group = parseGroup(JSON.parse(JSON.stringify(out.group)));
    dealt = { group, secrets: out.secrets.map((s) => parseReplicaSecrets(s, group)) };
    cache.set(key, dealt);
  }
  const { group, secrets } = dealt;
  const quorum = group.quorumSystem;
  const ks = kernelScheme(quorum.description);
  const qs = quorumScheme(quorum.description);
  const n = quorum.n;
  return {
    group,
    secrets,
    n,
    maxValueBytes,
    context: (me) => ({ me, n, quorum, maxValueBytes, crypto: insecureTestCrypto(group.groupId, me, ks, qs) }),
    decryptor: (me) => insecureTestDecryptor(group.groupId, me, ks),
    encrypt: (label, plaintext, undecryptable) => insecureTestEncrypt(group.groupId, label, plaintext, undecryptable),
  };
}
