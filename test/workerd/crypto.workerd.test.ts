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
});
