/**
 * TDH2 labelled threshold encryption: V. Shoup and R. Gennaro, "Securing Threshold Cryptosystems against
 * Chosen Ciphertext Attack", EUROCRYPT '98 (LNCS 1403) and J. Cryptology 15(2):75-96, 2002: the scheme TDH2
 * (the second of the paper's two schemes, secure under DDH in the random oracle model), here in the
 * prime-order group G1 of BLS12-381, with the dealer's key shared by any linear scheme (lsss.ts).
 *
 * Notation (the paper's, additive here): g = G1.BASE, gbar = a second generator nobody knows the discrete
 * log of, h = x*g the public key, h_i = x_i*g one verification key per share row.
 *   encrypt(m, L):  r, s random; u = r*g, ubar = r*gbar, w = s*g, wbar = s*gbar;
 *                   c = DEM(K, m) with K = KDF(r*h);  e = H(c, L, u, w, ubar, wbar);  f = s + r*e.
 *                   ciphertext (c, L, u, ubar, e, f).
 *   valid?          w = f*g - e*u, wbar = f*gbar - e*ubar, and e == H(c, L, u, w, ubar, wbar): a
 *                   Fiat-Shamir proof that log_g u = log_gbar ubar, i.e. that the encryptor knows r.
 *   share (row i):  only for valid ciphertexts: u_i = x_i*u with a Chaum-Pedersen (DLEQ) proof
 *                   (e_i, f_i) that log_u u_i = log_g h_i.
 *   combine:        r*h = x*u = sum(lambda_i * u_i) over a qualified set of valid shares; m = DEM^-1(K, c).
 *
 * Hybrid construction. The paper's c = H1(r*h) XOR m only handles |m| = |H1|; we use a KEM/DEM split
 * instead: K = HKDF-SHA256(r*h, info = u) and c = ChaCha20-Poly1305(K, nonce 0, aad = L*)(m), for
 * payloads of any length. A zero nonce is safe because every K is used for exactly one message (fresh r).
 * The AEAD ciphertext c (with its tag) takes the place of the paper's c in the hash e, so the proof
 * binds the whole payload.
 *
 * Why this is CCA-secure with labels. The label actually hashed is L* = boundMessage(groupId, 'tdh2',
 * label) (domain.ts), so it binds the group id as well as the caller's label (e.g. the client id). The
 * validity proof is a simulation-sound proof of knowledge of r bound to (c, L*), so a ciphertext is
 * non-malleable: changing c, the label, the group, u or ubar changes e and needs a fresh proof, i.e.
 * knowledge of a new r; a decryption query on a valid ciphertext therefore reveals only what its maker
 * already knew, and honest replicas release shares only for valid ciphertexts (decryptionShare refuses
 * others). This is the argument of the paper's security theorem for TDH2 (ROM + DDH); replacing the
 * one-time pad by a one-time-secure DEM keyed by a random-oracle KDF of r*h is the standard KEM/DEM step
 * (Cramer-Shoup 2003) and keeps CCA security. The DEM being an AEAD is not needed for CCA security; it
 * gives a clean 'decryption-failed' for a ciphertext whose maker used a key other than r*h.
 *
 * Robust combination verifies every share it uses (see combineDecryption for why the optimistic
 * "combine, then let the AEAD tag decide" shortcut is NOT sound here). Decryption-share nonces are
 * derived deterministically (as in RFC 6979 / EdDSA), so shared/ needs no randomness outside encrypt.
 */
import { chacha20poly1305 } from '@noble/ciphers/chacha.js';
import { mulAddUnsafe, normalizeZ } from '@noble/curves/abstract/curve.js';
import { hkdf } from '@noble/hashes/hkdf.js';
import { sha256 as sha256Hash } from '@noble/hashes/sha2.js'; // a CHash object for HKDF / HMAC
import { sha256 } from './sha256.ts';
import { bigintToBytes, concatBytes, frame, readU16, u16be, u32be, utf8ToBytes } from './bytes.ts';
import { G1, G1_BYTES, P, R, SCALAR_BYTES, decodeG1, decodeScalar, encodeScalar, hashToCurveG1, msmG1, mulG1 } from './curve.ts';
import type { G1Point } from './curve.ts';
import { boundMessage, domain } from './domain.ts';
import type { Domain } from './domain.ts';
import { fail } from './errors.ts';
import { add, hashToScalar, mul, randomScalar } from './field.ts';
import type { SharingScheme } from './lsss.ts';
import type { RandomBytes } from './random.ts';
import type { KeyShare } from './threshold-bls.ts';

export type { KeyShare };

/** Public side of the encryption key: h = x*G1.BASE and h_i = x_i*G1.BASE per share row. */
export interface Tdh2PublicKey {
  readonly scheme: SharingScheme;
  readonly publicKey: G1Point;
  readonly rowKeys: readonly G1Point[];
}

export interface Tdh2Ciphertext {
  /** The caller's label (e.g. the client id); the group id is bound in as well when hashing. */
  readonly label: Uint8Array;
  /** ChaCha20-Poly1305 ciphertext with its 16-byte tag. */
  readonly c: Uint8Array;
  readonly u: G1Point;
  readonly ubar: G1Point;
  readonly e: bigint;
  readonly f: bigint;
}

/** u_i = x_i*u for one share row, with the DLEQ proof (e, f) that log_u u_i = log_g h_i. */
export interface Tdh2SharePart {
  readonly point: G1Point;
  readonly e: bigint;
  readonly f: bigint;
}

export interface Tdh2DecryptionShare {
  readonly signer: number;
  /** One part per row of the signer, in scheme.rowsOf(signer) order. */
  readonly parts: readonly Tdh2SharePart[];
}

export interface Tdh2Decryption {
  readonly plaintext: Uint8Array;
  /** Signers whose examined shares were invalid (see combineDecryption). */
  readonly faulty: number[];
}

/** Poly1305 tag length: the shortest valid `c` (empty plaintext). */
export const AEAD_TAG_BYTES = 16;
/** u, ubar, e, f. */
const FIXED_BYTES = 2 * G1_BYTES + 2 * SCALAR_BYTES;
const PART_BYTES = G1_BYTES + 2 * SCALAR_BYTES;
const ZERO_NONCE = new Uint8Array(12);

const GBAR_DST = 'SINTRA-EDGE-V1-TDH2-GBAR_BLS12381G1_XMD:SHA-256_SSWU_RO_';
const GBAR_MSG = 'sintra-edge/v1/tdh2/second-generator';
/** Window of gbar's fixed-base table (built on first use, ~20 ms; then gbar*k costs ~0.3-0.6 ms, not ~2 ms). */
const GBAR_WINDOW = 6;
let gbarPoint: G1Point | undefined;

/**
 * The second generator gbar: RFC 9380 hash-to-curve of a fixed string under its own DST, so nobody
 * knows log_g gbar (the validity proof's soundness rests on that). Computed once, lazily.
 */
export function secondGenerator(): G1Point {
  if (!gbarPoint) {
    const p = hashToCurveG1(utf8ToBytes(GBAR_MSG), GBAR_DST);
    const affine = G1.fromAffine(p.toAffine());
    affine.precompute(GBAR_WINDOW, true);
    gbarPoint = affine;
  }
  return gbarPoint;
}

/** Public key from the dealer's secret and row values (dealer and tests). */
export function tdh2PublicKeyFromShares(scheme: SharingScheme, secret: bigint, rowValues: readonly bigint[]): Tdh2PublicKey {
  if (rowValues.length !== scheme.owners.length) fail('bad-encoding', `expected ${scheme.owners.length} row values, got ${rowValues.length}`);
  return { scheme, publicKey: mulG1(G1.BASE, secret), rowKeys: rowValues.map((v) => mulG1(G1.BASE, v)) };
}

// ---------------------------------------------------------------------------------------------------
// hashing

/** The encryption domain; throws bad-length for a group id that is not 32 bytes (a local configuration error). */
const tdh2Domain = (groupId: Uint8Array): Domain => domain(groupId, 'tdh2');

/** L*: the label bound to the group id and the 'tdh2' purpose. */
function boundLabel(d: Domain, label: Uint8Array): Uint8Array {
  return boundMessage(d, 'tdh2/label', label);
}

const HALF_P = (P - 1n) / 2n;

/**
 * Compressed ZCash encoding (the bytes encodeG1 produces), computed from the affine coordinates without
 * noble's toBytes, which re-runs the subgroup check (~1 ms) on every fresh point. Every point reaching it
 * is a group element already (strictly decoded, or computed from such points). The identity encodes as
 * 0xc0 00..00: allowed for hashing (a forged w may be the identity); the wire encoders refuse it.
 */
function pt(p: G1Point): Uint8Array {
  if (p.is0()) {
    const b = new Uint8Array(G1_BYTES);
    b[0] = 0xc0;
    return b;
  }
  const { x, y } = p.toAffine();
  const b = bigintToBytes(x, G1_BYTES);
  b[0] = b[0]! | 0x80 | (y > HALF_P ? 0x20 : 0);
  return b;
}

function wirePoint(p: G1Point, what: string): Uint8Array {
  if (!(p instanceof G1) || p.is0()) fail('identity', `${what}: refusing to encode the identity point`);
  return pt(p);
}

/**
 * e = H(c, L*, u, w, ubar, wbar) (the paper's H2, with L* for L). c enters through its SHA-256 digest
 * (collision resistant, so equivalent for binding): one pass of the faster hash over a long payload.
 */
function ciphertextChallenge(c: Uint8Array, lstar: Uint8Array, u: Uint8Array, w: Uint8Array, ubar: Uint8Array, wbar: Uint8Array): bigint {
  return hashToScalar('tdh2/ciphertext', sha256(c), lstar, u, w, ubar, wbar);
}

/**
 * The ciphertext's fixed part u | ubar | e | f (its wire prefix). For a valid ciphertext it commits to c
 * and the label too, through e = H(c, L*, ...) (collision resistance), so it serves as the ciphertext
 * hash in share challenges and nonces without re-hashing a possibly long c (pure-JS SHA-2 is slow).
 */
function ciphertextHeader(ct: Tdh2Ciphertext): Uint8Array {
  return concatBytes(pt(ct.u), pt(ct.ubar), encodeScalar(ct.e), encodeScalar(ct.f));
}

/**
 * e_i = H(group, ciphertext header, row, h_i, u_i, uhat_i, hhat_i). The paper hashes (u_i, uhat_i,
 * hhat_i); we also bind the whole statement (h_i and u, inside the header), the row, the group and the
 * ciphertext (strong Fiat-Shamir), so a share is tied to one row of one ciphertext in one group.
 */
function shareChallenge(groupId: Uint8Array, header: Uint8Array, row: number, hi: Uint8Array, ui: Uint8Array, uhat: Uint8Array, hhat: Uint8Array): bigint {
  return hashToScalar('tdh2/dleq', groupId, header, u32be(row), hi, ui, uhat, hhat);
}

/**
 * Deterministic DLEQ nonce (RFC 6979 / EdDSA style): a hash of the secret row value and the ciphertext
 * (its header, which commits to all of it) in its group and row. Everything the challenge hashes is a
 * function of these inputs, so equal nonces always come with equal challenges: a nonce is never reused
 * for two different proofs, which is what would leak x_i.
 */
function shareNonce(x: bigint, groupId: Uint8Array, header: Uint8Array, row: number): bigint {
  for (let ctr = 0; ; ctr++) {
    const k = hashToScalar('tdh2/dleq-nonce', encodeScalar(x), groupId, header, u32be(row), u32be(ctr));
    if (k !== 0n) return k;
  }
}

function aead(y: G1Point, u: Uint8Array, lstar: Uint8Array) {
  const key = hkdf(sha256Hash, pt(y), undefined, frame('sintra-edge/v1/tdh2/dem-key', u), 32);
  return chacha20poly1305(key, ZERO_NONCE, lstar);
}

const isScalar = (x: unknown): x is bigint => typeof x === 'bigint' && x >= 0n && x < R;

function isPoint(p: unknown): p is G1Point {
  return p instanceof G1 && !p.is0();
}

function isBytes(b: unknown): b is Uint8Array {
  return b instanceof Uint8Array;
}

// ---------------------------------------------------------------------------------------------------
// encryption and validity

/**
 * Encrypts `plaintext` under the group key with `label` (bound together with `groupId`). The randomness
 * r, s comes from `rng` only (seededRandom makes it reproducible; adapters pass crypto.getRandomValues).
 */
export function encrypt(pk: Tdh2PublicKey, groupId: Uint8Array, label: Uint8Array, plaintext: Uint8Array, rng: RandomBytes): Tdh2Ciphertext {
  if (!isBytes(label) || !isBytes(plaintext)) fail('bad-encoding', 'tdh2: label and plaintext must be bytes');
  if (!isPoint(pk.publicKey)) fail('identity', 'tdh2: the public key must be a non-identity G1 point');
  const lstar = boundLabel(tdh2Domain(groupId), label);
  const gbar = secondGenerator();
  const r = randomScalar(rng);
  const s = randomScalar(rng);
  // Constant-time multiplications (r, s and r*h are secret); one shared inversion for all five.
  const [u, ubar, w, wbar, y] = normalizeZ(G1, [G1.BASE.multiply(r), gbar.multiply(r), G1.BASE.multiply(s), gbar.multiply(s), pk.publicKey.multiply(r)]) as [
    G1Point,
    G1Point,
    G1Point,
    G1Point,
    G1Point,
  ];
  const uBytes = pt(u);
  const c = aead(y, uBytes, lstar).encrypt(plaintext);
  const e = ciphertextChallenge(c, lstar, uBytes, pt(w), pt(ubar), pt(wbar));
  return { label: label.slice(), c, u, ubar, e, f: add(s, mul(r, e)) };
}

/**
 * The TDH2 validity test: the proof that log_g u = log_gbar ubar, bound to (c, label, group id). Must
 * hold before any replica produces a decryption share (decryptionShare and combineDecryption check it).
 * Only a malformed group id throws (a local configuration error); a bad ciphertext returns false.
 */
export function verifyCiphertext(pk: Tdh2PublicKey, groupId: Uint8Array, ct: Tdh2Ciphertext): boolean {
  void pk; // validity does not depend on the key (as in the paper); the parameter keeps call sites uniform
  const d = tdh2Domain(groupId);
  if (!ct || !isBytes(ct.label) || !isBytes(ct.c) || ct.c.length < AEAD_TAG_BYTES) return false;
  if (!isPoint(ct.u) || !isPoint(ct.ubar) || !isScalar(ct.e) || !isScalar(ct.f)) return false;
  const gbar = secondGenerator();
  // Public scalars: variable-time multiplications; g and gbar use their fixed-base tables.
  const [w, wbar] = normalizeZ(G1, [
    G1.BASE.multiplyUnsafe(ct.f).subtract(ct.u.multiplyUnsafe(ct.e)),
    gbar.multiplyUnsafe(ct.f).subtract(ct.ubar.multiplyUnsafe(ct.e)),
  ]) as [G1Point, G1Point];
  return ciphertextChallenge(ct.c, boundLabel(d, ct.label), pt(ct.u), pt(w), pt(ct.ubar), pt(wbar)) === ct.e;
}

// ---------------------------------------------------------------------------------------------------
// decryption shares

/**
 * This replica's decryption share: per row u_i = x_i*u with a DLEQ proof. Throws
 * CryptoError('invalid-ciphertext') when the ciphertext fails its validity test (an honest replica
 * never releases a share for it), 'index-out-of-range' for a key that does not fit the scheme.
 */
export function decryptionShare(pk: Tdh2PublicKey, key: KeyShare, groupId: Uint8Array, ct: Tdh2Ciphertext): Tdh2DecryptionShare {
  if (!verifyCiphertext(pk, groupId, ct)) fail('invalid-ciphertext', 'tdh2: the ciphertext fails its validity proof');
  const rows = keyRows(pk.scheme, key);
  const header = ciphertextHeader(ct);
  const parts = rows.map((row, j): Tdh2SharePart => {
    const x = key.values[j]!;
    const k = shareNonce(x, groupId, header, row);
    const [ui, uhat, hhat] = normalizeZ(G1, [mulG1(ct.u, x), ct.u.multiply(k), G1.BASE.multiply(k)]) as [G1Point, G1Point, G1Point];
    const e = shareChallenge(groupId, header, row, pt(pk.rowKeys[row]!), pt(ui), pt(uhat), pt(hhat));
    return { point: ui, e, f: add(k, mul(x, e)) };
  });
  return { signer: key.replica, parts };
}

function keyRows(scheme: SharingScheme, key: KeyShare): readonly number[] {
  if (!Number.isInteger(key.replica) || key.replica < 0 || key.replica >= scheme.n) {
    fail('index-out-of-range', `tdh2: key share replica ${String(key.replica)} is outside 0..${scheme.n - 1}`);
  }
  const rows = scheme.rowsOf(key.replica);
  if (key.values.length !== rows.length) fail('index-out-of-range', `tdh2: replica ${key.replica} holds ${rows.length} rows, key has ${key.values.length}`);
  return rows;
}

/** The signer's rows if the share is well formed (right signer range, row count, non-identity points, scalars in range). */
function shareRows(scheme: SharingScheme, share: Tdh2DecryptionShare): readonly number[] | null {
  if (!share || !Number.isInteger(share.signer) || share.signer < 0 || share.signer >= scheme.n) return null;
  const rows = scheme.rowsOf(share.signer);
  if (!Array.isArray(share.parts) || rows.length === 0 || share.parts.length !== rows.length) return null;
  for (const p of share.parts) if (!p || !isPoint(p.point) || !isScalar(p.e) || !isScalar(p.f)) return null;
  return rows;
}

function verifyShareRows(pk: Tdh2PublicKey, groupId: Uint8Array, ct: Tdh2Ciphertext, header: Uint8Array, share: Tdh2DecryptionShare, rows: readonly number[]): boolean {
  return rows.every((row, j) => {
    const { point: ui, e, f } = share.parts[j]!;
    const hi = pk.rowKeys[row]!;
    // uhat = f*u - e*u_i (Strauss-Shamir, one doubling chain), hhat = f*g - e*h_i (g's fixed-base table).
    const [uhat, hhat] = normalizeZ(G1, [mulAddUnsafe(G1, [ct.u, ui.negate()], [f, e]), G1.BASE.multiplyUnsafe(f).subtract(hi.multiplyUnsafe(e))]) as [
      G1Point,
      G1Point,
    ];
    return shareChallenge(groupId, header, row, pt(hi), pt(ui), pt(uhat), pt(hhat)) === e;
  });
}

/**
 * Checks every row of one decryption share against the row keys. Does not re-check the ciphertext's
 * validity (combineDecryption does; callers verifying shares one by one have already checked it
 * before releasing their own share). Never throws for a malformed share or ciphertext: returns false.
 */
export function verifyDecryptionShare(pk: Tdh2PublicKey, groupId: Uint8Array, ct: Tdh2Ciphertext, share: Tdh2DecryptionShare): boolean {
  const rows = shareRows(pk.scheme, share);
  if (!rows || !ct || !isPoint(ct.u) || !isPoint(ct.ubar) || !isScalar(ct.e) || !isScalar(ct.f)) return false;
  return verifyShareRows(pk, groupId, ct, ciphertextHeader(ct), share, rows);
}

/**
 * Robust combination. Checks the ciphertext (throws 'invalid-ciphertext'), then examines the shares in
 * the given order: structurally bad ones and ones whose proof fails are faulty (a valid share from a
 * signer that also sent an invalid one is still used; the signer is still named); it stops examining as soon as the valid ones form a qualified set, so
 * `faulty` names only invalid shares met before that point (shares beyond it are not needed and not
 * checked). Throws 'not-qualified' if the valid shares do not reach a qualified set, and
 * 'decryption-failed' if the AEAD rejects c under the correctly combined key r*h (a ciphertext whose
 * maker encrypted under another key: every honest combiner gets the same verdict).
 *
 * Why every used share is verified instead of combining optimistically and letting the AEAD tag decide:
 * without a pairing-side key there is no cheap check that the combination equals x*u, and a passing
 * AEAD tag does not prove it. A malicious encryptor knows r*h and can encrypt under any point Y' it
 * likes; a colluding replica then submits u_i' = u_i + (Y' - r*h)/lambda_i, so combiners that include
 * its share would decrypt a different message than combiners that do not (ChaCha20-Poly1305 is also
 * not key-committing). Verifying the shares used makes the result a function of the ciphertext alone,
 * which atomic broadcast needs. Stopping at a qualified set keeps the cost at (qualified set) DLEQ checks.
 */
export function combineDecryption(pk: Tdh2PublicKey, groupId: Uint8Array, ct: Tdh2Ciphertext, shares: readonly Tdh2DecryptionShare[]): Tdh2Decryption {
  if (!verifyCiphertext(pk, groupId, ct)) fail('invalid-ciphertext', 'tdh2: the ciphertext fails its validity proof');
  const scheme = pk.scheme;
  const header = ciphertextHeader(ct);
  const faulty = new Set<number>();
  const valid = new Map<number, Tdh2DecryptionShare>();
  for (const s of shares) {
    if (scheme.isQualified(valid.keys())) break;
    const rows = shareRows(scheme, s);
    if (!rows) {
      if (s && Number.isInteger(s.signer) && s.signer >= 0 && s.signer < scheme.n) faulty.add(s.signer);
      continue;
    }
    if (valid.has(s.signer)) continue;
    if (verifyShareRows(pk, groupId, ct, header, s, rows)) valid.set(s.signer, s);
    else faulty.add(s.signer);
  }
  const faultyList = [...faulty].sort((a, b) => a - b);
  if (!scheme.isQualified(valid.keys())) {
    fail('not-qualified', `tdh2: valid shares from replicas [${[...valid.keys()].sort((a, b) => a - b).join(',')}] are not a qualified set (faulty: [${faultyList.join(',')}])`);
  }
  const rec = scheme.recombine(valid.keys());
  const points = rec.rows.map((row) => {
    const owner = scheme.owners[row]!;
    return valid.get(owner)!.parts[scheme.rowsOf(owner).indexOf(row)]!.point;
  });
  // Shares and coefficients are public: variable-time Strauss-Shamir beats noble's Pippenger at these sizes.
  const y = points.length <= 64 ? mulAddUnsafe(G1, points, [...rec.coeffs]) : msmG1(points, [...rec.coeffs]);
  if (y.is0()) fail('decryption-failed', 'tdh2: the combined key is the identity');
  let plaintext: Uint8Array;
  try {
    plaintext = aead(y, pt(ct.u), boundLabel(tdh2Domain(groupId), ct.label)).decrypt(ct.c);
  } catch {
    return fail('decryption-failed', 'tdh2: the AEAD rejects the ciphertext under the combined key');
  }
  return { plaintext, faulty: faultyList };
}

// ---------------------------------------------------------------------------------------------------
// wire encodings

/**
 * Ciphertext wire form: u (48) | ubar (48) | e (32) | f (32) | u32 label length | label | u32 c length | c.
 * Points compressed and strictly decoded (no identity, canonical, in the subgroup); scalars canonical
 * (< r; zero allowed: e and f are uniform in Z_r).
 */
export function encodeCiphertext(ct: Tdh2Ciphertext): Uint8Array {
  if (!isBytes(ct.label) || !isBytes(ct.c)) fail('bad-encoding', 'tdh2 ciphertext: label and c must be bytes');
  return concatBytes(wirePoint(ct.u, 'tdh2 ciphertext'), wirePoint(ct.ubar, 'tdh2 ciphertext'), encodeScalar(ct.e), encodeScalar(ct.f), u32be(ct.label.length), ct.label, u32be(ct.c.length), ct.c);
}

function readU32(b: Uint8Array, off: number, what: string): number {
  if (off + 4 > b.length) fail('bad-length', `tdh2 ciphertext: truncated ${what} length`);
  return ((b[off]! << 24) >>> 0) + ((b[off + 1]! << 16) | (b[off + 2]! << 8) | b[off + 3]!);
}

export function decodeCiphertext(b: Uint8Array): Tdh2Ciphertext {
  if (!isBytes(b)) fail('bad-encoding', 'tdh2 ciphertext: expected bytes');
  if (b.length < FIXED_BYTES + 8 + AEAD_TAG_BYTES) fail('bad-length', `tdh2 ciphertext: ${b.length} bytes is too short`);
  let off = FIXED_BYTES;
  const labelLen = readU32(b, off, 'label');
  off += 4;
  if (labelLen > b.length - off) fail('bad-length', 'tdh2 ciphertext: truncated label');
  const label = b.slice(off, off + labelLen);
  off += labelLen;
  const cLen = readU32(b, off, 'c');
  off += 4;
  if (cLen < AEAD_TAG_BYTES) fail('bad-length', `tdh2 ciphertext: c must hold at least the ${AEAD_TAG_BYTES}-byte tag`);
  if (cLen > b.length - off) fail('bad-length', 'tdh2 ciphertext: truncated c');
  const c = b.slice(off, off + cLen);
  off += cLen;
  if (off !== b.length) fail('bad-encoding', `tdh2 ciphertext: ${b.length - off} trailing bytes`);
  const u = decodeG1(b.subarray(0, G1_BYTES));
  const ubar = decodeG1(b.subarray(G1_BYTES, 2 * G1_BYTES));
  const e = decodeScalar(b.subarray(2 * G1_BYTES, 2 * G1_BYTES + SCALAR_BYTES), true);
  const f = decodeScalar(b.subarray(2 * G1_BYTES + SCALAR_BYTES, FIXED_BYTES), true);
  return { label, c, u, ubar, e, f };
}

/** SHA-256 of the wire encoding: names the ciphertext (decryption instances, share binding). */
export function ciphertextId(ct: Tdh2Ciphertext): Uint8Array {
  return sha256(encodeCiphertext(ct));
}

/** Decryption share wire form: u16 signer | u16 row count | per row: u_i (48) | e_i (32) | f_i (32). */
export function encodeDecryptionShare(s: Tdh2DecryptionShare): Uint8Array {
  return concatBytes(u16be(s.signer), u16be(s.parts.length), ...s.parts.flatMap((p) => [wirePoint(p.point, 'decryption share'), encodeScalar(p.e), encodeScalar(p.f)]));
}

export function decodeDecryptionShare(scheme: SharingScheme, b: Uint8Array): Tdh2DecryptionShare {
  if (!isBytes(b)) fail('bad-encoding', 'decryption share: expected bytes');
  if (b.length < 4) fail('bad-length', 'decryption share: too short');
  const signer = readU16(b, 0);
  const count = readU16(b, 2);
  if (signer >= scheme.n) fail('index-out-of-range', `decryption share: signer ${signer} is outside 0..${scheme.n - 1}`);
  const expected = scheme.rowsOf(signer).length;
  if (count !== expected) fail('bad-encoding', `decryption share: signer ${signer} holds ${expected} rows, share has ${count}`);
  const size = 4 + count * PART_BYTES;
  if (b.length < size) fail('bad-length', `decryption share: expected ${size} bytes, got ${b.length}`);
  if (b.length > size) fail('bad-encoding', `decryption share: ${b.length - size} trailing bytes`);
  const parts: Tdh2SharePart[] = [];
  for (let i = 0; i < count; i++) {
    const o = 4 + i * PART_BYTES;
    parts.push({
      point: decodeG1(b.subarray(o, o + G1_BYTES)),
      e: decodeScalar(b.subarray(o + G1_BYTES, o + G1_BYTES + SCALAR_BYTES), true),
      f: decodeScalar(b.subarray(o + G1_BYTES + SCALAR_BYTES, o + PART_BYTES), true),
    });
  }
  return { signer, parts };
}
