// The one node:crypto function the replica uses (workers/core/native-sha256.ts). workerd provides it with
// the nodejs_compat flag; this tsconfig has no @types/node, so it is declared here.
declare module 'node:crypto' {
  interface Hash {
    update(data: Uint8Array): Hash;
    digest(): Uint8Array;
  }
  export function createHash(algorithm: 'sha256'): Hash;
  export function createHmac(algorithm: 'sha256', key: Uint8Array): Hash;
  export const hash: ((algorithm: 'sha256', data: Uint8Array, outputEncoding: 'buffer') => Uint8Array) | undefined;
}
