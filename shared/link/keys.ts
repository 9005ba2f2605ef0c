/**
 * Pairwise link keys (docs/design.md section 5), derived from what the dealer deals: each replica's
 * X25519 public key in group.json (`replicas[i].linkKey`) and its own X25519 secret (SINTRA_LINK_SECRET).
 * The dealer deals no pairwise keys, so replica i and replica j agree on a key by static-static ECDH:
 *
 *   shared      = X25519(secret_i, public_j)                 (= X25519(secret_j, public_i))
 *   key(s -> r) = HKDF-SHA256(ikm = shared, salt = group id,
 *                   info = frame("sintra-edge/link-key/v1", group id, u16 s, u16 r, public_s, public_r), 32)
 *
 * (`frame` is the u32-length-prefixed concatenation of crypto/bytes.ts.) Each unordered pair shares one
 * ECDH secret; the info makes one key per DIRECTION, so a frame i -> j can never be reflected back as
 * j -> i, nor moved to another pair or group. Binding both public keys means a key only comes out if both
 * sides used the keys group.json lists. No clock, no randomness: the same inputs give the same keys.
 *
 * `deriveLinkKeys` returns the raw keys (for tests and key-agreement checks); the long-lived form is a
 * `LinkChannel`, which holds the key only inside a precomputed HMAC state (saving the two key-pad
 * compressions per frame) and exposes `mac`, so serializing a channel or a sender never writes the key.
 */
import { x25519 } from '@noble/curves/ed25519.js';
import { hkdf } from '@noble/hashes/hkdf.js';
import { sha256 as sha256Hash } from '@noble/hashes/sha2.js'; // a CHash object for HKDF
import { hmacSha256, sha256 } from '../crypto/sha256.ts';
import { bytesEqual, frame, u16be } from '../crypto/bytes.ts';
import { GROUP_ID_BYTES } from '../crypto/domain.ts';
import type { Group, ReplicaSecrets } from '../config/group.ts';
import { fail, isReplicaIndex } from './errors.ts';

export const LINK_KEY_INFO = 'sintra-edge/link-key/v1';
/** X25519 secrets and public keys, and derived link keys, are all 32 bytes. */
export const LINK_SECRET_BYTES = 32;
export const MAC_KEY_BYTES = 32;
export const MAC_BYTES = 32;

export interface LinkKeyInput {
  readonly groupId: Uint8Array;
  /** Our replica index and our X25519 secret (SINTRA_LINK_SECRET). */
  readonly me: number;
  readonly mySecret: Uint8Array;
  /** The peer's index and X25519 public key (group.json `replicas[peer].linkKey`). */
  readonly peer: number;
  readonly peerPublic: Uint8Array;
}

/** The two directional MAC keys of one pair, seen from `me`. */
export interface LinkKeys {
  /** key(me -> peer): we MAC with it. */
  readonly outgoing: Uint8Array;
  /** key(peer -> me): we verify with it. */
  readonly incoming: Uint8Array;
}

function checkBytes(x: unknown, length: number, what: string): Uint8Array {
  if (!(x instanceof Uint8Array) || x.length !== length) fail('bad-key', `${what} must be ${length} bytes`);
  return x;
}

function checkGroupId(x: unknown): Uint8Array {
  if (!(x instanceof Uint8Array) || x.length !== GROUP_ID_BYTES) fail('bad-argument', `group id must be ${GROUP_ID_BYTES} bytes`);
  return x;
}

function checkPair(sender: unknown, receiver: unknown): void {
  if (!isReplicaIndex(sender) || !isReplicaIndex(receiver)) fail('bad-index', `replica indices must be u16, got ${String(sender)} and ${String(receiver)}`);
  if (sender === receiver) fail('bad-index', `no link from replica ${sender} to itself`);
}

function directional(groupId: Uint8Array, shared: Uint8Array, sender: number, receiver: number, pkSender: Uint8Array, pkReceiver: Uint8Array): Uint8Array {
  const info = frame(LINK_KEY_INFO, groupId, u16be(sender), u16be(receiver), pkSender, pkReceiver);
  return hkdf(sha256Hash, shared, groupId, info, MAC_KEY_BYTES);
}

/** Both directional keys of the pair (me, peer). Throws LinkError on bad input or a small-order peer key. */
export function deriveLinkKeys(input: LinkKeyInput): LinkKeys {
  const groupId = checkGroupId(input.groupId);
  const secret = checkBytes(input.mySecret, LINK_SECRET_BYTES, 'link secret');
  return pairKeys(groupId, input.me, secret, x25519.getPublicKey(secret), input.peer, input.peerPublic);
}

/** deriveLinkKeys with our public key already computed (one scalar multiplication per peer, not two). */
function pairKeys(groupId: Uint8Array, me: number, secret: Uint8Array, myPublic: Uint8Array, peer: number, peerPublicKey: unknown): LinkKeys {
  const peerPublic = checkBytes(peerPublicKey, LINK_SECRET_BYTES, 'peer link public key');
  checkPair(me, peer);
  let shared: Uint8Array;
  try {
    shared = x25519.getSharedSecret(secret, peerPublic);
  } catch {
    fail('bad-key', `link public key of replica ${peer} is of small order`);
  }
  return {
    outgoing: directional(groupId, shared, me, peer, myPublic, peerPublic),
    incoming: directional(groupId, shared, peer, me, peerPublic, myPublic),
  };
}

/** One direction of one link, with its MAC key sealed inside. */
export interface LinkChannel {
  readonly groupId: Uint8Array;
  readonly sender: number;
  readonly receiver: number;
  /** HMAC-SHA256 of `data` under key(sender -> receiver). */
  mac(data: Uint8Array): Uint8Array;
}

export function linkChannel(groupId: Uint8Array, sender: number, receiver: number, key: Uint8Array): LinkChannel {
  const gid = checkGroupId(groupId).slice();
  checkPair(sender, receiver);
  const macKey = checkBytes(key, MAC_KEY_BYTES, 'link key').slice();
  return Object.freeze({
    groupId: gid,
    sender,
    receiver,
    mac: (data: Uint8Array) => hmacSha256(macKey, data),
  });
}

/** Our two channels with one peer. */
export interface LinkPeer {
  readonly peer: number;
  /** me -> peer: for LinkSender. */
  readonly outgoing: LinkChannel;
  /** peer -> me: for LinkReceiver. */
  readonly incoming: LinkChannel;
}

/**
 * Every link of replica `secrets.index`, indexed by peer (`undefined` at our own index). Checks that the
 * secret matches our public key in group.json (otherwise every peer would derive other keys than ours).
 */
export function linkPeers(group: Group, secrets: ReplicaSecrets): readonly (LinkPeer | undefined)[] {
  // Pure in (group, secrets) and immutable: a replica that reloads (after a failed write, a restart in the
  // simulator) reuses its channels instead of n X25519 multiplications.
  const known = derived.get(secrets);
  if (known && known.group === group) return known.peers;
  const peers = derivePeers(group, secrets);
  derived.set(secrets, { group, peers });
  return peers;
}

const derived = new WeakMap<ReplicaSecrets, { readonly group: Group; readonly peers: readonly (LinkPeer | undefined)[] }>();

function derivePeers(group: Group, secrets: ReplicaSecrets): readonly (LinkPeer | undefined)[] {
  const me = secrets.index;
  const mine = group.replicas[me];
  if (!mine) fail('bad-index', `replica ${me} is not in the group`);
  const groupId = checkGroupId(group.groupId);
  const secret = checkBytes(secrets.linkSecret, LINK_SECRET_BYTES, 'link secret');
  const myPublic = x25519.getPublicKey(secret);
  if (!bytesEqual(myPublic, mine.linkKey)) fail('bad-key', `link secret does not match replicas[${me}].linkKey`);
  return group.replicas.map((r) => {
    if (r.index === me) return undefined;
    const keys = pairKeys(groupId, me, secret, myPublic, r.index, r.linkKey);
    return Object.freeze({
      peer: r.index,
      outgoing: linkChannel(group.groupId, me, r.index, keys.outgoing),
      incoming: linkChannel(group.groupId, r.index, me, keys.incoming),
    });
  });
}
