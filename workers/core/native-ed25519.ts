/**
 * Installs the runtime's native Ed25519 (node:crypto: OpenSSL on Node, BoringSSL in workerd with the
 * nodejs_compat flag) as shared/'s Ed25519 backend, for consistent-broadcast echoes. Measured on Node
 * here: 37 us to sign and 107 us to verify, against 520 us and 1.3-1.5 ms for noble (docs/benchmarks.md).
 * Both libraries verify cofactorless with canonical S, the rule every replica must share
 * (shared/crypto/ed25519.ts); installEd25519 refuses a backend that disagrees with it on its test inputs.
 * Idempotent.
 */
import * as nodeCrypto from 'node:crypto';
import { ed25519Backend, installEd25519 } from '../../shared/crypto/ed25519.ts';

export const NATIVE_ED25519 = 'node:crypto';

// DER prefixes of RFC 8410 keys: PKCS #8 for a 32-byte seed, SubjectPublicKeyInfo for a 32-byte key.
const PKCS8_PREFIX = Uint8Array.from([0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04, 0x20]);
const SPKI_PREFIX = Uint8Array.from([0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x03, 0x21, 0x00]);

function der(prefix: Uint8Array, key: Uint8Array): Uint8Array {
  const out = new Uint8Array(prefix.length + key.length);
  out.set(prefix, 0);
  out.set(key, prefix.length);
  return out;
}

// Both runtimes take any ArrayBufferView as a DER key; Node's type declarations say Buffer, hence the casts.
const privateKey = (seed: Uint8Array) => nodeCrypto.createPrivateKey({ key: der(PKCS8_PREFIX, seed), format: 'der', type: 'pkcs8' } as never);

export function useNativeEd25519(): void {
  if (ed25519Backend() === NATIVE_ED25519) return;
  installEd25519(NATIVE_ED25519, {
    publicKey: (seed) => {
      const spki = nodeCrypto.createPublicKey(privateKey(seed)).export({ format: 'der', type: 'spki' });
      return new Uint8Array(spki.subarray(SPKI_PREFIX.length));
    },
    signer: (seed) => {
      const key = privateKey(seed);
      return (message) => nodeCrypto.sign(null, message, key);
    },
    verifier: (publicKey) => {
      const key = nodeCrypto.createPublicKey({ key: der(SPKI_PREFIX, publicKey), format: 'der', type: 'spki' } as never);
      return (message, signature) => {
        try {
          return nodeCrypto.verify(null, message, key, signature);
        } catch {
          return false;
        }
      };
    },
  });
}
