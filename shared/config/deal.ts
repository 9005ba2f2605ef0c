/**
 * The trusted dealer (docs/design.md section 3): from a parsed structure and a randomness source, three
 * independent shared secrets (kernel signing key, quorum signing key, TDH2 encryption key), one X25519 link
 * key pair per replica and a random group id. Pure: the caller supplies randomness and writes the files.
 */
import { x25519 } from '@noble/curves/ed25519.js';
import { toHex } from '../crypto/bytes.ts';
import { G1, G2, encodeG1, encodeG2, encodeScalar } from '../crypto/curve.ts';
import { GROUP_ID_BYTES } from '../crypto/domain.ts';
import { randomScalar } from '../crypto/field.ts';
import type { SharingScheme } from '../crypto/lsss.ts';
import type { RandomBytes } from '../crypto/random.ts';
import { kernelScheme, quorumScheme } from '../crypto/schemes.ts';
import type { ParsedStructure } from '../quorum/structure-file.ts';
import { GROUP_FORMAT, LINK_KEY_BYTES } from './group.ts';
import type { GroupFile, KeySharesFile, SecretsFile } from './group.ts';

export interface DealOptions {
  /** Recorded in group.json; true iff the randomness is derived from a known seed. */
  readonly testOnly: boolean;
  /** Progress lines for long deals (the 16-replica grid has 144 rows per key). */
  readonly onProgress?: (message: string) => void;
}

export interface DealOutput {
  readonly group: GroupFile;
  /** One per replica, in index order. */
  readonly secrets: SecretsFile[];
}

interface Dealt {
  secret: bigint;
  rows: bigint[];
}

function share(scheme: SharingScheme, rng: RandomBytes): Dealt {
  const secret = randomScalar(rng);
  return { secret, rows: scheme.share(secret, rng) };
}

const scalarHex = (x: bigint) => toHex(encodeScalar(x));
const g2Hex = (x: bigint) => toHex(encodeG2(G2.BASE.multiply(x)));
const g1Hex = (x: bigint) => toHex(encodeG1(G1.BASE.multiply(x)));

export function deal(parsed: ParsedStructure, rng: RandomBytes, opts: DealOptions): DealOutput {
  const progress = opts.onProgress ?? (() => {});
  const n = parsed.replicas.length;
  if (parsed.structure.n !== n) throw new Error(`structure is for ${parsed.structure.n} replicas, but ${n} are listed`);
  const kernelS = kernelScheme(parsed.structure);
  const quorumS = quorumScheme(parsed.structure);

  const groupId = toHex(rng(GROUP_ID_BYTES));
  const kernel = share(kernelS, rng);
  const quorum = share(quorumS, rng);
  const encryption = share(kernelS, rng);
  const linkSecrets = parsed.replicas.map(() => rng(LINK_KEY_BYTES));

  progress(`kernel key: ${kernelS.owners.length} rows`);
  const kernelKey = { scheme: kernelS.description, groupKey: g2Hex(kernel.secret), rowKeys: kernel.rows.map(g2Hex) };
  progress(`quorum key: ${quorumS.owners.length} rows`);
  const quorumKey = { scheme: quorumS.description, groupKey: g2Hex(quorum.secret), rowKeys: quorum.rows.map(g2Hex) };
  progress(`encryption key: ${kernelS.owners.length} rows`);
  const encryptionKey = { scheme: kernelS.description, publicKey: g1Hex(encryption.secret), rowKeys: encryption.rows.map(g1Hex) };

  const group: GroupFile = {
    format: GROUP_FORMAT,
    groupId,
    testOnly: opts.testOnly,
    replicas: parsed.replicas.map((r, index) => ({
      index,
      id: r.id,
      attributes: { ...r.attributes },
      linkKey: toHex(x25519.getPublicKey(linkSecrets[index]!)),
    })),
    adversary: JSON.parse(JSON.stringify(parsed.adversary)),
    structure: JSON.parse(JSON.stringify(parsed.structure)),
    keys: { kernel: kernelKey, quorum: quorumKey, encryption: encryptionKey },
  };

  const secrets = parsed.replicas.map((r, index): SecretsFile => {
    const values = (d: Dealt, s: SharingScheme) => s.rowsOf(index).map((row) => scalarHex(d.rows[row]!));
    const shares: KeySharesFile = {
      kernel: values(kernel, kernelS),
      quorum: values(quorum, quorumS),
      encryption: values(encryption, kernelS),
    };
    return {
      SINTRA_GROUP_ID: groupId,
      SINTRA_REPLICA_ID: r.id,
      SINTRA_REPLICA_INDEX: String(index),
      SINTRA_KEY_SHARES: JSON.stringify(shares),
      SINTRA_LINK_SECRET: toHex(linkSecrets[index]!),
    };
  });
  return { group, secrets };
}
