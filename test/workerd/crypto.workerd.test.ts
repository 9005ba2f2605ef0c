/**
 * shared/crypto inside workerd (the Workers runtime), via @cloudflare/vitest-pool-workers.
 * Run with `npm run test:workerd` (vitest.workers.config.ts); the default vitest config excludes this file.
 *
 * The scenario code (scenario.ts) and the expected bytes (vectors.ts) are shared with
 * crypto.node.test.ts, which checks the same bytes in Node: passing both proves byte-identical results.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { coinScenario, dealKey, hashToCurveAbc, tdh2Scenario, thresholdScenario } from './scenario.ts';
import type { DealtKey } from './scenario.ts';
import { recordingTimer } from './timer.ts';
import { COIN, HASH_TO_CURVE_ABC, TDH2, THRESHOLD, X509 } from './vectors.ts';
import { x509Scenario } from './x509-scenario.ts';
import { ed25519 } from '@noble/curves/ed25519.js';
import { ed25519Backend, ed25519PublicKey, ed25519Signer, ed25519Verifier, torsionSignature } from '../../shared/crypto/ed25519.ts';
import { NATIVE_ED25519, useNativeEd25519 } from '../../workers/core/native-ed25519.ts';

const { time, report } = recordingTimer();
let dealt: DealtKey | undefined;
const key = (): DealtKey => (dealt ??= dealKey(time));

describe('shared/crypto inside workerd', () => {
  afterAll(() => {
    console.log('[workerd] ms per operation (first call, cold):', report());
  });

  it('really runs in the Workers runtime', () => {
    // Typed through globalThis so the root tsconfig (Node types only) needs no Workers types.
    const g = globalThis as { navigator?: { userAgent?: string }; WebSocketPair?: unknown };
    expect(g.navigator?.userAgent).toBe('Cloudflare-Workers');
    expect(typeof g.WebSocketPair).toBe('function');
  });

  it('hash to G1 matches the RFC 9380 known answer', () => {
    expect(hashToCurveAbc(time)).toBe(HASH_TO_CURVE_ABC);
  });

  it('threshold BLS (Shamir 4, 2): one bad share of three is named, the signature verifies, bytes equal Node', () => {
    const r = thresholdScenario(key(), time);
    expect(r.faulty).toEqual([1]);
    expect(r.verified).toBe(true);
    expect(r).toEqual(THRESHOLD);
  });

  it('the coin has one value for two different qualified subsets, equal to Node', () => {
    const r = coinScenario(key(), time);
    expect(r.valueA).toBe(r.valueB);
    expect(r.verified).toBe(true);
    expect(r).toEqual(COIN);
  });

  it('TDH2 round trip (encrypt, verifyCiphertext, decryptionShare, combineDecryption): bytes equal Node', () => {
    const r = tdh2Scenario(time);
    expect(r.valid && r.sharesValid).toBe(true);
    expect(new TextDecoder().decode(Uint8Array.from(r.plaintext.match(/../g)!.map((h) => parseInt(h, 16))))).toBe('sealed bid: 1234');
    expect(r).toEqual(TDH2);
  });

  it('X.509 group certificates (@peculiar/asn1-x509) and a threshold RSA signature: bytes equal Node', () => {
    expect(x509Scenario(time)).toEqual(X509);
  });

  it('Ed25519 echoes: node:crypto (BoringSSL) installs as the backend, with the strict rule', () => {
    time('install node:crypto Ed25519 (checks included)', () => useNativeEd25519());
    expect(ed25519Backend()).toBe(NATIVE_ED25519);
    const seed = new Uint8Array(32).fill(5);
    const message = new TextEncoder().encode('echo');
    const sign = ed25519Signer(seed);
    const verify = ed25519Verifier(ed25519PublicKey(seed));
    const signature = time('Ed25519 sign (native)', () => sign(message));
    expect(time('Ed25519 verify (native)', () => verify(message, signature))).toBe(true);
    expect(verify(message, torsionSignature(seed, message, ed25519.Point.fromHex('26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc05'), 1))).toBe(false);
    const t0 = performance.now();
    for (let i = 0; i < 200; i++) verify(message, signature);
    console.log(`[workerd] Ed25519 verify: ${((performance.now() - t0) * 5).toFixed(0)} us each (200 in a row)`);
  });
});
