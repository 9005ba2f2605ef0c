/**
 * Typed errors for every rejection at a crypto boundary. Callers (protocols, adapters) switch on `code`
 * to turn bad input from a peer into a recorded fault instead of a crash.
 */
export type CryptoErrorCode =
  | 'bad-length' // wrong number of bytes
  | 'bad-encoding' // not hex, bad flags, bad framing, trailing bytes
  | 'non-canonical' // a value with more than one encoding, encoded the other way
  | 'not-on-curve'
  | 'not-in-subgroup'
  | 'identity' // the point at infinity where a real point is required
  | 'scalar-out-of-range' // scalar >= r (or zero where zero is forbidden)
  | 'index-out-of-range' // replica or share row index outside the scheme
  | 'not-qualified' // not enough valid shares to combine
  | 'invalid-share' // a share that fails its proof / verification key
  | 'invalid-ciphertext' // TDH2 ciphertext that fails its validity proof
  | 'decryption-failed' // AEAD tag mismatch after a correct combination
  | 'invalid-structure'; // adversary structure / sharing scheme description is malformed or not Q3

export class CryptoError extends Error {
  // string, not the literal: subclasses (ThresholdRsaError) name themselves.
  override readonly name: string = 'CryptoError';
  constructor(
    readonly code: CryptoErrorCode,
    message: string,
  ) {
    super(message);
  }
}

export function fail(code: CryptoErrorCode, message: string): never {
  throw new CryptoError(code, message);
}

export function isCryptoError(e: unknown): e is CryptoError {
  return e instanceof CryptoError;
}
