/**
 * Client side of secure causal atomic broadcast (docs/api.md, "Encrypted requests";
 * Cachin-Kursawe-Petzold-Shoup, CRYPTO 2001, section 6): a request encrypted to the group's TDH2 key, so no
 * replica (and no coalition the structure calls corruptible) learns it before its position in the total order
 * is fixed. The replicas order the ciphertext, then decrypt it together; the log entry (and the receipt) is
 * the plaintext, and the request's id before delivery is the SHA-256 of the ciphertext.
 *
 * The label is authenticated with the ciphertext (TDH2 binds it into the validity proof): a replica or
 * eavesdropper cannot re-submit the ciphertext under another label. Use the client's name.
 */
import { sha256 } from '../crypto/sha256.ts';
import { toHex, utf8ToBytes } from '../crypto/bytes.ts';
import type { RandomBytes } from '../crypto/random.ts';
import { encodeCiphertext, encrypt } from '../crypto/tdh2.ts';
import type { Group } from '../config/group.ts';

export interface EncryptedRequest {
  /** The ciphertext to POST ({"ciphertext": base64}, or as application/vnd.sintra.tdh2-ciphertext). */
  readonly ciphertext: Uint8Array;
  /** Hex SHA-256 of the ciphertext: the id replicas answer to until it is decrypted. */
  readonly ciphertextId: string;
  /** Hex SHA-256 of the plaintext: the id of the log entry once delivered (its receipt proves it). */
  readonly plaintextId: string;
}

/** Encrypts `request` to the group's key. `rng` is the caller's (crypto.getRandomValues in real clients). */
export function encryptRequest(group: Group, request: Uint8Array, label: Uint8Array | string, rng: RandomBytes): EncryptedRequest {
  const l = typeof label === 'string' ? utf8ToBytes(label) : label;
  const ciphertext = encodeCiphertext(encrypt(group.encryption, group.groupId, l, request, rng));
  return { ciphertext, ciphertextId: toHex(sha256(ciphertext)), plaintextId: toHex(sha256(request)) };
}
