/**
 * Test-only worker: runs the parity scenario (scenario.ts) in a plain worker with NO compatibility flags
 * (no nodejs_compat), unlike the vitest pool, which adds nodejs_compat_v2 to its runner. Bundled with
 * esbuild and run in Miniflare by plain-worker.miniflare.test.ts.
 */
import { coinScenario, dealKey, hashToCurveAbc, thresholdScenario } from './scenario.ts';
import { recordingTimer } from './timer.ts';
import { x509Scenario } from './x509-scenario.ts';

export default {
  fetch(): Response {
    const { time, report } = recordingTimer();
    const g = globalThis as { navigator?: { userAgent?: string }; process?: unknown; Buffer?: unknown };
    const key = dealKey(time);
    const body = {
      runtime: { userAgent: g.navigator?.userAgent ?? null, hasProcess: g.process !== undefined, hasBuffer: g.Buffer !== undefined },
      hashToCurveAbc: hashToCurveAbc(time),
      threshold: thresholdScenario(key, time),
      coin: coinScenario(key, time),
      x509: x509Scenario(time),
      ms: report(),
    };
    return Response.json(body);
  },
};
