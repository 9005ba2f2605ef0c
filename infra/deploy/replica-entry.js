/**
 * Entry module of a replica Worker configured by `sintra deploy-config` (infra/deploy/wrangler-config.ts),
 * used instead of workers/cloudflare/worker.ts when that file cannot be deployed as is:
 *
 * - group.json too large for one Workers variable (5 KB; n >= 7 or general structures): the group text is
 *   bundled as a module. `sintra-deploy-group` is a wrangler `alias` to the generated group.js, whose default
 *   export is the group's JSON text, or null when the config passes it in the SINTRA_GROUP variable.
 * - a Durable Object location hint or jurisdiction (vars SINTRA_DO_LOCATION_HINT, SINTRA_DO_JURISDICTION):
 *   both are arguments of the namespace calls in code, not wrangler settings.
 *
 * It only wraps: the routing and the replica stay those of workers/cloudflare. Plain JavaScript because the
 * root tsconfig type-checks infra/ for Node, and workers/cloudflare needs the Workers types.
 */
import worker, { ReplicaObject as Replica } from '../../workers/cloudflare/worker.ts';
import BUNDLED_GROUP from 'sintra-deploy-group';

/** An explicit SINTRA_GROUP variable wins over the bundled text, so a config can still override it. */
function withGroup(env) {
  if (typeof env.SINTRA_GROUP === 'string' && env.SINTRA_GROUP !== '') return env;
  if (typeof BUNDLED_GROUP !== 'string') return env;
  // The prototype keeps every other binding visible without copying (bindings need not be enumerable).
  return Object.create(env, { SINTRA_GROUP: { value: BUNDLED_GROUP, enumerable: true } });
}

/**
 * The REPLICA namespace as worker.ts sees it. A jurisdiction is part of the object's id (a different id than
 * without it, so it must never change after the first deploy: the replica would start again on empty state
 * with the same keys). A location hint only matters when the object is first created.
 */
function withPlacement(env) {
  const hint = env.SINTRA_DO_LOCATION_HINT || undefined;
  const jurisdiction = env.SINTRA_DO_JURISDICTION || undefined;
  if (!hint && !jurisdiction) return env;
  const ns = jurisdiction ? env.REPLICA.jurisdiction(jurisdiction) : env.REPLICA;
  const options = (o) => (hint ? { locationHint: hint, ...o } : o);
  // Native namespace methods check their receiver, so delegate with closures rather than a prototype.
  const replica = {
    idFromName: (name) => ns.idFromName(name),
    idFromString: (id) => ns.idFromString(id),
    newUniqueId: (o) => ns.newUniqueId(o),
    get: (id, o) => ns.get(id, options(o)),
    getByName: (name, o) => ns.get(ns.idFromName(name), options(o)),
    jurisdiction: (j) => ns.jurisdiction(j),
  };
  return Object.create(env, { REPLICA: { value: replica, enumerable: true } });
}

/** Same class name as in worker.ts: Durable Object storage belongs to the exported name, so state carries over. */
export class ReplicaObject extends Replica {
  constructor(ctx, env) {
    super(ctx, withGroup(env));
  }
}

export default {
  ...worker,
  fetch(request, env, ctx) {
    return worker.fetch(request, withPlacement(env), ctx);
  },
};
