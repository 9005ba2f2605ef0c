/**
 * The group's randomness beacon over drand's HTTP API (docs/beacon.md; drand's v1 public API, as
 * drand-client 1.4.2 reads it): `GET /chains`, `/{chainhash}/info`, `/{chainhash}/public/latest`,
 * `/{chainhash}/public/{round}`, drand's `/health`, and `/info`, `/public/latest`, `/public/{round}` for
 * the default (the only) chain; and `GET /v1/beacon/shares/{round}`, where replicas fetch each other's
 * shares (beacon.ts). drand's `/health` is not the replica's `/v1/health`.
 *
 * Caching: a produced round never changes (immutable); a future round is 404 cached until it is due (at
 * most one period); `latest` until the next round is due. A group without keys.beacon answers 404
 * `no-beacon` on every beacon route.
 */
import type { Context } from 'hono';
import { toHex } from '../../shared/crypto/bytes.ts';
import { BEACON_SCHEME_ID } from '../../shared/crypto/beacon.ts';
import { beaconJson, chainInfoJson } from '../../shared/client/beacon.ts';
import type { BeaconService } from './beacon.ts';
import { fail } from './http.ts';
import { IMMUTABLE } from './openapi.ts';
import type { RouteParam, RouteSpec } from './openapi.ts';
import { coded, component } from './schema.ts';
import type { Schema } from './schema.ts';
import { ERROR_SCHEMA, HEX_BYTES, NAT, TEXT, exact, hex } from './api-schemas.ts';

const POSITIVE: Schema = { type: 'integer', minimum: 1, maximum: Number.MAX_SAFE_INTEGER };

export const DRAND_CHAIN_INFO_SCHEMA = component(
  'DrandChainInfo',
  exact({
    public_key: hex(96, 'the group beacon key, compressed G2'),
    period: POSITIVE,
    genesis_time: NAT,
    hash: hex(32, 'the chain hash (drand chain.Info.Hash)'),
    groupHash: hex(32, 'the group id'),
    schemeID: { type: 'string', const: BEACON_SCHEME_ID },
    metadata: exact({ beaconID: TEXT }),
  }),
);

export const DRAND_BEACON_SCHEMA = component(
  'DrandBeacon',
  exact({ round: POSITIVE, randomness: hex(32, 'SHA-256 of the signature'), signature: hex(48, 'BLS signature on SHA-256(round as u64 big-endian), compressed G1') }),
);

const HEALTH_BODY = { current: NAT, expected: NAT };

const chainParam: RouteParam = { name: 'chainhash', in: 'path', description: 'the chain hash (hex), as GET /chains lists it', schema: TEXT };
const roundParam: RouteParam = {
  name: 'round',
  in: 'path',
  description: 'a round number (0: the latest, as in drand)',
  schema: coded({ ...NAT }, 'bad-round', 'a round is a non-negative integer'),
};

const NO_BEACON = '404 no-beacon: the group has no beacon key (sintra deal --beacon)';

function noBeacon(c: Context): Response {
  return fail(c, 404, 'no-beacon', 'this group was dealt without a randomness beacon key (sintra deal --beacon), or this replica serves none');
}

/** An ISO time, or the number when it is past what Date holds. */
function when(ms: number): string {
  return Math.abs(ms) <= 8.64e15 ? new Date(ms).toISOString() : `${ms} ms after the epoch`;
}

export function beaconRoutes(beacon: BeaconService | null, now: () => number): RouteSpec[] {
  const hashHex = beacon ? toHex(beacon.chain.chainHash) : null;

  /** null when the chain hash is the group's, else the 404. */
  const unknownChain = (c: Context): Response | null => {
    const h = c.req.param('chainhash');
    return h === hashHex ? null : fail(c, 404, 'unknown-chain', `this group serves one chain, ${hashHex}; not ${h}`);
  };

  const answerRound = async (c: Context, b: BeaconService, round: number): Promise<Response> => {
    const a = await b.round(round);
    if (a.ok) {
      c.header('cache-control', IMMUTABLE);
      return c.json(beaconJson(a.round, a.signature));
    }
    if (a.code === 'round-not-due') {
      // A short lifetime: until the round is due, at most one period.
      const seconds = Math.max(1, Math.min(b.chain.period, Math.ceil(((a.dueAt ?? 0) - now()) / 1000)));
      c.header('cache-control', `public, max-age=${seconds}`);
      return fail(c, 404, a.code, `round ${round} is due at ${when(a.dueAt ?? 0)}`);
    }
    c.header('retry-after', '1');
    return fail(c, a.status, a.code, a.message);
  };

  const latest = async (c: Context, b: BeaconService): Promise<Response> => {
    const current = b.currentRound();
    if (current === 0) {
      c.header('cache-control', `public, max-age=${Math.max(1, Math.min(b.chain.period, Math.ceil((b.chain.genesisTime * 1000 - now()) / 1000)))}`);
      return fail(c, 404, 'round-not-due', `the chain starts at ${when(b.chain.genesisTime * 1000)}`);
    }
    let a = await b.round(current);
    if (!a.ok) {
      // The current round cannot be produced now (too few peers answer): the newest one this replica has.
      const stored = await b.latestStored();
      if (stored !== null) a = await b.round(stored);
    }
    if (!a.ok) {
      c.header('retry-after', '1');
      return fail(c, a.status, a.code, a.message);
    }
    const next = b.dueAt(a.round + 1);
    c.header('cache-control', `public, max-age=${Math.max(1, Math.min(b.chain.period, Math.ceil((next - now()) / 1000)))}`);
    return c.json(beaconJson(a.round, a.signature));
  };

  const byRound = async (c: Context, round: number): Promise<Response> => {
    if (!beacon) return noBeacon(c);
    return round === 0 ? latest(c, beacon) : answerRound(c, beacon, round);
  };

  const infoResponses = { '200': { description: "the chain's parameters", schema: DRAND_CHAIN_INFO_SCHEMA }, '404': `${NO_BEACON}; unknown-chain` };
  const roundResponses = {
    '200': { description: 'the round (immutable)', schema: DRAND_BEACON_SCHEMA },
    '400': 'bad-round',
    '404': `${NO_BEACON}; unknown-chain; round-not-due (a future round: cached until it is due)`,
    '503': 'beacon-unavailable: too few replicas answered with valid shares (retry-after)',
  };
  const latestResponses = {
    '200': { description: 'the newest round (cached until the next one is due)', schema: DRAND_BEACON_SCHEMA },
    '404': `${NO_BEACON}; unknown-chain; round-not-due (before the genesis time)`,
    '503': 'beacon-unavailable: too few replicas answered with valid shares (retry-after)',
  };
  const INFO_CACHE = 'public, max-age=300';

  return [
    {
      method: 'get',
      path: '/v1/beacon/shares/{round}',
      operationId: 'beaconShare',
      tag: 'peers',
      summary: "Replica to replica: this replica's share of a beacon round, released only once the round is due by its clock",
      description: 'Shares are publicly verifiable against keys.beacon.rowKeys, so they carry no link MAC (docs/beacon.md).',
      params: [{ ...roundParam, description: 'the round (1 or more)', schema: coded({ ...POSITIVE }, 'bad-round', 'a round is a positive integer') }],
      responses: {
        '200': { description: 'the share (threshold-bls.ts encodeSignatureShare, hex)', schema: exact({ round: POSITIVE, replica: NAT, share: HEX_BYTES }) },
        '400': 'bad-round',
        '404': `${NO_BEACON}; round-not-due`,
      },
      cache: IMMUTABLE,
      handler: (c, input) => {
        if (!beacon) return noBeacon(c);
        const round = input.int('round')!;
        const s = beacon.ownShare(round);
        if (!s) return fail(c, 404, 'round-not-due', `round ${round} is due at ${when(beacon.dueAt(round))} (by this replica's clock)`);
        return c.json(s);
      },
    },
    {
      method: 'get',
      path: '/chains',
      operationId: 'drandChains',
      tag: 'beacon',
      summary: 'drand: the chain hashes served here (one: the group beacon chain)',
      responses: { '200': { description: 'the chain hashes', schema: { type: 'array', items: hex(32) } }, '404': NO_BEACON },
      cache: INFO_CACHE,
      handler: (c) => (beacon ? c.json([hashHex]) : noBeacon(c)),
    },
    {
      method: 'get',
      path: '/health',
      operationId: 'drandHealth',
      tag: 'beacon',
      summary: "drand: the newest round this replica has (it tries to produce the current one first) and the round due now; 200 when at most one behind (not the replica's /v1/health)",
      responses: {
        '200': { description: 'producing rounds', schema: exact(HEALTH_BODY) },
        '404': NO_BEACON,
        '503': { description: 'more than one round behind: beacon-unavailable', schema: { allOf: [ERROR_SCHEMA, { type: 'object', required: ['current', 'expected'], properties: HEALTH_BODY }] } },
      },
      cache: 'no-store',
      handler: async (c) => {
        if (!beacon) return noBeacon(c);
        const expected = beacon.currentRound();
        if (expected > 0) await beacon.round(expected);
        const current = (await beacon.latestStored()) ?? 0;
        if (current + 1 >= expected) return c.json({ current, expected });
        c.header('retry-after', '1');
        return c.json({ current, expected, error: { code: 'beacon-unavailable', message: `round ${expected} is due and the newest this replica has is ${current}` } }, 503);
      },
    },
    {
      method: 'get',
      path: '/info',
      operationId: 'drandInfo',
      tag: 'beacon',
      summary: 'drand: the default chain\'s parameters (public key, period, genesis time, chain hash, scheme, beacon id)',
      responses: infoResponses,
      cache: INFO_CACHE,
      handler: (c) => (beacon ? c.json(chainInfoJson(beacon.chain)) : noBeacon(c)),
    },
    {
      method: 'get',
      path: '/public/latest',
      operationId: 'drandLatest',
      tag: 'beacon',
      summary: 'drand: the newest round of the default chain',
      responses: latestResponses,
      handler: (c) => (beacon ? latest(c, beacon) : noBeacon(c)),
    },
    {
      method: 'get',
      path: '/public/{round}',
      operationId: 'drandRound',
      tag: 'beacon',
      summary: 'drand: a round of the default chain',
      params: [roundParam],
      responses: roundResponses,
      handler: (c, input) => byRound(c, input.int('round')!),
    },
    {
      method: 'get',
      path: '/{chainhash}/info',
      operationId: 'drandChainInfo',
      tag: 'beacon',
      summary: "drand: a chain's parameters",
      params: [chainParam],
      responses: infoResponses,
      cache: INFO_CACHE,
      handler: (c) => (beacon ? (unknownChain(c) ?? c.json(chainInfoJson(beacon.chain))) : noBeacon(c)),
    },
    {
      method: 'get',
      path: '/{chainhash}/public/latest',
      operationId: 'drandChainLatest',
      tag: 'beacon',
      summary: "drand: a chain's newest round",
      params: [chainParam],
      responses: latestResponses,
      handler: (c) => (beacon ? (unknownChain(c) ?? latest(c, beacon)) : noBeacon(c)),
    },
    {
      method: 'get',
      path: '/{chainhash}/public/{round}',
      operationId: 'drandChainRound',
      tag: 'beacon',
      summary: "drand: a round of a chain",
      params: [chainParam, roundParam],
      responses: roundResponses,
      handler: (c, input) => (beacon ? (unknownChain(c) ?? byRound(c, input.int('round')!)) : noBeacon(c)),
    },
  ];
}
