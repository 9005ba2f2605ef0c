/**
 * The beacon service and drand's routes (workers/core/beacon.ts, beacon-routes.ts) on four in-memory
 * replicas whose share requests go to each other's apps, on one fake clock: drand-client 1.4.2 (fetch
 * routed into the apps) verifies rounds from every replica; a replica releases no share before the round
 * is due; rounds are stored and then served without asking peers; caching headers; a Byzantine replica
 * serving bad shares is recorded as faulty and changes nothing; the SQLite beacon table.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Hono } from 'hono';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { HttpCachingChain, HttpChainClient, fetchBeacon } from 'drand-client';
import { toHex } from '../../shared/crypto/bytes.ts';
import { beaconShare, combineBeacon } from '../../shared/crypto/beacon.ts';
import { encodeSignatureShare } from '../../shared/crypto/threshold-bls.ts';
import { G1 } from '../../shared/crypto/curve.ts';
import { BeaconService } from '../../workers/core/beacon.ts';
import { beaconRoutes } from '../../workers/core/beacon-routes.ts';
import { MemoryBeaconStore } from '../../workers/core/beacon-store.ts';
import { registerRoutes } from '../../workers/core/openapi.ts';
import { SqliteStore } from '../../workers/node/sqlite-store.ts';
import { testBeaconGroup } from '../helpers/group.ts';

const GENESIS = 1767225600;
const PERIOD = 3;

type Misbehaviour = (round: number, honest: { round: number; replica: number; share: string }) => unknown;

function beaconCluster(byzantine: Map<number, Misbehaviour> = new Map()) {
  const { group, secrets } = testBeaconGroup(4, 1, 'beacon-routes', { period: PERIOD, genesisTime: GENESIS });
  let clock = GENESIS * 1000 - 1;
  const now = () => clock;
  const stores = secrets.map(() => new MemoryBeaconStore());
  const apps: Hono[] = [];
  let asked = 0;
  const services = secrets.map(
    (s, i) =>
      new BeaconService({
        group,
        me: i,
        replicaId: s.id,
        share: s.beacon!,
        store: stores[i]!,
        now,
        gatherTimeoutMs: 2000,
        get: async (to, path) => {
          asked++;
          const res = await apps[to]!.request(path);
          const body = (await res.json()) as { round: number; replica: number; share: string };
          const bad = byzantine.get(to);
          if (bad && res.status === 200) return { status: 200, body: bad(body.round, body) };
          return { status: res.status, body };
        },
      }),
  );
  for (const svc of services) {
    const app = new Hono();
    registerRoutes(app, beaconRoutes(svc, now));
    apps.push(app);
  }
  return { group, secrets, services, stores, apps, advance: (ms: number) => void (clock += ms), asked: () => asked };
}

/** drand-client's fetch, routed into replica i's app. */
function drandFetch(app: Hono) {
  return async (url: string | URL) => app.request(new URL(String(url)).pathname + new URL(String(url)).search);
}

afterEach(() => vi.unstubAllGlobals());

describe('beacon routes on four in-memory replicas', () => {
  it('releases nothing before a round is due; then every replica serves the same rounds, which drand-client verifies', async () => {
    const c = beaconCluster();
    const hash = toHex(c.group.beacon!.chainHash);
    // Before the genesis time: no round, no share.
    const early = await c.apps[0]!.request('/public/latest');
    expect(early.status).toBe(404);
    expect(((await early.json()) as any).error.code).toBe('round-not-due');
    expect((await c.apps[1]!.request('/v1/beacon/shares/1')).status).toBe(404);
    c.advance(1);
    expect((await c.apps[1]!.request('/v1/beacon/shares/1')).status).toBe(200);
    expect((await c.apps[1]!.request('/v1/beacon/shares/2')).status).toBe(404);
    c.advance(PERIOD * 1000 * 4 + 10); // round 5 is due
    vi.useFakeTimers({ toFake: ['Date'], now: GENESIS * 1000 + PERIOD * 1000 * 4 + 20 });
    try {
      const answers = new Map<number, string>();
      for (const [i, app] of c.apps.entries()) {
        vi.stubGlobal('fetch', drandFetch(app));
        const chain = new HttpCachingChain(`http://replica-${i}/${hash}`, { disableBeaconVerification: false, noCache: false, chainVerificationParams: { chainHash: hash, publicKey: c.group.file.keys.beacon!.groupKey } });
        const client = new HttpChainClient(chain, { disableBeaconVerification: false, noCache: false });
        for (const round of [1, 2, 3]) {
          const b = await fetchBeacon(client, round);
          expect(b.round).toBe(round);
          if (answers.has(round)) expect(b.signature).toBe(answers.get(round));
          answers.set(round, b.signature);
        }
        expect((await fetchBeacon(client)).round).toBe(5); // latest, by drand-client's clock
        // The un-prefixed default chain too.
        const plain = new HttpChainClient(new HttpCachingChain(`http://replica-${i}`), { disableBeaconVerification: false, noCache: true });
        expect((await fetchBeacon(plain, 2)).signature).toBe(answers.get(2));
      }
    } finally {
      vi.useRealTimers();
    }
    // The rounds are the unique signatures any qualified set gives.
    const expected = combineBeacon(c.group.beacon!.key, 2, [beaconShare(c.secrets[2]!.beacon!, 2), beaconShare(c.secrets[3]!.beacon!, 2)]);
    const r2 = (await (await c.apps[3]!.request(`/${hash}/public/2`)).json()) as { signature: string };
    expect(r2.signature).toBe(toHex(expected.signature));
  });

  it('produceDue (the timers): nothing before the genesis, then the round due now, stored, and when the next is due', async () => {
    const c = beaconCluster();
    expect(await c.services[0]!.produceDue()).toEqual({ round: 0, ok: true, nextAt: GENESIS * 1000 });
    expect(c.asked()).toBe(0);
    c.advance(1 + PERIOD * 1000); // round 2 due
    const r = await c.services[1]!.produceDue();
    expect(r).toEqual({ round: 2, ok: true, nextAt: (GENESIS + 2 * PERIOD) * 1000 });
    expect(await c.stores[1]!.get(2)).not.toBeNull();
    expect(await c.stores[1]!.get(1)).toBeNull(); // a round nobody produced in time waits to be asked for
    expect(c.services[1]!.newestProduced).toBe(2);
    // Again in the same period: stored, no peer asked.
    const before = c.asked();
    expect((await c.services[1]!.produceDue()).round).toBe(2);
    expect(c.asked()).toBe(before);
  });

  it('stores rounds: a produced round is served again without asking the peers; caching headers', async () => {
    const c = beaconCluster();
    c.advance(1 + PERIOD * 1000 * 2); // round 3 due
    const first = await c.apps[0]!.request('/public/2');
    expect(first.status).toBe(200);
    expect(first.headers.get('cache-control')).toBe('public, max-age=31536000, immutable');
    const before = c.asked();
    expect((await c.apps[0]!.request('/public/2')).status).toBe(200);
    expect(c.asked()).toBe(before);
    expect(await c.stores[0]!.get(2)).not.toBeNull();
    // A future round: 404 with a short lifetime; latest: until the next round.
    const future = await c.apps[0]!.request('/public/4');
    expect(future.status).toBe(404);
    expect(future.headers.get('cache-control')).toMatch(/^public, max-age=[1-3]$/);
    const latest = await c.apps[0]!.request('/public/latest');
    expect(((await latest.json()) as { round: number }).round).toBe(3);
    expect(latest.headers.get('cache-control')).toMatch(/^public, max-age=[1-3]$/);
    // Round 0 is the latest, as in drand.
    expect(((await (await c.apps[0]!.request('/public/0')).json()) as { round: number }).round).toBe(3);
    // drand's info, chains and health; an unknown chain and a bad round.
    const info = (await (await c.apps[1]!.request('/info')).json()) as Record<string, unknown>;
    expect(info).toMatchObject({ period: PERIOD, genesis_time: GENESIS, schemeID: 'bls-unchained-g1-rfc9380', hash: toHex(c.group.beacon!.chainHash) });
    expect(await (await c.apps[1]!.request('/chains')).json()).toEqual([toHex(c.group.beacon!.chainHash)]);
    const health = await c.apps[2]!.request('/health');
    expect(health.status).toBe(200);
    expect(await health.json()).toEqual({ current: 3, expected: 3 });
    expect((await c.apps[1]!.request(`/${'ab'.repeat(32)}/info`)).status).toBe(404);
    expect((await c.apps[1]!.request('/public/-1')).status).toBe(400);
  });

  it('a Byzantine replica serving bad shares is recorded as faulty and neither stops nor changes the beacon', async () => {
    const honest = beaconCluster();
    honest.advance(1 + PERIOD * 1000 * 5);
    const rounds = [1, 2, 3, 4, 5, 6];
    const expected = new Map<number, string>();
    for (const r of rounds) expected.set(r, ((await (await honest.apps[1]!.request(`/public/${r}`)).json()) as { signature: string }).signature);

    // Replica 3 answers each round differently wrong: another round's share, a point not its share, garbage,
    // another replica's share, nothing parseable, a share of the right form signed for the wrong message.
    const other = (round: number) => toHex(encodeSignatureShare(beaconShare(honest.secrets[3]!.beacon!, round + 1)));
    const misbehaviours: Misbehaviour[] = [
      (round, h) => ({ ...h, share: other(round) }),
      (round, h) => ({ ...h, share: toHex(encodeSignatureShare({ signer: 3, points: [G1.BASE.multiply(BigInt(round) + 5n)] })) }),
      (_round, h) => ({ ...h, share: 'zz' }),
      (round, h) => ({ ...h, replica: 2, share: toHex(encodeSignatureShare(beaconShare(honest.secrets[2]!.beacon!, round))) }),
      () => 'not an object',
      (round, h) => ({ ...h, round: round + 1 }),
    ];
    const c = beaconCluster(new Map([[3, (round, h) => misbehaviours[(round - 1) % misbehaviours.length]!(round, h)]]));
    c.advance(1 + PERIOD * 1000 * 5);
    for (const r of rounds) {
      // Ask replica 0 first with replicas 1 and 2 "slow" is not needed: every replica combines from valid shares only.
      for (const i of [0, 1, 2]) {
        const res = await c.apps[i]!.request(`/public/${r}`);
        expect(res.status, `replica ${i} round ${r}`).toBe(200);
        expect(((await res.json()) as { signature: string }).signature).toBe(expected.get(r));
      }
    }
    const faults = c.services.flatMap((s) => s.faults());
    expect(faults.length).toBeGreaterThan(0);
    expect(new Set(faults.map((f) => f.replica))).toEqual(new Set([3]));
    expect(faults.map((f) => f.reason).join('\n')).toMatch(/does not verify/);
  });

  it('a replica that cannot reach a qualified set answers 503 and keeps no round', async () => {
    const c = beaconCluster(new Map([[1, () => 'x'], [2, () => 'y'], [3, () => 'z']]));
    c.advance(1);
    const res = await c.apps[0]!.request('/public/1');
    expect(res.status).toBe(503);
    expect(((await res.json()) as any).error.code).toBe('beacon-unavailable');
    expect(await c.stores[0]!.get(1)).toBeNull();
  });
});

describe('SQLite beacon table (Durable Object and Node data folder)', () => {
  it('stores, reads back and reports the newest round, beside the engine tables', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'sintra-beacon-'));
    try {
      const store = await SqliteStore.open(dir);
      const b = store.beacons();
      expect(await b.latest()).toBeNull();
      await b.put(7, new Uint8Array(48).fill(7));
      await b.put(3, new Uint8Array(48).fill(3));
      expect(await b.get(7)).toEqual(new Uint8Array(48).fill(7));
      expect(await b.get(4)).toBeNull();
      expect(await b.latest()).toBe(7);
      expect((await store.load()).journal).toEqual([]);
      await store.close();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
