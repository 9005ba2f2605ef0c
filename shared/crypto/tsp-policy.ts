/**
 * The group's TSA policy OID (RFC 3161 section 2.4.2, TSTInfo.policy): one per group, computed from the
 * group id alone, so every replica, the SDK and any outside verifier get the same value without a
 * registry or a configuration field.
 *
 * It lives under 2.25, the arc of ITU-T X.667 / RFC 9562 UUIDs, which anyone may use without registering:
 * `2.25.<the UUID as one unsigned decimal integer>`. The UUID is a version 8 ("custom", RFC 9562 section
 * 5.8) UUID made of SHA-256 (FIPS 180-4) of
 *
 *   frame("sintra-edge/v1/tsa/policy", groupId)      (frame as in docs/formats.md section 1)
 *
 * its first 16 bytes, with the version and variant bits set as RFC 9562 section 4 places them: byte 6 =
 * (byte 6 & 0x0f) | 0x80 (version 8), byte 8 = (byte 8 & 0x3f) | 0x80 (variant 10). That leaves 122 bits
 * of the hash: distinct groups get distinct policies, and no other UUID user collides with them.
 */
import { bytesToBigint, frame } from './bytes.ts';
import { GROUP_ID_BYTES } from './domain.ts';
import { fail } from './errors.ts';
import { sha256 } from './sha256.ts';

export const TSA_POLICY_DOMAIN = 'sintra-edge/v1/tsa/policy';
/** ITU-T X.667 section 6.3: the OID arc whose children are UUIDs as integers. */
export const UUID_OID_ARC = '2.25';

/** The 16-byte RFC 9562 version 8 UUID behind the group's policy OID. */
export function tsaPolicyUuid(groupId: Uint8Array): Uint8Array {
  if (!(groupId instanceof Uint8Array) || groupId.length !== GROUP_ID_BYTES) fail('bad-length', `TSA policy: the group id must be ${GROUP_ID_BYTES} bytes`);
  const u = sha256(frame(TSA_POLICY_DOMAIN, groupId)).slice(0, 16);
  u[6] = (u[6]! & 0x0f) | 0x80;
  u[8] = (u[8]! & 0x3f) | 0x80;
  return u;
}

/** The group's TSA policy OID, dotted decimal: `2.25.` and 36-39 digits. */
export function tsaPolicyOid(groupId: Uint8Array): string {
  return `${UUID_OID_ARC}.${bytesToBigint(tsaPolicyUuid(groupId))}`;
}
