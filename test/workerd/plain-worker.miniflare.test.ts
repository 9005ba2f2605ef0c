/**
 * Runs in Node. Bundles plain-worker.ts with esbuild (the copy wrangler uses) and runs it in Miniflare's
 * workerd with no compatibility flags, then checks the bytes against vectors.ts. Complements
 * crypto.workerd.test.ts, whose pool runner always has nodejs_compat_v2: this proves shared/crypto needs
 * no Node API at all. Part of `npm run test:workerd`; excluded from the default vitest config.
 */
import { build } from 'esbuild';
import { Miniflare } from 'miniflare';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { COIN, HASH_TO_CURVE_ABC, THRESHOLD, X509 } from './vectors.ts';

interface PlainWorkerResult {
  runtime: { userAgent: string | null; hasProcess: boolean; hasBuffer: boolean };
  hashToCurveAbc: string;
  threshold: unknown;
  coin: unknown;
  x509: unknown;
  ms: Record<string, number>;
}

describe('shared/crypto in a plain worker (no compatibility flags) under Miniflare', () => {
  let mf: Miniflare | undefined;
  let result: PlainWorkerResult;

  beforeAll(async () => {
    const t0 = performance.now();
    const bundle = await build({
      entryPoints: [fileURLToPath(new URL('./plain-worker.ts', import.meta.url))],
      bundle: true,
      format: 'esm',
      platform: 'neutral',
      target: 'es2022',
      mainFields: ['module', 'main'],
      conditions: ['workerd', 'worker', 'browser', 'import'],
      write: false,
      logLevel: 'silent',
    });
    const t1 = performance.now();
    mf = new Miniflare({ modules: true, script: bundle.outputFiles[0]!.text, compatibilityDate: '2026-05-01', compatibilityFlags: [] });
    const res = await mf.dispatchFetch('http://plain-worker.local/');
    expect(res.status).toBe(200);
    result = (await res.json()) as PlainWorkerResult;
    const t2 = performance.now();
    console.log(
      `[plain worker] bundle ${Math.round(t1 - t0)} ms (${bundle.outputFiles[0]!.contents.length} bytes), ` +
        `Miniflare start + request ${Math.round(t2 - t1)} ms; ms per operation inside workerd:`,
      result.ms,
    );
  });

  afterAll(async () => {
    await mf?.dispose();
  });

  it('ran in workerd without Node compatibility', () => {
    expect(result.runtime).toEqual({ userAgent: 'Cloudflare-Workers', hasProcess: false, hasBuffer: false });
  });

  it('gives the RFC 9380 known answer and the Node bytes', () => {
    expect(result.hashToCurveAbc).toBe(HASH_TO_CURVE_ABC);
    expect(result.threshold).toEqual(THRESHOLD);
    expect(result.coin).toEqual(COIN);
    expect(result.x509).toEqual(X509); // the X.509 library and threshold RSA need no Node API either
  });
});
