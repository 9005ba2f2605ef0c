/**
 * The trusted dealer (docs/design.md section 3): from a parsed structure and a randomness source, three
 * independent shared secrets (kernel signing key, quorum signing key, TDH2 encryption key), one X25519 link
 * key pair per replica and a random group id. Pure: the caller supplies randomness and writes the files.
 *
 * Optionally (`rsa`) a threshold RSA key (Shoup, threshold-rsa.ts) from safe primes the caller supplies
 * (infra/dealer generates them with node:crypto; tests take test/fixtures/threshold-rsa-primes.json), and
 * the group's root CA and TSA certificates for it (shared/crypto/x509.ts), signed with the whole key
 * while it exists. Its randomness is drawn after everything else, so the other keys are the same with or
 * without it. General structures cannot have one: the dealing is refused before anything else is done.
 *
 * Optionally (`beacon`) a randomness beacon key (shared/crypto/beacon.ts, docs/beacon.md): a threshold BLS
 * key of its own over the kernel scheme, with the chain's period and genesis time (the caller's clock, an
 * argument here). Its randomness is drawn last of all, after the RSA key's, so every other key is the same
 * with or without it.
 *
 * Echo keys (`echo`, on by default): one Ed25519 key pair per replica for consistent-broadcast echoes
 * (shared/protocols/signature-set.ts), each derived from the replica's link secret (group.ts, echoSeed):
 * no randomness is drawn for them, so every other key is the same with or without them.
 */
import { parseSignerPolicy } from '../app/signer-policy.ts';
import type { SignerPolicy } from '../app/signer-policy.ts';
import { x25519 } from '@noble/curves/ed25519.js';
import { bigintToBytes, toHex } from '../crypto/bytes.ts';
import { G1, G2, encodeG1, encodeG2, encodeScalar } from '../crypto/curve.ts';
import { GROUP_ID_BYTES } from '../crypto/domain.ts';
import { randomScalar } from '../crypto/field.ts';
import type { SharingScheme } from '../crypto/lsss.ts';
import { byteLength } from '../crypto/modular.ts';
import { derToPem } from '../crypto/pem.ts';
import type { RandomBytes } from '../crypto/random.ts';
import { kernelScheme, quorumScheme } from '../crypto/schemes.ts';
import { dealThresholdRsa, thresholdRsaParameters } from '../crypto/threshold-rsa.ts';
import type { ThresholdRsaDealing, ThresholdRsaPublicKey } from '../crypto/threshold-rsa.ts';
import { certificateSerial, checkCertificateLabel, defaultCertificateLabel, issueGroupCertificates } from '../crypto/x509.ts';
import type { GroupCertificates } from '../crypto/x509.ts';
import type { ParsedStructure } from '../quorum/structure-file.ts';
import { ECHO_SCHEME, GROUP_FORMAT, LINK_KEY_BYTES, echoSeed } from './group.ts';
import type { BeaconKeyFile, EchoKeyFile, GroupFile, KeySharesFile, RsaKeyFile, SecretsFile, SignerRsaKeyFile } from './group.ts';
import { ed25519PublicKey } from '../crypto/ed25519.ts';
import { BEACON_SCHEME_ID } from '../crypto/beacon.ts';

export interface RsaDealOptions {
  /** Safe primes p = 2p' + 1, q = 2q' + 1 of the same bit length: n = pq has 2048 bits or more (1024 with testOnly). */
  readonly p: bigint;
  readonly q: bigint;
  /** The certificates' validity (whole seconds; UTC). */
  readonly notBefore: Date;
  readonly notAfter: Date;
  /** Start of the certificates' common names; the first 16 hex digits of the group id by default. */
  readonly label?: string;
}

export interface BeaconDealOptions {
  /** Seconds between rounds. */
  readonly period: number;
  /** Unix seconds at which round 1 is due. */
  readonly genesisTime: number;
  /** drand's beacon id; `sintra-` and the first 16 hex digits of the group id by default. */
  readonly beaconId?: string;
}

/** The beacon id of a group dealt without one given: names the group, as drand ids name their chains. */
export function defaultBeaconId(groupIdHex: string): string {
  return `sintra-${groupIdHex.slice(0, 16)}`;
}

export interface DealOptions {
  /** Recorded in group.json; true iff the randomness is derived from a known seed. */
  readonly testOnly: boolean;
  /** Progress lines for long deals (the 16-replica grid has 144 rows per key). */
  readonly onProgress?: (message: string) => void;
  /** Also deal a threshold RSA key and issue its certificates (threshold structures only). */
  readonly rsa?: RsaDealOptions;
  /** Also deal a randomness beacon key (checked by parseGroup like the rest). */
  readonly beacon?: BeaconDealOptions;
  /**
   * Write Ed25519 echo keys (default true). false makes a group as dealt before they existed, whose
   * consistent broadcast uses the quorum key's threshold BLS signatures (kept for such groups and tests).
   */
  readonly echo?: boolean;
  /**
   * The signing service's own threshold RSA key (keys.signerRsa) from these safe primes; needs
   * `signerPolicy`. Its randomness is drawn after every other key's.
   */
  readonly signerRsa?: { readonly p: bigint; readonly q: bigint };
  /**
   * The signing service's initial policy (shared/app/signer-policy.ts), written as group.json `signer`;
   * absent: the group runs no signing service. No key or randomness: the signer uses the kernel key.
   */
  readonly signerPolicy?: SignerPolicy;
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

/** A threshold RSA public key as group.json writes it: integers I2OSP to the modulus length, hex. */
function rsaPublicFile(pk: ThresholdRsaPublicKey): SignerRsaKeyFile {
  const K = byteLength(pk.n);
  const intHex = (x: bigint) => toHex(bigintToBytes(x, K));
  return { players: pk.players, threshold: pk.threshold, n: intHex(pk.n), e: Number(pk.e), v: intHex(pk.v), verificationKeys: pk.verificationKeys.map(intHex) };
}

export function deal(parsed: ParsedStructure, rng: RandomBytes, opts: DealOptions): DealOutput {
  const progress = opts.onProgress ?? (() => {});
  const n = parsed.replicas.length;
  if (parsed.structure.n !== n) throw new Error(`structure is for ${parsed.structure.n} replicas, but ${n} are listed`);
  if (opts.rsa !== undefined) {
    thresholdRsaParameters(parsed.structure); // a ThresholdRsaError for a general structure, before any work
    if (opts.rsa.label !== undefined) checkCertificateLabel(opts.rsa.label);
  }
  const kernelS = kernelScheme(parsed.structure);
  const quorumS = quorumScheme(parsed.structure);

  const groupIdBytes = rng(GROUP_ID_BYTES);
  const groupId = toHex(groupIdBytes);
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

  let rsa: { dealing: ThresholdRsaDealing; file: RsaKeyFile } | undefined;
  if (opts.rsa !== undefined) {
    const r = opts.rsa;
    progress('threshold RSA key: checking the primes, sharing the key');
    let certs: GroupCertificates | undefined;
    const dealing = dealThresholdRsa({ p: r.p, q: r.q, group: parsed.structure, testOnly: opts.testOnly }, rng, (sign, publicKey) => {
      progress('threshold RSA key: issuing the root CA and TSA certificates with the whole key');
      certs = issueGroupCertificates(
        {
          publicKey,
          groupId: groupIdBytes,
          label: r.label ?? defaultCertificateLabel(groupIdBytes),
          notBefore: r.notBefore,
          notAfter: r.notAfter,
          rootSerial: certificateSerial(rng),
          tsaSerial: certificateSerial(rng),
        },
        sign,
      );
    });
    const pk = dealing.publicKey;
    rsa = { dealing, file: { ...rsaPublicFile(pk), rootCertificate: derToPem(certs!.root), tsaCertificate: derToPem(certs!.tsa) } };
  }

  // After every other key but the signing RSA key: the beacon key's randomness, so that no other key depends on whether it is dealt.
  let beacon: { dealt: Dealt; file: BeaconKeyFile } | undefined;
  if (opts.beacon !== undefined) {
    progress(`beacon key: ${kernelS.owners.length} rows`);
    const dealt = share(kernelS, rng);
    const b = opts.beacon;
    beacon = {
      dealt,
      file: {
        scheme: kernelS.description,
        groupKey: g2Hex(dealt.secret),
        rowKeys: dealt.rows.map(g2Hex),
        schemeId: BEACON_SCHEME_ID,
        beaconId: b.beaconId ?? defaultBeaconId(groupId),
        period: b.period,
        genesisTime: b.genesisTime,
      },
    };
  }

  // After the beacon: the signing service's RSA key, so that no other key depends on whether it is dealt.
  let signerRsa: { dealing: ThresholdRsaDealing; file: SignerRsaKeyFile } | undefined;
  if (opts.signerRsa !== undefined) {
    if (opts.signerPolicy === undefined) throw new Error('a signing RSA key needs a signer policy (signerPolicy)');
    progress('signing RSA key: checking the primes, sharing the key');
    const dealing = dealThresholdRsa({ p: opts.signerRsa.p, q: opts.signerRsa.q, group: parsed.structure, testOnly: opts.testOnly }, rng);
    signerRsa = { dealing, file: rsaPublicFile(dealing.publicKey) };
  }

  const echo: EchoKeyFile | undefined =
    opts.echo === false ? undefined : { scheme: ECHO_SCHEME, publicKeys: linkSecrets.map((secret) => toHex(ed25519PublicKey(echoSeed(groupIdBytes, secret)))) };

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
    keys: {
      kernel: kernelKey,
      quorum: quorumKey,
      encryption: encryptionKey,
      ...(rsa === undefined ? {} : { rsa: rsa.file }),
      ...(beacon === undefined ? {} : { beacon: beacon.file }),
      ...(echo === undefined ? {} : { echo }),
      ...(signerRsa === undefined ? {} : { signerRsa: signerRsa.file }),
    },
    ...(opts.signerPolicy === undefined ? {} : { signer: { policy: JSON.parse(JSON.stringify(parseSignerPolicy(opts.signerPolicy))) } }),
  };

  const secrets = parsed.replicas.map((r, index): SecretsFile => {
    const values = (d: Dealt, s: SharingScheme) => s.rowsOf(index).map((row) => scalarHex(d.rows[row]!));
    const shares: KeySharesFile = {
      kernel: values(kernel, kernelS),
      quorum: values(quorum, quorumS),
      encryption: values(encryption, kernelS),
      ...(rsa === undefined ? {} : { rsa: toHex(bigintToBytes(rsa.dealing.shares[index]!.s, byteLength(rsa.dealing.publicKey.n))) }),
      ...(beacon === undefined ? {} : { beacon: values(beacon.dealt, kernelS) }),
      ...(signerRsa === undefined ? {} : { signerRsa: toHex(bigintToBytes(signerRsa.dealing.shares[index]!.s, byteLength(signerRsa.dealing.publicKey.n))) }),
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
