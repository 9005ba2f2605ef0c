/**
 * The Worker of one replica: every request goes to its single Durable Object, which is the replica.
 */
import type { ReplicaEnv } from './replica-object.ts';

export { ReplicaObject } from './replica-object.ts';

export default {
  async fetch(request: Request, env: ReplicaEnv): Promise<Response> {
    const stub = env.REPLICA.get(env.REPLICA.idFromName('replica'));
    return stub.fetch(request);
  },
} satisfies ExportedHandler<ReplicaEnv>;
