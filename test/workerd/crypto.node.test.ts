/**
 * Node half of the workerd parity check: the same scenario (scenario.ts) must give the bytes in
 * vectors.ts, which crypto.workerd.test.ts asserts inside workerd. Runs in the default `vitest run`.
 */
import { describe, expect, it } from 'vitest';
import { coinScenario, dealKey, hashToCurveAbc, tdh2Scenario, thresholdScenario } from './scenario.ts';
import type { DealtKey } from './scenario.ts';
import { COIN, HASH_TO_CURVE_ABC, TDH2, THRESHOLD, X509 } from './vectors.ts';
import { x509Scenario } from './x509-scenario.ts';

let dealt: DealtKey | undefined;
const key = (): DealtKey => (dealt ??= dealKey());

describe('workerd parity vectors, computed in Node', () => {
  it('runs outside workerd', () => {
    expect(typeof (globalThis as { WebSocketPair?: unknown }).WebSocketPair).toBe('undefined');
  });

  it('hash to G1 matches the RFC 9380 known answer', () => {
    expect(hashToCurveAbc()).toBe(HASH_TO_CURVE_ABC);
  });

  it('threshold BLS scenario gives the recorded bytes', () => {
    expect(thresholdScenario(key())).toEqual(THRESHOLD);
  });

  it('coin scenario gives the recorded bytes', () => {
    expect(coinScenario(key())).toEqual(COIN);
  });

  it('TDH2 scenario gives the recorded bytes', () => {
    expect(tdh2Scenario()).toEqual(TDH2);
  });

  it('X.509 scenario (group certificates, threshold RSA signature) gives the recorded bytes', () => {
    expect(x509Scenario()).toEqual(X509);
  });
});
