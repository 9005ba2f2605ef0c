/**
 * Installs the runtime's native SHA-256 and HMAC-SHA256 (node:crypto: OpenSSL on Node, BoringSSL in
 * workerd with the nodejs_compat flag) as shared/'s hash backends. Measured (docs/benchmarks.md): 1.6 us instead of 3.9 us
 * for a 250-byte request in Node, 2.8 instead of 4.3 in workerd, and 10-17x on megabyte batches.
 * Idempotent; installSha256 / installHmacSha256 refuse a backend that disagrees with noble on their test inputs.
 */
import * as nodeCrypto from 'node:crypto';
import { installHmacSha256, installSha256, sha256Backend } from '../../shared/crypto/sha256.ts';

export const NATIVE_SHA256 = 'node:crypto';

export function useNativeSha256(): void {
  if (sha256Backend() === NATIVE_SHA256) return;
  // The one-shot hash() (Node 20.12+, workerd) allocates no Hash object: under load createHash's objects
  // cost more in garbage collection than the hashing itself (profile in docs/benchmarks.md).
  const oneShot = nodeCrypto.hash;
  installSha256(
    NATIVE_SHA256,
    typeof oneShot === 'function' ? (data) => oneShot('sha256', data, 'buffer') : (data) => nodeCrypto.createHash('sha256').update(data).digest(),
  );
  installHmacSha256(NATIVE_SHA256, (key, data) => nodeCrypto.createHmac('sha256', key).update(data).digest());
}
