/**
 * RFC 3161 section 2.4.1: reading a time-stamp query (TimeStampReq, `application/timestamp-query`) into
 * what the token will echo, or into the RFC 3161 section 2.4.2 failure the reply must carry. Pure and
 * total: every byte string gives one of the two, nothing throws, and the same bytes give the same answer
 * on every replica (the query is ordered before anyone reads it).
 *
 * Rules, in the order they are checked (the first that fails is the answer):
 *
 *  | check | failInfo |
 *  |---|---|
 *  | 1 to MAX_QUERY_BYTES bytes | badDataFormat (none), badRequest (too long) |
 *  | one DER SEQUENCE spanning every byte (no trailing bytes) | badDataFormat |
 *  | parses as TimeStampReq and re-encodes to the same bytes (DER, X.690 section 10) | badDataFormat |
 *  | version 1 | badRequest |
 *  | hashAlgorithm SHA-256, SHA-384 or SHA-512 (FIPS 180-4), parameters absent or NULL | badAlg |
 *  | hashedMessage exactly that hash's length | badDataFormat |
 *  | reqPolicy absent or the group's policy | unacceptedPolicy |
 *  | no extensions | unacceptedExtension |
 *  | nonce, if present, non-negative and at most MAX_NONCE_BYTES bytes of magnitude | badRequest |
 *
 * Why these choices:
 *  - DER only: one query has one encoding, like every other structure this project reads. OpenSSL,
 *    BouncyCastle and .NET all send DER.
 *  - SHA-1 is refused (badAlg): with chosen-prefix collisions (2020) someone can make two documents with one
 *    SHA-1 imprint, and one token would then date both. `openssl ts -query` uses SHA-256 by default.
 *  - A wrong-length imprint is badDataFormat ("the data submitted has the wrong format"), as OpenSSL's own
 *    TSA answers it; badAlg is for the algorithm identifier.
 *  - The nonce is echoed in the token, so its size is capped: 64 bytes (512 bits) is far above the 64-bit
 *    nonces clients send, and keeps a token's size bounded by the TSA, not the client.
 *  - Every extension is refused: the TSA supports none, and RFC 3161 section 2.4.2 says it must then reject.
 */
import { AsnConvert } from '@peculiar/asn1-schema';
import { id_sha1, id_sha256, id_sha384, id_sha512 } from '@peculiar/asn1-rsa';
import { bytesEqual } from './bytes.ts';
import { derSequenceSpan } from './pem.ts';
import { TspError, TspTimeStampReq, der, isOidText, nonNegativeInteger } from './tsp-asn1.ts';
import type { PkiFailureInfo } from './tsp-asn1.ts';

export type { PkiFailureInfo } from './tsp-asn1.ts';

/** Longer queries are refused before parsing: an honest one is under 300 bytes. */
export const MAX_QUERY_BYTES = 4096;
/** The largest nonce echoed: 64 bytes, i.e. below 2^512. */
export const MAX_NONCE_BYTES = 64;

export type TspHashAlgorithm = 'sha256' | 'sha384' | 'sha512';

/** FIPS 180-4 hashes a query may name (NIST CSOR OIDs, RFC 5754 section 2) and their output lengths. */
export const TSP_HASH_ALGORITHMS: Readonly<Record<TspHashAlgorithm, { readonly oid: string; readonly bytes: number }>> = {
  sha256: { oid: id_sha256, bytes: 32 },
  sha384: { oid: id_sha384, bytes: 48 },
  sha512: { oid: id_sha512, bytes: 64 },
};

/** An accepted query: what the token echoes (messageImprint, nonce) and whether certificates are asked for. */
export interface TimeStampQuery {
  readonly hashAlgorithm: TspHashAlgorithm;
  /**
   * Whether the query's hash AlgorithmIdentifier had NULL parameters (true) or none (false). The token's
   * messageImprint repeats the query's exactly (RFC 3161 section 2.4.2: "MUST have the same value").
   */
  readonly hashParametersNull: boolean;
  /** The imprint: as many bytes as the hash gives. */
  readonly hashedMessage: Uint8Array;
  /** The nonce, when the query has one (echoed in the token); 0 <= nonce < 2^512. */
  readonly nonce: bigint | undefined;
  /** certReq: the reply's SignedData must carry the TSA certificate (true) or no certificates (false). */
  readonly certReq: boolean;
  /** reqPolicy as sent (then the group's policy), or undefined. */
  readonly reqPolicy: string | undefined;
}

export type TimeStampQueryResult =
  | { readonly ok: true; readonly query: TimeStampQuery }
  | { readonly ok: false; readonly failInfo: PkiFailureInfo; readonly text: string };

const refuse = (failInfo: PkiFailureInfo, text: string): TimeStampQueryResult => ({ ok: false, failInfo, text });

/**
 * Reads a DER TimeStampReq for a TSA whose policy is `policy` (tsaPolicyOid). Never throws for any
 * `bytes`; throws a TspError only when `policy` is not an OID (a caller's mistake, not the client's).
 */
export function parseTimeStampQuery(bytes: Uint8Array, policy: string): TimeStampQueryResult {
  if (!isOidText(policy)) throw new TspError('bad-encoding', 'time-stamp query: the TSA policy must be an OBJECT IDENTIFIER in dotted decimal');
  try {
    return parse(bytes, policy);
  } catch {
    // Every expected refusal is returned above; this is a library surprise on hostile bytes.
    return refuse('badDataFormat', 'not a TimeStampReq (RFC 3161 section 2.4.1)');
  }
}

function parse(bytes: Uint8Array, policy: string): TimeStampQueryResult {
  if (!(bytes instanceof Uint8Array) || bytes.length === 0) return refuse('badDataFormat', 'empty query');
  if (bytes.length > MAX_QUERY_BYTES) return refuse('badRequest', `query longer than ${MAX_QUERY_BYTES} bytes`);
  try {
    derSequenceSpan(bytes);
  } catch (e) {
    return refuse('badDataFormat', `not one DER SEQUENCE (${e instanceof Error ? e.message : 'bad encoding'})`);
  }
  let req: TspTimeStampReq;
  try {
    req = AsnConvert.parse(bytes, TspTimeStampReq);
  } catch {
    return refuse('badDataFormat', 'not a TimeStampReq (RFC 3161 section 2.4.1)');
  }
  if (!bytesEqual(der(req), bytes)) return refuse('badDataFormat', 'TimeStampReq not in DER (X.690 section 10)');
  if (req.version !== 1) return refuse('badRequest', 'TimeStampReq version must be 1');

  const alg = req.messageImprint.hashAlgorithm;
  const name = (Object.keys(TSP_HASH_ALGORITHMS) as TspHashAlgorithm[]).find((h) => TSP_HASH_ALGORITHMS[h].oid === alg.algorithm);
  if (name === undefined) {
    const why = alg.algorithm === id_sha1 ? 'SHA-1 is not accepted (collisions)' : `hash algorithm ${alg.algorithm} is not accepted`;
    return refuse('badAlg', `${why}; use SHA-256, SHA-384 or SHA-512`);
  }
  if (alg.parameters !== undefined && alg.parameters !== null) return refuse('badAlg', 'hash algorithm parameters must be absent or NULL');
  const hashedMessage = new Uint8Array(req.messageImprint.hashedMessage.buffer);
  const expected = TSP_HASH_ALGORITHMS[name].bytes;
  if (hashedMessage.length !== expected) return refuse('badDataFormat', `message imprint is ${hashedMessage.length} bytes; ${name} gives ${expected}`);

  if (req.reqPolicy !== undefined && req.reqPolicy !== policy) return refuse('unacceptedPolicy', `policy ${req.reqPolicy} is not this TSA's (${policy})`);
  if (req.extensions !== undefined) return refuse('unacceptedExtension', 'this TSA accepts no extensions');

  let nonce: bigint | undefined;
  if (req.nonce !== undefined) {
    const contents = new Uint8Array(req.nonce);
    if (contents.length > 0 && contents[0]! >= 0x80) return refuse('badRequest', 'nonce must not be negative');
    nonce = nonNegativeInteger(contents);
    if (nonce === undefined) return refuse('badDataFormat', 'nonce not in DER (X.690 section 8.3.2)');
    if (nonce >= 1n << BigInt(8 * MAX_NONCE_BYTES)) return refuse('badRequest', `nonce longer than ${MAX_NONCE_BYTES} bytes`);
  }
  return {
    ok: true,
    query: {
      hashAlgorithm: name,
      hashParametersNull: alg.parameters === null,
      hashedMessage,
      nonce,
      certReq: req.certReq === true,
      reqPolicy: req.reqPolicy,
    },
  };
}
