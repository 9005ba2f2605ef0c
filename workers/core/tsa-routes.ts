/**
 * The group's RFC 3161 time-stamping authority over HTTP (RFC 3161 section 3.4; workers/core/tsa.ts):
 *
 *   POST /v1/tsa                   application/timestamp-query -> application/timestamp-reply
 *   GET  /v1/tsa/replies/{index}   the reply for the query at a log position (the same bytes again)
 *   GET  /v1/tsa/shares/{index}    replica to replica: this replica's RSA share for that token
 *
 * A query is checked here (a bad one is answered at once with a TimeStampResp of status rejection and the
 * failInfo bit that says why: RFC 3161 section 2.4.2), then ordered as a log entry; the answer waits until
 * it has a position and a qualified set of RSA shares. The same query POSTed again (a retry after a 503)
 * is the same log entry, so it gets the same position, time and token.
 */
import type { Context, MiddlewareHandler } from 'hono';
import { timeStampFailureReply } from '../../shared/crypto/tsp.ts';
import { MAX_QUERY_BYTES, parseTimeStampQuery } from '../../shared/crypto/tsp-query.ts';
import type { ReplicaHost } from './host.ts';
import { fail, pollUntil } from './http.ts';
import type { RouteSpec } from './openapi.ts';
import { IMMUTABLE } from './openapi.ts';
import { coded } from './schema.ts';
import { BINARY, NAT, WRITE_ERRORS, exact } from './api-schemas.ts';
import type { TsaService } from './tsa.ts';

export const TIMESTAMP_QUERY_TYPE = 'application/timestamp-query';
export const TIMESTAMP_REPLY_TYPE = 'application/timestamp-reply';

/** How long POST /v1/tsa waits for the query's position in the order before answering 503 (retry). */
export const TSA_ORDER_WAIT_MS = 20_000;
const POLL_MS = 50;

export interface TsaRouteDeps {
  readonly clientLimit: MiddlewareHandler;
  readonly rateLimited: (c: Context) => Response | null;
  readonly afterChange: () => void;
  readonly service: TsaService | null;
  readonly now: () => number;
}

function der(c: Context, bytes: Uint8Array, status: 200 | 503 = 200): Response {
  return c.body(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength) as ArrayBuffer, status, { 'content-type': TIMESTAMP_REPLY_TYPE });
}

const INDEX_PARAM = { name: 'index', in: 'path' as const, description: "the query's log position (the token's serial number)", schema: coded({ ...NAT }, 'bad-range', 'an index is a non-negative integer') };

export function tsaRoutes(host: ReplicaHost, deps: TsaRouteDeps): RouteSpec[] {
  const service = (c: Context): TsaService | Response => {
    if (host.group.rsa === undefined) return fail(c, 404, 'no-rsa-key', 'this group was dealt without a threshold RSA key (sintra deal --rsa), so it has no time-stamping authority');
    return deps.service ?? fail(c, 503, 'tsa-unavailable', 'this replica cannot reach its peers to gather signature shares, or has no RSA key share');
  };
  return [
    {
      method: 'post',
      path: '/v1/tsa',
      operationId: 'timeStamp',
      tag: 'notary',
      summary: 'RFC 3161: a time-stamp token for a query, signed by the group (serial = log position, genTime = agreed time)',
      description:
        'The body is a DER TimeStampReq (openssl ts -query). A query this TSA does not grant (bad encoding, a hash other than SHA-256/384/512, another policy, extensions) is answered 200 with a TimeStampResp of status rejection. A granted query is ordered like any request; the answer comes once it has a position and the replicas\' RSA shares are combined.',
      body: { [TIMESTAMP_QUERY_TYPE]: BINARY },
      bodyHint: 'a DER TimeStampReq (RFC 3161), e.g. from openssl ts -query',
      apiKey: true,
      responses: {
        '200': { description: 'a TimeStampResp (DER): granted with the token, or rejection with the reason', type: TIMESTAMP_REPLY_TYPE, schema: BINARY },
        '404': 'no-rsa-key: the group has no threshold RSA key',
        '415': 'unsupported media type',
        ...WRITE_ERRORS,
        '503': 'not-ordered-yet (POST the same query again: it keeps its position), signature-unavailable, tsa-unavailable, or the write errors',
      },
      middleware: [deps.clientLimit],
      handler: async (c, input) => {
        const limited = deps.rateLimited(c);
        if (limited) return limited;
        const tsa = service(c);
        if (tsa instanceof Response) return tsa;
        const read = await input.body();
        if (read instanceof Response) return read;
        const bytes = read.kind === 'bytes' ? read.bytes : new Uint8Array(0);
        if (bytes.length > MAX_QUERY_BYTES) return der(c, timeStampFailureReply('badDataFormat', `a query is at most ${MAX_QUERY_BYTES} bytes`));
        const q = parseTimeStampQuery(bytes, tsa.policy);
        if (!q.ok) return der(c, timeStampFailureReply(q.failInfo, q.text));
        const r = await host.submit(bytes);
        if (!r.ok) return fail(c, r.error.status, r.error.code, r.error.message);
        if (r.status === 'pending') deps.afterChange();
        const index = r.index ?? (await pollUntil(deps.now, TSA_ORDER_WAIT_MS, POLL_MS, () => host.indexOf(r.id)));
        if (index === undefined) {
          c.header('retry-after', '1');
          return fail(c, 503, 'not-ordered-yet', `query ${r.id} is not ordered after ${TSA_ORDER_WAIT_MS / 1000} s; POST it again (it keeps its place in the order and gets the same token)`);
        }
        const reply = await tsa.reply(index);
        if (!reply.ok) {
          c.header('retry-after', '1');
          return fail(c, 503, reply.code === 'signature-unavailable' ? 'signature-unavailable' : 'not-ordered-yet', reply.message);
        }
        return der(c, reply.reply);
      },
    },
    {
      method: 'get',
      path: '/v1/tsa/replies/{index}',
      operationId: 'timeStampReply',
      tag: 'notary',
      summary: 'The granted TimeStampResp for the query at a log position (the same bytes POST /v1/tsa answered)',
      params: [INDEX_PARAM],
      responses: {
        '200': { description: 'the TimeStampResp (DER)', type: TIMESTAMP_REPLY_TYPE, schema: BINARY },
        '400': 'bad index',
        '404': 'no-rsa-key, not-ordered (no such position here yet), not-a-query (that entry is not a query this TSA grants)',
        '503': 'signature-unavailable (too few valid shares now), tsa-unavailable',
      },
      cache: IMMUTABLE,
      handler: async (c, input) => {
        const tsa = service(c);
        if (tsa instanceof Response) return tsa;
        const r = await tsa.reply(input.int('index')!);
        if (!r.ok) return fail(c, r.status, r.code, r.message);
        return der(c, r.reply);
      },
    },
    {
      method: 'get',
      path: '/v1/tsa/shares/{index}',
      operationId: 'timeStampShare',
      tag: 'peers',
      summary: "Replica to replica: this replica's threshold RSA share of the token for the query at a log position",
      description: 'Released only for a query in this replica\'s own log; the share carries its proof of correctness (verify it against keys.rsa.verificationKeys).',
      params: [INDEX_PARAM],
      responses: {
        '200': { description: 'the share', schema: exact({ index: NAT, replica: NAT, share: { type: 'string', pattern: '^(?:[0-9a-f]{2})+$', description: 'encodeSignatureShare (threshold-rsa.ts), hex: u16 signer, x_i, c, z' } }) },
        '400': 'bad index',
        '404': 'no-rsa-key, not-ordered, not-a-query',
        '503': 'tsa-unavailable',
      },
      handler: async (c, input) => {
        const tsa = service(c);
        if (tsa instanceof Response) return tsa;
        const r = await tsa.ownShare(input.int('index')!);
        if (!r.ok) return fail(c, r.status, r.code, r.message);
        return c.json(r.share);
      },
    },
  ];
}
