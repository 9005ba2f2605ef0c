/**
 * A real redis-server behind the Upstash REST bridge for the tests of one describe block: started in its
 * beforeAll, stopped in its afterAll. Read `redis` and `bridge` inside the tests (they exist from beforeAll on).
 */
import { afterAll, beforeAll } from 'vitest';
import { startRedis } from './redis.ts';
import type { TestRedis } from './redis.ts';
import { startUpstashBridge } from './upstash-bridge.ts';
import type { UpstashBridge } from './upstash-bridge.ts';

export interface RedisBehindBridge {
  readonly redis: TestRedis;
  readonly bridge: UpstashBridge;
}

export function useRedisBehindBridge(): RedisBehindBridge {
  let redis: TestRedis | undefined;
  let bridge: UpstashBridge | undefined;
  beforeAll(async () => {
    redis = await startRedis();
    bridge = await startUpstashBridge(redis.port);
  });
  afterAll(async () => {
    await bridge?.close();
    await redis?.stop();
  });
  return {
    get redis() {
      if (!redis) throw new Error('redis-server not started yet (read it inside a test)');
      return redis;
    },
    get bridge() {
      if (!bridge) throw new Error('the Upstash bridge is not started yet (read it inside a test)');
      return bridge;
    },
  };
}
