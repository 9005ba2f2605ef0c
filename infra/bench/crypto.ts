/**
 * `npm run bench:crypto [-- --json] [--quick]`: cost of the threshold primitives in Node, per operation
 * (median of several runs): share sign, share verify, combine (Lagrange in the exponent, optimistic
 * path), robust combine with one bad share, group verify; for t = 1, 2, 5, 10 (n = 3t + 1); TDH2; and
 * threshold RSA (Shoup) with a 2048-bit key from the fixed safe primes of test/fixtures/threshold-rsa-primes.json,
 * for l = 4, k = 2 and l = 7, k = 3; and consistent-broadcast echo certificates (a quorum's Ed25519
 * signatures) on noble and on node:crypto.
 */
import os from 'node:os';
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { shamirScheme } from '../../shared/crypto/lsss.ts';
import { domain } from '../../shared/crypto/domain.ts';
import { randomScalar } from '../../shared/crypto/field.ts';
import { seededRandom } from '../../shared/crypto/random.ts';
import { G1, G2, decodeG1, encodeG1, encodeG2 } from '../../shared/crypto/curve.ts';
import {
  combineSharesWithHash,
  hashToG1,
  publicKeyFromShares,
  signShare,
  verifyShareWithHash,
  verifySignature,
} from '../../shared/crypto/threshold-bls.ts';
import * as tdh2 from '../../shared/crypto/tdh2.ts';
import * as trsa from '../../shared/crypto/threshold-rsa.ts';
import { rsaVerifyDigest } from '../../shared/crypto/rsa.ts';
import { sha256 } from '../../shared/crypto/sha256.ts';
import { ed25519PublicKey, resetEd25519 } from '../../shared/crypto/ed25519.ts';
import { ed25519Signatures } from '../../shared/protocols/crypto-suite.ts';
import { signatureSetSigner } from '../../shared/protocols/signature-set.ts';
import { NATIVE_ED25519, useNativeEd25519 } from '../../workers/core/native-ed25519.ts';

export interface CryptoBenchRow {
  readonly group: string;
  readonly op: string;
  readonly t: number;
  readonly n: number;
  readonly ms: number;
  readonly runs: number;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

function time(runs: number, f: (i: number) => void): number {
  f(-1); // warm-up
  const xs: number[] = [];
  for (let i = 0; i < runs; i++) {
    const t0 = performance.now();
    f(i);
    xs.push(performance.now() - t0);
  }
  return Number(median(xs).toFixed(3));
}

export function runCryptoBench(opts: { quick: boolean; log: (s: string) => void }): CryptoBenchRow[] {
  const runs = opts.quick ? 3 : 9;
  const rows: CryptoBenchRow[] = [];
  const gid = new Uint8Array(32).fill(1);
  const D = domain(gid, 'checkpoint');
  for (const t of opts.quick ? [1, 5] : [1, 2, 5, 10]) {
    const n = 3 * t + 1;
    opts.log(`threshold BLS, t = ${t}, n = ${n} ...`);
    const scheme = shamirScheme(n, t + 1);
    const rng = seededRandom(`bench-${t}`);
    const secret = randomScalar(rng);
    const values = scheme.share(secret, rng);
    const pk = publicKeyFromShares(scheme, secret, values);
    const keys = values.map((v, replica) => ({ replica, values: [v] }));
    const msg = (i: number) => new TextEncoder().encode(`checkpoint ${i}`);
    const row = (op: string, ms: number) => rows.push({ group: 'threshold-bls', op, t, n, ms, runs });
    row('hash to G1', time(runs, (i) => hashToG1(D, 'tag', msg(i))));
    const h = hashToG1(D, 'tag', msg(0));
    row('share sign', time(runs, () => signShare(keys[0]!, D, 'tag', msg(0), h)));
    const shares = keys.slice(0, t + 2).map((k) => signShare(k, D, 'tag', msg(0), h));
    row('share verify', time(runs, () => verifyShareWithHash(pk, h, shares[0]!)));
    row('combine t+1 shares + verify', time(runs, () => combineSharesWithHash(pk, h, shares.slice(0, t + 1))));
    const bad = [{ signer: shares[0]!.signer, points: [G1.BASE] }, ...shares.slice(1)];
    row('robust combine, 1 bad share', time(Math.min(runs, 5), () => combineSharesWithHash(pk, h, bad)));
    const sig = combineSharesWithHash(pk, h, shares.slice(0, t + 1)).bytes;
    row('group verify', time(runs, () => verifySignature(pk.groupKey, D, 'tag', msg(0), sig)));
  }
  {
    // Encoding a freshly computed point (every share, signature and ciphertext part is one): noble's
    // toBytes checks the subgroup first; encodeG1/encodeG2 do not need to (shared/crypto/curve.ts).
    opts.log('point encodings ...');
    const row = (op: string, ms: number) => rows.push({ group: 'encoding', op, t: 0, n: 0, ms, runs });
    const fresh1 = (i: number) => G1.BASE.multiply(BigInt(1000 + i)).add(G1.BASE);
    const fresh2 = (i: number) => G2.BASE.multiply(BigInt(1000 + i)).add(G2.BASE);
    const p1 = Array.from({ length: runs + 1 }, (_, i) => [fresh1(i), fresh1(i + 100)] as const);
    const p2 = Array.from({ length: runs + 1 }, (_, i) => [fresh2(i), fresh2(i + 100)] as const);
    row('G1 fresh point: noble toBytes', time(runs, (i) => p1[i + 1]![0].toBytes(true)));
    row('G1 fresh point: encodeG1', time(runs, (i) => encodeG1(p1[i + 1]![1])));
    row('G2 fresh point: noble toBytes', time(runs, (i) => p2[i + 1]![0].toBytes(true)));
    row('G2 fresh point: encodeG2', time(runs, (i) => encodeG2(p2[i + 1]![1])));
    const enc = p1.map(([p]) => encodeG1(p));
    row('G1 decode (checked)', time(runs, (i) => decodeG1(enc[i + 1]!)));
  }
  for (const backend of ['noble', NATIVE_ED25519]) {
    // Consistent-broadcast proofs as echo signature sets (shared/protocols/signature-set.ts): one echo,
    // checking one echo, and making and checking a whole certificate of n - t signatures.
    if (backend === NATIVE_ED25519) useNativeEd25519();
    for (const t of opts.quick ? [1, 5] : [1, 2, 5, 10]) {
      const n = 3 * t + 1;
      opts.log(`echo certificates (Ed25519, ${backend}), t = ${t}, n = ${n} ...`);
      const row = (op: string, ms: number) => rows.push({ group: `echo-ed25519-${backend}`, op, t, n, ms, runs });
      const seeds = Array.from({ length: n }, (_, i) => sha256(new TextEncoder().encode(`echo ${i}`)));
      const publicKeys = seeds.map(ed25519PublicKey);
      const signers = seeds.map((seed) => signatureSetSigner(shamirScheme(n, n - t), gid, ed25519Signatures({ publicKeys, seed })));
      const digest = sha256(new TextEncoder().encode('batch'));
      row('echo sign', time(runs, (i) => signers[0]!.sign('cbc', `ab/${i}/cbc/0`, digest)));
      const echo = signers[1]!.sign('cbc', 'tag', digest);
      row('echo verify', time(runs, () => signers[0]!.verifyShare('cbc', 'tag', digest, 1, echo)));
      const echoes = new Map(signers.slice(0, n - t).map((s, i) => [i, s.sign('cbc', 'tag', digest)] as const));
      row(`combine ${n - t} echoes (each verified)`, time(runs, () => signers[0]!.combine('cbc', 'tag', digest, echoes)));
      const certificate = signers[0]!.combine('cbc', 'tag', digest, echoes).signature;
      row('certificate verify', time(runs, () => signers[2]!.verify('cbc', 'tag', digest, certificate)));
    }
    resetEd25519();
  }
  for (const t of opts.quick ? [1] : [1, 5]) {
    const n = 3 * t + 1;
    opts.log(`TDH2, t = ${t}, n = ${n} ...`);
    const scheme = shamirScheme(n, t + 1);
    const rng = seededRandom(`bench-tdh2-${t}`);
    const x = randomScalar(rng);
    const values = scheme.share(x, rng);
    const pk = { scheme, publicKey: G1.BASE.multiply(x), rowKeys: values.map((v) => G1.BASE.multiply(v)) };
    const keys = values.map((v, replica) => ({ replica, values: [v] }));
    const label = new TextEncoder().encode('client-1');
    const plaintext = new Uint8Array(250).fill(7);
    const row = (op: string, ms: number) => rows.push({ group: 'tdh2', op, t, n, ms, runs });
    row('encrypt 250 B', time(runs, () => tdh2.encrypt(pk, gid, label, plaintext, rng)));
    const ct = tdh2.encrypt(pk, gid, label, plaintext, rng);
    row('verify ciphertext', time(runs, () => tdh2.verifyCiphertext(pk, gid, ct)));
    row('decryption share', time(runs, () => tdh2.decryptionShare(pk, keys[0]!, gid, ct)));
    const dshares = keys.slice(0, t + 1).map((k) => tdh2.decryptionShare(pk, k, gid, ct));
    row('verify decryption share', time(runs, () => tdh2.verifyDecryptionShare(pk, gid, ct, dshares[0]!)));
    row('combine t+1 shares', time(runs, () => tdh2.combineDecryption(pk, gid, ct, dshares)));
  }
  {
    const fixture = JSON.parse(readFileSync(new URL('../../test/fixtures/threshold-rsa-primes.json', import.meta.url), 'utf8')) as {
      modulus2048: { p: string; q: string };
    };
    const p = BigInt(`0x${fixture.modulus2048.p}`);
    const q = BigInt(`0x${fixture.modulus2048.q}`);
    for (const [l, k] of (opts.quick ? [[4, 2]] : [[4, 2], [7, 3]]) as [number, number][]) {
      opts.log(`threshold RSA 2048, l = ${l}, k = ${k} ...`);
      const rng = seededRandom(`bench-trsa-${l}-${k}`);
      const row = (op: string, ms: number, r = runs) => rows.push({ group: 'threshold-rsa-2048', op, t: k - 1, n: l, ms, runs: r });
      const t0 = performance.now();
      const { publicKey: pk, shares } = trsa.dealThresholdRsa({ p, q, group: { players: l, threshold: k } }, rng);
      row('deal (primes given; checks them)', Number((performance.now() - t0).toFixed(3)), 1);
      const digest = sha256(new TextEncoder().encode('tbsCertificate'));
      row('share sign (+ proof)', time(runs, () => trsa.signShare(pk, shares[0]!, digest, rng)));
      const sigShares = shares.map((key) => trsa.signShare(pk, key, digest, rng));
      row('share verify (proof)', time(runs, () => trsa.verifyShare(pk, digest, sigShares[0]!)));
      row('combine k shares + verify', time(runs, () => trsa.combineShares(pk, digest, sigShares.slice(0, k))));
      const bad = [{ ...sigShares[0]!, xi: (sigShares[0]!.xi * 2n) % pk.n }, ...sigShares.slice(1)];
      row('robust combine, 1 bad share', time(Math.min(runs, 5), () => trsa.combineShares(pk, digest, bad)));
      const sig = trsa.combineShares(pk, digest, sigShares.slice(0, k)).signature;
      row('RSA verify (e = 65537)', time(runs, () => rsaVerifyDigest(pk, digest, sig)));
    }
  }
  return rows;
}

export function machineFacts() {
  return { node: process.version, platform: `${os.platform()} ${os.arch()}`, cpus: os.cpus().length, cpu: os.cpus()[0]?.model ?? 'unknown', memoryGiB: Math.round(os.totalmem() / 2 ** 30) };
}

export function formatTable(rows: CryptoBenchRow[]): string {
  const head = ['group', 'operation', 't', 'n', 'ms (median)'];
  const body = rows.map((r) => [r.group, r.op, String(r.t), String(r.n), r.ms.toFixed(2)]);
  const w = head.map((h, i) => Math.max(h.length, ...body.map((b) => b[i]!.length)));
  const line = (cells: string[]) => cells.map((c, i) => (i >= 2 ? c.padStart(w[i]!) : c.padEnd(w[i]!))).join('  ');
  return [line(head), w.map((x) => '-'.repeat(x)).join('  '), ...body.map(line)].join('\n');
}

const isMain = process.argv[1] && import.meta.url.endsWith(process.argv[1].replace(/^.*\/infra\//, 'infra/'));
if (isMain) {
  const { values } = parseArgs({ options: { json: { type: 'boolean', default: false }, quick: { type: 'boolean', default: false } } });
  const rows = runCryptoBench({ quick: values.quick!, log: (s) => process.stderr.write(s + '\n') });
  if (values.json) process.stdout.write(JSON.stringify({ machine: machineFacts(), results: rows }, null, 2) + '\n');
  else process.stdout.write(formatTable(rows) + '\n');
}
