/**
 * AWS Lambda entry of a replica (issue 5): the same app as every other runtime through hono's aws-lambda
 * adapter (function URL or API Gateway HTTP API events), state in Upstash Redis (RedisStore), configuration
 * from the environment as for a Node replica (config.ts: SINTRA_GROUP or SINTRA_GROUP_FILE, the secrets,
 * SINTRA_PEERS, UPSTASH_REDIS_REST_URL / _TOKEN).
 *
 *   handler  one HTTP request per invocation. Nothing runs between invocations (the environment is frozen
 *            once the handler returns), so the invocation waits up to SINTRA_FLUSH_BUDGET_MS (default 3000,
 *            and never past the function's own deadline) for the outbox flush its change started.
 *   tick     for a schedule (EventBridge): retransmits what is due, repeating while retries fall due
 *            within SINTRA_TICK_BUDGET_MS (default 20000). The schedule must invoke the SAME function as
 *            the HTTP requests (its handler dispatching by event kind), not a second one: a second function
 *            would be a second process on the replica's state.
 *
 * The function must run one instance at a time (reserved concurrency 1): two instances would be two
 * processes on one replica's state; RedisStore detects that and stops the replica for good rather than
 * let it equivocate (redis-store.ts).
 */
import { handle } from 'hono/aws-lambda';
import type { APIGatewayProxyResult, LambdaContext, LambdaEvent } from 'hono/aws-lambda';
import { ConfigError } from '../../shared/config/group.ts';
import { errorBody } from '../core/http.ts';
import { accessLogOption } from '../core/log.ts';
import { healthStallOption } from '../core/health.ts';
import { admission, clientRate, corsOrigins, loadGroup, loadSecrets, openStore, parsePeers, storeSpecFromEnv } from './config.ts';
import type { Env } from './config.ts';
import type { RedisStore } from './redis-store.ts';
import { hostEnvOptions } from '../core/host.ts';
import { NodeReplica } from './replica.ts';

export interface LambdaHandlers {
  handler(event: LambdaEvent, context?: LambdaContext): Promise<APIGatewayProxyResult>;
  tick(event?: unknown, context?: LambdaContext): Promise<{ ok: boolean; outbox?: number[]; nextRetryAt?: number | null; error?: string }>;
  /** The replica once configured (tests). */
  replica(): Promise<NodeReplica>;
}

function positive(env: Env, name: string, fallback: number): number {
  const v = env[name];
  if (v === undefined) return fallback;
  const n = Number(v);
  if (!Number.isFinite(n) || n < 0) throw new ConfigError(name, 'expected a number of milliseconds');
  return n;
}

export function createLambdaHandlers(env: Env, log: (line: string) => void = (line) => console.log(line)): LambdaHandlers {
  type Built = { replica: NodeReplica; http: ReturnType<typeof handle>; store: RedisStore };
  let built: Promise<Built> | null = null;

  /**
   * The replica of this instance, rebuilt from storage when another instance has written since (the
   * platform may alternate between instances even with one at a time): an outdated engine must not act.
   */
  const current = async (): Promise<Built> => {
    const b = await build();
    const fresh = await b.store.current().catch(() => true); // unreachable storage: the 503 path answers
    if (fresh) return b;
    log(`replica state changed in storage since this instance last saw it: reloading`);
    await b.replica.close();
    built = null;
    return build();
  };

  const build = () =>
    (built ??= (async () => {
      const group = loadGroup(env);
      const secrets = loadSecrets(env, group);
      const peers = parsePeers(env['SINTRA_PEERS'], group, secrets.index);
      const spec = storeSpecFromEnv(env);
      if (spec.kind !== 'redis') throw new ConfigError('UPSTASH_REDIS_REST_URL', 'a Lambda replica keeps its state in Upstash Redis: set UPSTASH_REDIS_REST_URL and UPSTASH_REDIS_REST_TOKEN');
      const store = (await openStore(spec, group, secrets, log)) as RedisStore;
      const replica = new NodeReplica({
        group,
        secrets,
        store,
        peers,
        timers: false,
        clientRate: clientRate(env),
        admission: admission(env),
        corsOrigins: corsOrigins(env),
        host: hostEnvOptions(env),
        postTimeoutMs: positive(env, 'SINTRA_POST_TIMEOUT_MS', 10_000),
        accessLog: accessLogOption(env['SINTRA_ACCESS_LOG']),
        ...healthStallOption(env['SINTRA_HEALTH_STALL_SECONDS']),
        log,
      });
      return { replica, http: handle(replica.app), store };
    })().catch((e: unknown) => {
      // Configuration is read again on the next invocation (an operator may be fixing it).
      built = null;
      throw e;
    }));

  const budget = (configured: number, context?: LambdaContext) => {
    const left = context?.getRemainingTimeInMillis ? context.getRemainingTimeInMillis() - 500 : configured;
    return Math.max(0, Math.min(configured, left));
  };

  return {
    async handler(event, context) {
      let r: Built;
      try {
        r = await current();
      } catch (e) {
        const message = e instanceof Error ? e.message : String(e);
        log(`replica misconfigured: ${message}`);
        return { statusCode: 503, headers: { 'content-type': 'application/json' }, body: JSON.stringify(errorBody('misconfigured', message)), isBase64Encoded: false };
      }
      const res = await r.http(event, context);
      await r.replica.idle(budget(positive(env, 'SINTRA_FLUSH_BUDGET_MS', 3000), context));
      return res;
    },

    async tick(_event, context) {
      try {
        const { replica } = await current();
        const { outbox, nextRetryAt } = await replica.tick(budget(positive(env, 'SINTRA_TICK_BUDGET_MS', 20_000), context));
        return { ok: true, outbox, nextRetryAt };
      } catch (e) {
        const error = e instanceof Error ? e.message : String(e);
        log(`tick failed: ${error}`);
        return { ok: false, error };
      }
    },

    replica: async () => (await build()).replica,
  };
}

let fromProcessEnv: LambdaHandlers | null = null;
const handlers = () => (fromProcessEnv ??= createLambdaHandlers(process.env));

/** The Lambda function's handler for HTTP events (function URL or API Gateway). */
export const handler = (event: LambdaEvent, context?: LambdaContext): Promise<APIGatewayProxyResult> => handlers().handler(event, context);

/** The handler for a schedule (EventBridge rule, e.g. rate(1 minute)). */
export const tick = (event?: unknown, context?: LambdaContext) => handlers().tick(event, context);
