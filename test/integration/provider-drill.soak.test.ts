/**
 * A whole-provider drill (issue 14): a group of 7 whose adversary structure is "any one provider" (2
 * replicas on "cloudflare" as Durable Objects in Miniflare, 2 on "vm" as Node replicas on files, 2 on "gcp"
 * as Node replicas on their own real redis-servers, 1 on "hetzner" on files). While clients keep sending,
 * every replica of one provider is killed and its storage wiped (the Redis data deleted). The others keep
 * certifying; the wiped replicas, started again without SINTRA_BOOTSTRAP as an operator would, find out
 * from their peers that they lost state, stay passive past every epoch they may have spoken in, take the
 * state by transfer and certify new requests with the others (shared/replica/rejoin.ts).
 *
 * Slow (a minute or more of real threshold crypto for 7 replicas): in `npm run test:soak`.
 */
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { waitUntilReady } from '../../infra/cluster/local-cluster.ts';
import { startMixedCluster } from '../../infra/cluster/mixed-cluster.ts';
import type { MixedCluster } from '../../infra/cluster/mixed-cluster.ts';
import { parseGroup } from '../../shared/config/group.ts';
import { checkpointFromJson, receiptFromJson, verifyCheckpoint, verifyReceipt } from '../../shared/log/checkpoint.ts';
import { getJson, http, sleep, waitFor } from '../helpers/http.ts';
import { freePortRange } from '../helpers/ports.ts';
import { HAVE_REDIS, REDIS_SKIP_MESSAGE, startRedis } from '../helpers/redis.ts';
import type { TestRedis } from '../helpers/redis.ts';
import { startUpstashBridge } from '../helpers/upstash-bridge.ts';
import type { UpstashBridge } from '../helpers/upstash-bridge.ts';

const PROVIDERS = ['cloudflare', 'cloudflare', 'vm', 'vm', 'gcp', 'gcp', 'hetzner'];
const GCP = [4, 5];
const SURVIVORS = [0, 1, 2, 3, 6];

async function post(url: string, text: string): Promise<number> {
  const res = await http(`${url}/v1/requests`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ text }) });
  await res.body?.cancel();
  return res.status;
}

describe.skipIf(!HAVE_REDIS)('whole-provider drill: one provider killed and wiped under load, the others go on, the lost ones rejoin', () => {
  let dataDir: string;
  let redis: TestRedis[] = [];
  let bridges: UpstashBridge[] = [];
  let cluster: MixedCluster;

  beforeAll(async () => {
    dataDir = mkdtempSync(join(tmpdir(), 'sintra-drill-'));
    const structure = join(dataDir, 'structure.json');
    writeFileSync(
      structure,
      JSON.stringify({ replicas: PROVIDERS.map((provider, i) => ({ id: `p${i + 1}`, attributes: { provider } })), adversary: { attributes: { provider: 1 }, plus: 0 } }),
    );
    redis = [await startRedis(), await startRedis()];
    bridges = await Promise.all(redis.map((r) => startUpstashBridge(r.port)));
    cluster = await startMixedCluster({
      dataDir: join(dataDir, 'cluster'),
      structure,
      basePort: await freePortRange(7),
      nodeIndices: [2, 3, 4, 5, 6],
      nodeStore: (i) => (GCP.includes(i) ? { kind: 'redis', url: bridges[i - 4]!.url, token: bridges[i - 4]!.token } : { kind: 'file' }),
    });
    await waitUntilReady(cluster.urls, 90_000);
  }, 240_000);

  afterAll(async () => {
    await cluster?.dispose();
    for (const b of bridges) await b.close();
    for (const r of redis) await r.stop();
    if (dataDir) rmSync(dataDir, { recursive: true, force: true });
  });

  it('the survivors keep certifying while the provider is down; its wiped replicas rejoin by themselves', async () => {
    const group = parseGroup(JSON.parse(readFileSync(cluster.groupPath, 'utf8')));
    const urls = cluster.urls;
    let sent = 0;
    let load = true;
    // Clients: one request every 150 ms to a survivor (any one replica of another provider forwards it).
    const clients = (async () => {
      while (load) {
        const status = await post(urls[SURVIVORS[sent % SURVIVORS.length]!]!, `drill ${sent}`).catch(() => 0);
        if (status === 202 || status === 200) sent++;
        await sleep(150);
      }
    })();
    const checkpointAt = async (i: number) => (await getJson(urls[i]!, '/v1/log/checkpoint')).json as { size: number; epoch: number };
    try {
      await waitFor(async () => ((await checkpointAt(0).catch(() => null))?.size ?? 0) >= 5 || null, 'a first checkpoint', 120_000, 500);

      // The whole provider goes: processes killed, storage wiped.
      for (const i of GCP) await cluster.kill(i);
      for (const r of redis) {
        await r.kill();
        for (const f of readdirSync(r.dir)) rmSync(join(r.dir, f), { recursive: true, force: true });
        await r.restart();
      }
      const atLoss = await checkpointAt(0);
      // The others keep certifying without them (the structure tolerates one provider).
      await waitFor(async () => ((await checkpointAt(0)).epoch >= atLoss.epoch + 5 ? true : null), 'five more epochs without the provider', 180_000, 500);

      // Started again on empty storage, as an operator would (no SINTRA_BOOTSTRAP).
      for (const i of GCP) await cluster.start(i, { bootstrap: false });
      const modes = async () => Promise.all(GCP.map(async (i) => (await getJson(urls[i]!, '/v1/metrics')).json as { mode: string; rejoins: number; rejoin: { passiveUntil: number | null } | null }));
      // They find out (their peers hold link state with them) and wait, passive, for their bound.
      await waitFor(async () => ((await modes()).every((m) => m.mode === 'lost-state' || m.rejoins > 0) ? true : null), 'the wiped replicas to find out', 120_000, 500);
      // Then they rejoin: active again, from a signed checkpoint past the bound.
      const rejoined = await waitFor(async () => {
        const m = await modes();
        return m.every((x) => x.mode === 'active' && x.rejoins === 1) ? m : null;
      }, 'the wiped replicas to rejoin', 300_000, 1000).catch(async (e: unknown) => {
        const m = await modes().catch(() => []);
        const cp = await checkpointAt(0).catch(() => null);
        throw new Error(`${String(e)}: ${JSON.stringify(m.map((x) => ({ mode: x.mode, rejoins: x.rejoins, rejoin: x.rejoin })))}, group checkpoint ${JSON.stringify(cp)}; logs: ${GCP.map((i) => cluster.logTail(i).slice(-12).join('\n')).join('\n---\n')}`);
      });
      expect(rejoined.length).toBe(2);
    } finally {
      load = false;
      await clients;
    }

    // A new request is certified at every replica, the wiped ones included, with the same checkpoint.
    const last = await post(urls[4]!, 'after the drill');
    expect([200, 202]).toContain(last);
    const id = ((await (await http(`${urls[0]}/v1/requests`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ text: 'after the drill' }) })).json()) as { id: string }).id;
    const statuses = await waitFor(async () => {
      const s = await Promise.all(urls.map((u) => getJson(u, `/v1/requests/${id}`)));
      return s.every((x) => x.json.status === 'certified') ? s : null;
    }, 'the last request certified everywhere', 180_000, 500);
    expect(new Set(statuses.map((x) => JSON.stringify(x.json.checkpoint))).size).toBe(1);
    const cp = checkpointFromJson(statuses[0]!.json.checkpoint);
    expect(verifyCheckpoint(group.kernel.groupKey, group.groupId, cp)).toBe(true);
    for (const i of GCP) {
      const rec = await getJson(urls[i]!, `/v1/receipts/${id}`);
      expect(rec.status).toBe(200);
      expect(verifyReceipt(group.kernel.groupKey, group.groupId, receiptFromJson(rec.json).receipt)).toEqual({ ok: true });
    }
    expect(sent).toBeGreaterThan(20);
    // Nobody blamed anybody: wiping is not misbehaviour, and the rejoined replicas said nothing twice.
    for (const i of SURVIVORS) {
      const m = (await getJson(urls[i]!, '/v1/metrics')).json as { engine: { faultsByPeer: Record<string, number> } };
      expect(m.engine.faultsByPeer, `replica ${i}`).toEqual({});
    }
  }, 900_000);
});

if (!HAVE_REDIS) describe('whole-provider drill', () => it.skip(REDIS_SKIP_MESSAGE, () => undefined));
