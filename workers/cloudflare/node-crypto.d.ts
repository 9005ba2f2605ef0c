// The node:crypto functions the replica uses (workers/core/native-sha256.ts, native-ed25519.ts). workerd
// provides them with the nodejs_compat flag; this tsconfig has no @types/node, so they are declared here.
declare module 'node:crypto' {
  interface Hash {
    update(data: Uint8Array): Hash;
    digest(): Uint8Array;
  }
  interface KeyObject {
    export(options: { format: 'der'; type: 'spki' | 'pkcs8' }): Uint8Array;
  }
  export function createHash(algorithm: 'sha256'): Hash;
  export function createHmac(algorithm: 'sha256', key: Uint8Array): Hash;
  export const hash: ((algorithm: 'sha256', data: Uint8Array, outputEncoding: 'buffer') => Uint8Array) | undefined;
  export function createPrivateKey(options: { key: Uint8Array; format: 'der'; type: 'pkcs8' }): KeyObject;
  export function createPublicKey(options: KeyObject | { key: Uint8Array; format: 'der'; type: 'spki' }): KeyObject;
  export function sign(algorithm: null, data: Uint8Array, key: KeyObject): Uint8Array;
  export function verify(algorithm: null, data: Uint8Array, key: KeyObject, signature: Uint8Array): boolean;
}
