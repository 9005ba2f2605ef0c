/**
 * HTTP routes of the notary / time-stamping application (shared/app/notary.ts; docs/api.md;
 * Cachin, DSN 2001, section 5). They only translate HTTP into the notary entry format and into reads of
 * the notary's replicated state; the ordering, the state and the signatures are the engine's.
 *
 * A registration is answered with the receipt of its log entry: entry + inclusion proof + group-signed
 * checkpoint, so a client verifies offline with group.json that the digest was registered no later than
 * that log position. Which registration is the first one is this replica's word (the log itself proves
 * only "no later than"); a client that needs more asks several replicas (the SDK takes the lowest index
 * whose receipt verifies).
 */
import type { Context, MiddlewareHandler } from 'hono';
import { NOTARY_APP, encodeStampEntry } from '../../shared/app/notary.ts';
import type { NotaryApp, Registration } from '../../shared/app/notary.ts';
import { requestId } from '../../shared/replica/engine.ts';
import { checkpointToJson, receiptToJson } from '../../shared/log/checkpoint.ts';
import type { ReplicaHost } from './host.ts';
import { ID, base64ToBytes, fail, natParam, readJson } from './http.ts';
import type { RouteSpec } from './openapi.ts';

export interface NotaryRouteDeps {
  readonly clientLimit: MiddlewareHandler;
  readonly rateLimited: (c: Context) => Response | null;
  readonly afterChange: () => void;
}

const HEX64 = { type: 'string', pattern: '^[0-9a-f]{64}$' } as const;

async function notaryOf(c: Context, host: ReplicaHost): Promise<NotaryApp | Response> {
  if (!host.appNames().includes(NOTARY_APP)) return fail(c, 404, 'no-app', 'this replica does not run the notary application');
  // Before the first event (or after a failed write) the host loads or rebuilds its engine lazily.
  let n = host.app<NotaryApp>(NOTARY_APP);
  if (!n) {
    await host.init();
    n = host.app<NotaryApp>(NOTARY_APP);
  }
  if (n) return n;
  if (host.appNames().includes(NOTARY_APP)) return fail(c, 503, 'unavailable', 'the replica is reloading its state; retry');
  return fail(c, 404, 'no-app', 'this replica does not run the notary application');
}

/** A registration with its certification status and, once certified, its receipt (JSON). */
async function registrationView(host: ReplicaHost, reg: Registration): Promise<Record<string, unknown>> {
  const receipt = await host.receiptAt(reg.index);
  const entryId = requestId(encodeStampEntry({ digest: reg.digest, ...(reg.nonce !== undefined ? { nonce: reg.nonce } : {}) }));
  return {
    digest: reg.digest,
    index: reg.index,
    epoch: reg.epoch,
    ...(reg.nonce !== undefined ? { nonce: reg.nonce } : {}),
    entryId,
    status: receipt ? 'certified' : 'ordered',
    checkpoint: receipt ? checkpointToJson(receipt.checkpoint) : null,
    receipt: receipt ? receiptToJson(host.group.groupId, receipt) : null,
  };
}

export function notaryRoutes(host: ReplicaHost, deps: NotaryRouteDeps): RouteSpec[] {
  return [
    {
      method: 'post',
      path: '/v1/notary/stamp',
      operationId: 'notaryStamp',
      tag: 'notary',
      summary: 'Register a SHA-256 digest (optionally with a nonce), or an encrypted stamp entry',
      description:
        'Plain: {"digest": hex, "nonce"?: hex}; the replica orders the canonical entry {"app":"notary","op":"stamp","digest":...}. ' +
        'Encrypted: {"ciphertext": base64}, a TDH2 ciphertext of that entry (shared/client/encrypt.ts), so no replica learns the digest before its position is fixed. ' +
        'A digest registered before is answered with its first registration (200).',
      body: {
        'application/json': {
          oneOf: [
            { type: 'object', required: ['digest'], properties: { digest: HEX64, nonce: { type: 'string', pattern: '^([0-9a-f]{2}){1,64}$' } }, additionalProperties: false },
            { type: 'object', required: ['ciphertext'], properties: { ciphertext: { type: 'string', contentEncoding: 'base64' } }, additionalProperties: false },
          ],
        },
      },
      responses: {
        '200': 'already registered: the first registration {digest, index, epoch, entryId, status, receipt}',
        '202': 'submitted: {id, digest?, status: "pending", encrypted?, replica}',
        '400': 'bad input',
        '404': 'notary not run here',
        '413': 'too large',
        '415': 'not JSON',
        '401': 'API key missing (when the replica requires one) or unknown', '429': 'rate limited',
        '503': 'overloaded (queue full) or memory-full (state at the memory budget)',
      },
      middleware: [deps.clientLimit],
      handler: async (c) => {
        const limited = deps.rateLimited(c);
        if (limited) return limited;
        const body = await readJson(c, '{"digest": hex, "nonce"?: hex} or {"ciphertext": base64}');
        if (body instanceof Response) return body;
        if (typeof body !== 'object' || body === null || Array.isArray(body)) return fail(c, 400, 'bad-request', 'expected a JSON object');
        const notary = await notaryOf(c, host);
        if (notary instanceof Response) return notary;
        const o = body as Record<string, unknown>;
        const keys = Object.keys(o);
        if (keys.length === 1 && keys[0] === 'ciphertext') {
          const ct = typeof o['ciphertext'] === 'string' ? base64ToBytes(o['ciphertext']) : null;
          if (!ct || ct.length === 0) return fail(c, 400, 'bad-request', '"ciphertext" must be non-empty base64');
          const r = await host.submitEncrypted(ct);
          if (!r.ok) return fail(c, r.error.status, r.error.code, r.error.message);
          deps.afterChange();
          return c.json({ id: r.id, status: r.status, ...(r.index !== undefined ? { index: r.index } : {}), encrypted: true, replica: host.secrets.id }, r.status === 'pending' ? 202 : 200);
        }
        if (!keys.includes('digest') || keys.some((k) => k !== 'digest' && k !== 'nonce')) {
          return fail(c, 400, 'bad-request', 'expected {"digest": hex, "nonce"?: hex} or {"ciphertext": base64}');
        }
        const digest = o['digest'];
        const nonce = o['nonce'];
        if (typeof digest !== 'string' || !ID.test(digest)) return fail(c, 400, 'bad-digest', '"digest" is 64 lower-case hex digits (SHA-256 of the document)');
        if (nonce !== undefined && (typeof nonce !== 'string' || !/^(?:[0-9a-f]{2}){1,64}$/.test(nonce))) {
          return fail(c, 400, 'bad-request', '"nonce" is 1 to 64 bytes of lower-case hex');
        }
        const first = notary.lookup(digest);
        if (first) return c.json(await registrationView(host, first), 200);
        const entry = encodeStampEntry({ digest, ...(nonce !== undefined ? { nonce: nonce as string } : {}) });
        const r = await host.submit(entry);
        if (!r.ok) return fail(c, r.error.status, r.error.code, r.error.message);
        deps.afterChange();
        return c.json({ id: r.id, digest, status: r.status, ...(r.index !== undefined ? { index: r.index } : {}), replica: host.secrets.id }, r.status === 'pending' ? 202 : 200);
      },
    },
    {
      method: 'get',
      path: '/v1/notary/stamps/{digest}',
      operationId: 'notaryLookup',
      tag: 'notary',
      summary: 'The first registration of a digest, with the receipt of its log entry once certified',
      params: [{ name: 'digest', in: 'path', description: 'hex SHA-256 of the document', schema: HEX64 }],
      responses: { '200': '{digest, index, epoch, nonce?, entryId, status: "ordered"|"certified", checkpoint, receipt}', '400': 'bad digest', '404': 'not registered (here, yet)' },
      handler: async (c) => {
        const digest = c.req.param('digest')!;
        if (!ID.test(digest)) return fail(c, 400, 'bad-digest', 'a digest is 64 lower-case hex digits (SHA-256)');
        const notary = await notaryOf(c, host);
        if (notary instanceof Response) return notary;
        const reg = notary.lookup(digest);
        if (!reg) return fail(c, 404, 'unknown-stamp', `digest ${digest} is not registered in this replica's log (yet)`);
        return c.json(await registrationView(host, reg));
      },
    },
    {
      method: 'get',
      path: '/v1/notary/seq/{index}',
      operationId: 'notaryAtIndex',
      tag: 'notary',
      summary: 'The stamp entry at a log position (logical time), with its first registration and receipt',
      params: [{ name: 'index', in: 'path', description: 'log index (from 0)', schema: { type: 'integer', minimum: 0 } }],
      responses: { '200': '{index, digest, nonce?, first, registration, status, receipt}', '400': 'bad index', '404': 'no stamp entry at that index' },
      handler: async (c) => {
        const index = natParam(c.req.param('index'));
        if (index === null) return fail(c, 400, 'bad-range', 'an index is a non-negative integer');
        const notary = await notaryOf(c, host);
        if (notary instanceof Response) return notary;
        const at = notary.atIndex(index);
        if (!at) return fail(c, 404, 'no-stamp', `log entry ${index} is not a notary stamp (or not in this replica's log yet)`);
        const receipt = await host.receiptAt(index);
        const reg = notary.lookup(at.digest)!;
        return c.json({
          index,
          digest: at.digest,
          ...(at.nonce !== undefined ? { nonce: at.nonce } : {}),
          first: at.first,
          registration: { index: reg.index, epoch: reg.epoch, ...(reg.nonce !== undefined ? { nonce: reg.nonce } : {}) },
          epoch: await host.epochOf(index),
          status: receipt ? 'certified' : 'ordered',
          receipt: receipt ? receiptToJson(host.group.groupId, receipt) : null,
        });
      },
    },
  ];
}
