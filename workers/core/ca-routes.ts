/**
 * HTTP routes of the certification authority and directory (shared/app/ca.ts, docs/ca.md; docs/design.md
 * section 11; Cachin, DSN 2001, section 5). They translate HTTP into canonical CA entries and into reads of
 * the CA's retained state; ordering, the state and the signatures are the engine's.
 *
 * A request is submitted as an ordinary log entry, so every replica applies it at the same position. A
 * directory answer is a statement under this replica's latest signed checkpoint (record or absence, the
 * sparse proof, the app digests of that checkpoint): the client verifies it offline with group.json, so a
 * replica can at worst serve an old checkpoint's state, never a false one.
 *
 * Refusals before ordering are only those that no later state can cure (syntax, a bad proof of
 * possession, a name taken, a revoked name, a serial already superseded, a signature that does not verify
 * with the key of the named serial): a replica whose live state lags must not refuse what the group would
 * accept, so anything else is ordered and the CA answers it.
 */
import type { Context, MiddlewareHandler } from 'hono';
import { CA_APP_NAME, CaRequestError, decodeResponse, encodeCaRequest, isValidName, requestMessage, verifyEd25519 } from '../../shared/app/ca.ts';
import type { CaRequest, CertificateAuthority } from '../../shared/app/ca.ts';
import { requestId } from '../../shared/replica/engine.ts';
import { checkpointToJson, receiptToJson } from '../../shared/log/checkpoint.ts';
import type { ReplicaHost } from './host.ts';
import { ID, fail, readJson, unavailable } from './http.ts';
import type { RouteSpec } from './openapi.ts';
import { logLine } from './log.ts';

export interface CaRouteDeps {
  readonly clientLimit: MiddlewareHandler;
  readonly rateLimited: (c: Context) => Response | null;
  readonly afterChange: () => void;
}

/** The fields of each operation's request object in a POST body (the builders' objects). */
const BODY_FIELDS: Record<string, readonly string[]> = {
  register: ['op', 'name', 'key', 'validFor', 'pop'],
  renew: ['op', 'name', 'serial', 'validFor', 'sig'],
  revoke: ['op', 'name', 'serial', 'sig'],
  rotate: ['op', 'name', 'serial', 'newKey', 'validFor', 'sig', 'pop'],
};

const HEX = (bytes: number) => ({ type: 'string', pattern: `^[0-9a-f]{${bytes * 2}}$` }) as const;
const NAME_SCHEMA = { type: 'string', pattern: '^[a-z0-9][a-z0-9._@-]{0,127}$' } as const;
const POS_INT = { type: 'integer', minimum: 1 } as const;

async function caOf(c: Context, host: ReplicaHost): Promise<CertificateAuthority | Response> {
  if (!host.appNames().includes(CA_APP_NAME)) return fail(c, 404, 'no-app', 'this replica does not run the certification authority');
  // Before the first event (or after a failed write) the host loads or rebuilds its engine lazily.
  let ca = host.app<CertificateAuthority>(CA_APP_NAME);
  if (!ca) {
    await host.init();
    ca = host.app<CertificateAuthority>(CA_APP_NAME);
  }
  return ca ?? fail(c, 503, 'unavailable', 'the replica is reloading its state; retry');
}

/**
 * A refusal that no later state can cure, from this replica's live state (see the module comment), or
 * null to order the request.
 */
function finalRefusal(ca: CertificateAuthority, groupId: Uint8Array, req: CaRequest): { status: number; code: string; message: string } | null {
  const msg = requestMessage(groupId, req);
  const current = ca.record(req.name);
  if (req.op === 'register') {
    if (!verifyEd25519(req.pop, msg, req.key)) return { status: 400, code: 'bad-signature', message: 'pop is not a signature of the register message by key' };
    if (current) return { status: 409, code: 'name-taken', message: `${req.name} is already registered (names are never issued twice)` };
    return null;
  }
  if (req.op === 'rotate' && !verifyEd25519(req.pop, msg, req.newKey)) return { status: 400, code: 'bad-signature', message: 'pop is not a signature of the rotate message by newKey' };
  if (!current) return null;
  if (current.status === 'revoked') return { status: 409, code: 'revoked', message: `${req.name} is revoked` };
  if (req.serial < current.serial) return { status: 409, code: 'stale-serial', message: `serial ${req.serial} of ${req.name} is superseded (current: ${current.serial})` };
  if (req.serial === current.serial && !verifyEd25519(req.sig, msg, current.key)) {
    return { status: 400, code: 'bad-signature', message: `sig is not a signature of the ${req.op} message by the key of ${req.name} serial ${req.serial}` };
  }
  return null;
}

export function caRoutes(host: ReplicaHost, deps: CaRouteDeps): RouteSpec[] {
  return [
    {
      method: 'post',
      path: '/v1/ca/requests',
      operationId: 'caSubmit',
      tag: 'ca',
      summary: 'Submit a signed CA request (register, renew, revoke, rotate) for ordering',
      description:
        'Body: {"request": {...}}, the object a builder of shared/app/ca-codec.ts returns (registerRequest, renewRequest, revokeRequest, rotateRequest): ' +
        'exactly the fields of its op, any order. The replica orders its canonical entry {"app":"ca","v":1,"op":...} (docs/ca.md); the id is the SHA-256 of that entry. ' +
        'Refused before ordering only for what no later state can cure; the CA answers everything else (GET /v1/ca/requests/{id}).',
      body: {
        'application/json': {
          type: 'object',
          required: ['request'],
          additionalProperties: false,
          properties: {
            request: {
              oneOf: [
                { type: 'object', required: BODY_FIELDS['register'], additionalProperties: false, properties: { op: { const: 'register' }, name: NAME_SCHEMA, key: HEX(32), validFor: POS_INT, pop: HEX(64) } },
                { type: 'object', required: BODY_FIELDS['renew'], additionalProperties: false, properties: { op: { const: 'renew' }, name: NAME_SCHEMA, serial: POS_INT, validFor: POS_INT, sig: HEX(64) } },
                { type: 'object', required: BODY_FIELDS['revoke'], additionalProperties: false, properties: { op: { const: 'revoke' }, name: NAME_SCHEMA, serial: POS_INT, sig: HEX(64) } },
                {
                  type: 'object',
                  required: BODY_FIELDS['rotate'],
                  additionalProperties: false,
                  properties: { op: { const: 'rotate' }, name: NAME_SCHEMA, serial: POS_INT, newKey: HEX(32), validFor: POS_INT, sig: HEX(64), pop: HEX(64) },
                },
              ],
            },
          },
        },
      },
      responses: {
        '200': 'already in the log: {id, op, name, status: "ordered", index}',
        '202': 'submitted: {id, op, name, status: "pending", replica}',
        '400': 'bad input (malformed-json, bad-request, unknown-op, bad-name, bad-key, bad-validity, bad-signature, non-canonical)',
        '404': 'CA not run here',
        '409': 'refused for good: name-taken, revoked, stale-serial',
        '413': 'too large',
        '415': 'not JSON',
        '401': 'API key missing (when the replica requires one) or unknown', '429': 'rate limited',
        '503': 'overloaded (queue full) or memory-full (state at the memory budget)',
      },
      middleware: [deps.clientLimit],
      handler: async (c) => {
        const limited = deps.rateLimited(c);
        if (limited) return limited;
        const body = await readJson(c, '{"request": {...}}');
        if (body instanceof Response) return body;
        if (typeof body !== 'object' || body === null || Array.isArray(body) || Object.keys(body).length !== 1 || !Object.hasOwn(body, 'request')) {
          return fail(c, 400, 'bad-request', 'expected {"request": {...}}');
        }
        const r = (body as { request: unknown }).request;
        if (typeof r !== 'object' || r === null || Array.isArray(r)) return fail(c, 400, 'bad-request', '"request" must be an object');
        const o = r as Record<string, unknown>;
        const fields = typeof o['op'] === 'string' && Object.hasOwn(BODY_FIELDS, o['op']) ? BODY_FIELDS[o['op']]! : null;
        if (!fields) return fail(c, 400, 'unknown-op', `"op" must be one of ${Object.keys(BODY_FIELDS).join(', ')}`);
        const keys = Object.keys(o);
        if (keys.length !== fields.length || !fields.every((f) => Object.hasOwn(o, f))) {
          return fail(c, 400, 'bad-request', `a ${String(o['op'])} request has exactly the fields ${fields.join(', ')}`);
        }
        let entry: Uint8Array;
        try {
          entry = encodeCaRequest(o as unknown as CaRequest);
        } catch (e) {
          if (e instanceof CaRequestError) return fail(c, e.code === 'too-large' ? 413 : 400, e.code === 'too-large' ? 'request-too-large' : e.code, e.message);
          throw e;
        }
        const req = o as unknown as CaRequest;
        const ca = await caOf(c, host);
        if (ca instanceof Response) return ca;
        const refusal = finalRefusal(ca, host.group.groupId, req);
        // A request already ordered is answered with its position even if the state has moved on.
        const known = await host.status(requestId(entry));
        if (refusal && !(known && 'index' in known)) return fail(c, refusal.status, refusal.code, refusal.message);
        const s = await host.submit(entry);
        if (!s.ok) return fail(c, s.error.status, s.error.code, s.error.message);
        if (s.status === 'pending') deps.afterChange();
        return c.json(
          { id: s.id, op: req.op, name: req.name, status: s.status, ...(s.index !== undefined ? { index: s.index } : {}), replica: host.secrets.id },
          s.status === 'pending' ? 202 : 200,
        );
      },
    },
    {
      method: 'get',
      path: '/v1/ca/requests/{id}',
      operationId: 'caRequest',
      tag: 'ca',
      summary: "A CA request's status and, once ordered, the CA's response; once certified, the receipt of its log entry",
      params: [{ name: 'id', in: 'path', description: 'hex SHA-256 of the canonical CA entry', schema: HEX(32) }],
      responses: {
        '200': '{id, status: "pending"} or {id, status: "ordered"|"certified", index, epoch, response, checkpoint, receipt}',
        '400': 'bad id',
        '404': 'unknown request, or the entry is not a CA request',
      },
      handler: async (c) => {
        const id = c.req.param('id')!;
        if (!ID.test(id)) return fail(c, 400, 'bad-id', 'a request id is 64 lower-case hex digits (SHA-256 of the canonical CA entry)');
        const ca = await caOf(c, host);
        if (ca instanceof Response) return ca;
        const down = await unavailable(c, host);
        if (down) return down;
        const s = await host.status(id);
        if (!s) return fail(c, 404, 'unknown-request', `request ${id} is neither pending here nor in the log`);
        if (!('index' in s)) return c.json({ id, status: s.status });
        const bytes = await host.responseAt(s.index, CA_APP_NAME);
        if (!bytes) return fail(c, 404, 'not-ca-request', `log entry ${s.index} is not a CA request`);
        const receipt = s.status === 'certified' ? await host.receiptAt(s.index) : null;
        return c.json({
          id,
          status: s.status,
          index: s.index,
          epoch: s.epoch,
          response: decodeResponse(bytes),
          checkpoint: s.checkpoint ? checkpointToJson(s.checkpoint) : null,
          receipt: receipt ? receiptToJson(host.group.groupId, receipt) : null,
        });
      },
    },
    {
      method: 'get',
      path: '/v1/ca/names/{name}',
      operationId: 'caLookup',
      tag: 'ca',
      summary: "Directory statement for a name at this replica's latest signed checkpoint (membership or non-membership)",
      description:
        'The statement (format sintra-edge/ca-statement@1, docs/ca.md) carries the record or null, the sparse Merkle proof, the CA root and issued count, ' +
        'every app digest of the checkpoint and the group-signed checkpoint: verifyDirectoryStatement(group, statement) checks it offline.',
      params: [{ name: 'name', in: 'path', description: 'a CA name: 1 to 128 of a-z 0-9 . _ @ -, starting with a letter or digit', schema: NAME_SCHEMA }],
      responses: {
        '200': 'the directory statement',
        '400': 'bad name',
        '404': 'CA not run here',
        '409': 'not-certified: no signed checkpoint yet',
        '503': "unavailable: the checkpoint's state is no longer retained, or the replica is reloading",
      },
      handler: async (c) => {
        const name = c.req.param('name')!;
        if (!isValidName(name)) return fail(c, 400, 'bad-name', 'a name is 1 to 128 characters of a-z 0-9 . _ @ -, starting with a letter or digit');
        const ca = await caOf(c, host);
        if (ca instanceof Response) return ca;
        const cp = host.latestCheckpoint();
        if (!cp) return fail(c, 409, 'not-certified', 'no checkpoint has been signed yet');
        const digests = host.appDigestsAt(cp.epoch);
        let statement: ReturnType<CertificateAuthority['statement']> = null;
        try {
          statement = digests ? ca.statement(name, cp, digests) : null;
        } catch (e) {
          // Digests that do not give the signed state digest would be a bug here; the client could not verify.
          console.error(logLine('error', host.secrets.id, 'ca-statement-failed', `CA statement at epoch ${cp.epoch}: ${e instanceof Error ? e.message : String(e)}`, { epoch: cp.epoch }));
          statement = null;
        }
        if (!statement) return fail(c, 503, 'unavailable', `the state of checkpoint epoch ${cp.epoch} is not retained here; retry after the next checkpoint`);
        return c.json(statement);
      },
    },
  ];
}
