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
import { NOTARY_APP, encodeStampEntry, parseStampEntry } from '../../shared/app/notary.ts';
import type { NotaryApp, Registration } from '../../shared/app/notary.ts';
import { requestId } from '../../shared/replica/engine.ts';
import { checkpointToJson, receiptToJson } from '../../shared/log/checkpoint.ts';
import type { ReplicaHost } from './host.ts';
import { base64ToBytes, fail } from './http.ts';
import type { RouteSpec } from './openapi.ts';
import { coded, component } from './schema.ts';
import type { Schema } from './schema.ts';
import { BASE64, CHECKPOINT_SCHEMA, NAT, RECEIPT_SCHEMA, REPLICA_ID, REQUEST_ID, SUBMIT_STATUS, WRITE_ERRORS, exact, hex, nullable } from './api-schemas.ts';

export interface NotaryRouteDeps {
  readonly clientLimit: MiddlewareHandler;
  readonly rateLimited: (c: Context) => Response | null;
  readonly afterChange: () => void;
}

const DIGEST_MESSAGE = '"digest" is 64 lower-case hex digits (SHA-256 of the document)';
const DIGEST = coded(hex(32, 'hex SHA-256 of the document'), 'bad-digest', DIGEST_MESSAGE);
const NONCE: Schema = { type: 'string', pattern: '^([0-9a-f]{2}){1,64}$', description: '1 to 64 bytes of lower-case hex' };

/** POST /v1/notary/stamp: a digest (with an optional nonce), or an encrypted stamp entry. */
const STAMP_BODY = coded(
  {
    oneOf: [exact({ digest: DIGEST, nonce: NONCE }, ['nonce']), exact({ ciphertext: { ...BASE64, minLength: 1, description: 'a TDH2 ciphertext of the stamp entry' } })],
  } satisfies Schema,
  'bad-request',
  'expected {"digest": hex, "nonce"?: hex} or {"ciphertext": base64}',
);

const CERTIFIED_STATUS: Schema = { type: 'string', enum: ['ordered', 'certified'] };

/** A registration with its certification status and, once certified, its receipt. */
/** The agreed time of the entry's epoch (docs/protocols.md "Agreed time"): its checkpoint signs it. */
const AGREED_TIME: Schema = { ...NAT, description: "the agreed time of the registration's epoch, ms since 1970 (UTC): the order was fixed no earlier than this, up to the honest clocks' error" };

const REGISTRATION_SCHEMA = component(
  'StampRegistration',
  exact(
    { digest: hex(32), index: NAT, epoch: NAT, time: AGREED_TIME, nonce: NONCE, entryId: REQUEST_ID, status: CERTIFIED_STATUS, checkpoint: nullable(CHECKPOINT_SCHEMA), receipt: nullable(RECEIPT_SCHEMA) },
    ['nonce'],
  ),
);

const STAMP_SUBMITTED_SCHEMA = exact(
  { id: REQUEST_ID, digest: hex(32), status: SUBMIT_STATUS, index: NAT, encrypted: { type: 'boolean', const: true }, replica: REPLICA_ID },
  ['digest', 'index', 'encrypted'],
);

/** The notary's state in this replica's storage, for queries (null: not run here, answered 404). */
interface NotaryView {
  lookup(digest: string): Promise<Registration | undefined>;
}

async function notaryOf(c: Context, host: ReplicaHost): Promise<NotaryView | Response> {
  if (!host.appNames().includes(NOTARY_APP)) return fail(c, 404, 'no-app', 'this replica does not run the notary application');
  // Before the first event (or after a failed write) the host loads or rebuilds its engine lazily.
  if (!host.loaded) await host.init();
  return {
    lookup: async (digest) => (await host.readApp(NOTARY_APP, (state, app) => (app as NotaryApp).lookup(state, digest))) ?? undefined,
  };
}

/** A registration with its certification status and, once certified, its receipt (JSON). */
async function registrationView(host: ReplicaHost, reg: Registration): Promise<Record<string, unknown>> {
  const receipt = await host.receiptAt(reg.index);
  const entryId = requestId(encodeStampEntry({ digest: reg.digest, ...(reg.nonce !== undefined ? { nonce: reg.nonce } : {}) }));
  // The registration was executed from this entry, so the log holds it.
  const entry = await host.entryAt(reg.index);
  return {
    digest: reg.digest,
    index: reg.index,
    epoch: reg.epoch,
    time: entry?.time ?? 0,
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
      body: { 'application/json': STAMP_BODY },
      bodyHint: '{"digest": hex, "nonce"?: hex} or {"ciphertext": base64}',
      apiKey: true,
      responses: {
        '200': {
          description: 'already registered: the first registration (or an encrypted stamp already in the log)',
          schema: { oneOf: [REGISTRATION_SCHEMA, STAMP_SUBMITTED_SCHEMA] },
        },
        '202': { description: 'submitted: status "pending"', schema: STAMP_SUBMITTED_SCHEMA },
        '400': 'bad input',
        '404': 'notary not run here',
        '415': 'not JSON',
        ...WRITE_ERRORS,
      },
      middleware: [deps.clientLimit],
      handler: async (c, input) => {
        const limited = deps.rateLimited(c);
        if (limited) return limited;
        const body = await input.json();
        if (body instanceof Response) return body;
        const notary = await notaryOf(c, host);
        if (notary instanceof Response) return notary;
        // STAMP_BODY checked the shape and every field.
        const o = body as { digest?: string; nonce?: string; ciphertext?: string };
        if (o.ciphertext !== undefined) {
          const r = await host.submitEncrypted(base64ToBytes(o.ciphertext)!);
          if (!r.ok) return fail(c, r.error.status, r.error.code, r.error.message);
          deps.afterChange();
          return c.json({ id: r.id, status: r.status, ...(r.index !== undefined ? { index: r.index } : {}), encrypted: true, replica: host.secrets.id }, r.status === 'pending' ? 202 : 200);
        }
        const digest = o.digest!;
        const nonce = o.nonce;
        const first = await notary.lookup(digest);
        if (first) return c.json(await registrationView(host, first), 200);
        const entry = encodeStampEntry({ digest, ...(nonce !== undefined ? { nonce } : {}) });
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
      params: [{ name: 'digest', in: 'path', description: 'hex SHA-256 of the document', schema: DIGEST }],
      responses: { '200': { description: 'the first registration', schema: REGISTRATION_SCHEMA }, '400': 'bad digest', '404': 'not registered (here, yet)' },
      handler: async (c, input) => {
        const digest = input.str('digest')!;
        const notary = await notaryOf(c, host);
        if (notary instanceof Response) return notary;
        const reg = await notary.lookup(digest);
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
      params: [{ name: 'index', in: 'path', description: 'log index (from 0)', schema: coded({ ...NAT }, 'bad-range', 'an index is a non-negative integer') }],
      responses: {
        '200': {
          description: 'the stamp entry, whether it is the first registration of its digest, that registration, and the receipt once certified',
          schema: exact(
            {
              index: NAT,
              digest: hex(32),
              nonce: NONCE,
              first: { type: 'boolean' },
              registration: exact({ index: NAT, epoch: NAT, nonce: NONCE }, ['nonce']),
              epoch: NAT,
              time: AGREED_TIME,
              status: CERTIFIED_STATUS,
              receipt: nullable(RECEIPT_SCHEMA),
            },
            ['nonce', 'epoch'],
          ),
        },
        '400': 'bad index',
        '404': 'no stamp entry at that index',
      },
      handler: async (c, input) => {
        const index = input.int('index')!;
        const notary = await notaryOf(c, host);
        if (notary instanceof Response) return notary;
        const entry = await host.entryAt(index);
        const stamp = entry ? parseStampEntry(entry.entry) : null;
        // Its registration exists once the entry is executed (the first stamp of a digest writes it).
        const reg = stamp?.ok ? await notary.lookup(stamp.request.digest) : undefined;
        if (!entry || !stamp?.ok || !reg || reg.index > index) return fail(c, 404, 'no-stamp', `log entry ${index} is not a notary stamp (or not in this replica's log yet)`);
        const at = { digest: stamp.request.digest, nonce: stamp.request.nonce, first: reg.index === index };
        const receipt = await host.receiptAt(index);
        return c.json({
          index,
          digest: at.digest,
          ...(at.nonce !== undefined ? { nonce: at.nonce } : {}),
          first: at.first,
          registration: { index: reg.index, epoch: reg.epoch, ...(reg.nonce !== undefined ? { nonce: reg.nonce } : {}) },
          epoch: entry.epoch,
          time: entry.time,
          status: receipt ? 'certified' : 'ordered',
          receipt: receipt ? receiptToJson(host.group.groupId, receipt) : null,
        });
      },
    },
  ];
}
