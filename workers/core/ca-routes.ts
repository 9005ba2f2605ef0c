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
import { CA_APP_NAME, CaRequestError, decodeResponse, encodeCaRequest, requestMessage, verifyEd25519 } from '../../shared/app/ca.ts';
import type { AppDigest, CaRequest, CertificateAuthority, CertificateRecord, DirectoryStatementJson, X509Request } from '../../shared/app/ca.ts';
import { fromBase64 } from '../../shared/crypto/bytes.ts';
import { parseCsr } from '../../shared/crypto/csr.ts';
import { CryptoError } from '../../shared/crypto/errors.ts';
import type { SignedCheckpoint } from '../../shared/log/checkpoint.ts';
import { requestId } from '../../shared/replica/engine.ts';
import { checkpointToJson, receiptToJson } from '../../shared/log/checkpoint.ts';
import type { ReplicaHost } from './host.ts';
import { fail, unavailable } from './http.ts';
import type { RouteSpec } from './openapi.ts';
import { logLine } from './log.ts';
import { coded, component } from './schema.ts';
import type { Schema } from './schema.ts';
import { CHECKPOINT_SCHEMA, HEX_BYTES, NAT, RECEIPT_SCHEMA, REPLICA_ID, REQUEST_ID, SUBMIT_STATUS, TEXT, WRITE_ERRORS, exact, hex, nullable } from './api-schemas.ts';

export interface CaRouteDeps {
  readonly clientLimit: MiddlewareHandler;
  readonly rateLimited: (c: Context) => Response | null;
  readonly afterChange: () => void;
}

const CA_OPS = ['register', 'renew', 'revoke', 'rotate', 'x509'] as const;

/**
 * Field schemas of a CA request, each with the code its refusal has always had (the codes of
 * shared/app/ca-codec.ts, which checks the same again when it encodes the entry).
 */
const NAME_SCHEMA = coded({ type: 'string', pattern: '^[a-z0-9][a-z0-9._@-]{0,127}$' } satisfies Schema, 'bad-name', 'a name is 1 to 128 characters of a-z 0-9 . _ @ -, starting with a letter or digit');
const KEY = coded(hex(32, 'Ed25519 public key'), 'bad-key', 'expected a 32-byte Ed25519 public key in lower-case hex');
const SIGNATURE = coded(hex(64, 'Ed25519 signature'), 'bad-signature', 'expected a 64-byte Ed25519 signature in lower-case hex');
const VALID_FOR = coded({ type: 'integer', minimum: 1, maximum: Number.MAX_SAFE_INTEGER, description: 'seconds of agreed time' } satisfies Schema, 'bad-validity', 'validFor must be a positive integer (seconds)');
const CSR_BASE64 = coded({ type: 'string', pattern: '^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$', minLength: 4, description: 'a PKCS #10 request, DER in standard base64' } satisfies Schema, 'bad-csr', 'csr must be a PKCS #10 request in standard base64');
const NONCE_HEX = coded({ type: 'string', pattern: '^(?:[0-9a-f]{2}){1,32}$' } satisfies Schema, 'bad-request', 'nonce must be 1 to 32 bytes of lower-case hex');
const SERIAL: Schema = { type: 'integer', minimum: 1, maximum: Number.MAX_SAFE_INTEGER };
const op = (name: (typeof CA_OPS)[number]): Schema => ({ type: 'string', const: name });

/** The body of POST /v1/ca/requests: {"request": R}, R exactly the fields of its op (any order). */
const CA_SUBMIT_BODY = exact({
  request: component('CaRequest', {
    type: 'object',
    description: 'What registerRequest, renewRequest, revokeRequest or rotateRequest (shared/app/ca-codec.ts) returns: exactly the fields of its op.',
    required: ['op'],
    properties: { op: coded({ type: 'string', enum: [...CA_OPS] } satisfies Schema, 'unknown-op', `"op" must be one of ${CA_OPS.join(', ')}`) },
    oneOf: [
      exact({ op: op('register'), name: NAME_SCHEMA, key: KEY, validFor: VALID_FOR, pop: SIGNATURE }),
      exact({ op: op('renew'), name: NAME_SCHEMA, serial: SERIAL, validFor: VALID_FOR, sig: SIGNATURE }),
      exact({ op: op('revoke'), name: NAME_SCHEMA, serial: SERIAL, sig: SIGNATURE }),
      exact({ op: op('x509'), name: NAME_SCHEMA, csr: CSR_BASE64, nonce: NONCE_HEX }),
      exact({ op: op('rotate'), name: NAME_SCHEMA, serial: SERIAL, newKey: KEY, validFor: VALID_FOR, sig: SIGNATURE, pop: SIGNATURE }),
    ],
  } satisfies Schema),
});

const CERTIFICATE_SCHEMA = component(
  'CertificateRecord',
  exact({
    v: { type: 'integer', const: 2 },
    name: NAME_SCHEMA,
    key: hex(32),
    serial: NAT,
    index: { ...NAT, description: 'the log position of the request that issued this serial' },
    notBefore: { ...NAT, description: "valid from this agreed time (ms since 1970): the issuing request's epoch" },
    notAfter: { ...NAT, description: 'until this agreed time (ms since 1970), exclusive' },
    status: { type: 'string', enum: ['active', 'revoked'] },
    revokedAt: { ...nullable(NAT), description: 'the log position of the revocation, or null' },
  }),
);

const CA_OP_SCHEMA: Schema = { type: 'string', enum: [...CA_OPS] };

/** The CA's answer to an ordered request (docs/ca.md). */
const CA_RESPONSE_SCHEMA = component('CaResponse', {
  oneOf: [
    exact({ app: { type: 'string', const: 'ca' }, op: CA_OP_SCHEMA, ok: { type: 'boolean', const: true }, index: NAT, certificate: CERTIFICATE_SCHEMA }),
    exact({
      app: { type: 'string', const: 'ca' },
      op: { type: 'string', const: 'x509' },
      ok: { type: 'boolean', const: true },
      index: NAT,
      x509: exact({ name: NAME_SCHEMA, serial: { ...NAT, description: 'the X.509 serialNumber: the log position + 1' }, notBefore: NAT, notAfter: NAT }),
    }),
    exact({
      app: { type: 'string', const: 'ca' },
      op: nullable(CA_OP_SCHEMA),
      ok: { type: 'boolean', const: false },
      index: NAT,
      error: exact({ code: TEXT, message: TEXT }),
    }),
  ],
} satisfies Schema);

const CA_SUBMITTED_SCHEMA = exact({ id: REQUEST_ID, op: CA_OP_SCHEMA, name: NAME_SCHEMA, status: SUBMIT_STATUS, index: NAT, replica: REPLICA_ID }, ['index']);

const DIRECTORY_STATEMENT_SCHEMA = component(
  'DirectoryStatement',
  exact(
    {
      format: { type: 'string', const: 'sintra-edge/ca-statement@1' },
      groupId: hex(32),
      name: NAME_SCHEMA,
      record: nullable(CERTIFICATE_SCHEMA),
      proof: HEX_BYTES,
      ca: exact({ root: hex(32), issued: NAT }),
      apps: { type: 'array', items: exact({ name: TEXT, digest: hex(32) }) },
      checkpoint: CHECKPOINT_SCHEMA,
    },
    [],
    'A directory statement (docs/ca.md): verifyDirectoryStatement(group, statement) checks it offline.',
  ),
);

/** The CA's state in this replica's storage, for queries (host.readApp). */
interface CaView {
  /** The live record of a name (null: not registered). */
  record(name: string): Promise<CertificateRecord | null>;
  statement(name: string, checkpoint: SignedCheckpoint, digests: readonly AppDigest[]): Promise<DirectoryStatementJson | null>;
}

async function caOf(c: Context, host: ReplicaHost): Promise<CaView | Response> {
  if (!host.appNames().includes(CA_APP_NAME)) return fail(c, 404, 'no-app', 'this replica does not run the certification authority');
  // Before the first event (or after a failed write) the host loads or rebuilds its engine lazily.
  if (!host.loaded) await host.init();
  return {
    record: async (name) => (await host.readApp(CA_APP_NAME, (state, app) => (app as CertificateAuthority).record(state, name))) ?? null,
    statement: async (name, checkpoint, digests) => (await host.readApp(CA_APP_NAME, (state, app) => (app as CertificateAuthority).statement(state, name, checkpoint, digests))) ?? null,
  };
}

/**
 * A refusal that no later state can cure, from this replica's live state (see the module comment), or
 * null to order the request.
 */
async function finalRefusal(ca: CaView, groupId: Uint8Array, req: CaRequest): Promise<{ status: number; code: string; message: string } | null> {
  if (req.op === 'x509') return x509Refusal(req);
  const msg = requestMessage(groupId, req);
  const current = await ca.record(req.name);
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

/** What no state can cure in an x509 request: a CSR that is not one the CA accepts, or for another name. */
function x509Refusal(req: X509Request): { status: number; code: string; message: string } | null {
  const der = fromBase64(req.csr);
  if (der === null) return { status: 400, code: 'bad-csr', message: 'csr is not canonical standard base64' };
  try {
    const csr = parseCsr(der);
    if (csr.name !== req.name) return { status: 400, code: 'bad-csr', message: `the CSR's subject is CN=${csr.name}, not ${req.name}` };
    if (csr.keyAlgorithm !== 'ed25519') return { status: 400, code: 'bad-csr', message: `the CSR's key must be ${req.name}'s Ed25519 directory key, not ${csr.keyAlgorithm}` };
  } catch (e) {
    if (e instanceof CryptoError) return { status: 400, code: 'bad-csr', message: e.message };
    throw e;
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
      body: { 'application/json': CA_SUBMIT_BODY },
      bodyHint: '{"request": {...}}',
      apiKey: true,
      responses: {
        '200': { description: 'already in the log: status "ordered", with its index', schema: CA_SUBMITTED_SCHEMA },
        '202': { description: 'submitted: status "pending"', schema: CA_SUBMITTED_SCHEMA },
        '400': 'bad input (malformed-json, bad-request, unknown-op, bad-name, bad-key, bad-validity, bad-signature, non-canonical)',
        '404': 'CA not run here',
        '409': 'refused for good: name-taken, revoked, stale-serial',
        '415': 'not JSON',
        ...WRITE_ERRORS,
      },
      middleware: [deps.clientLimit],
      handler: async (c, input) => {
        const limited = deps.rateLimited(c);
        if (limited) return limited;
        const body = await input.json();
        if (body instanceof Response) return body;
        // CA_SUBMIT_BODY checked the fields; encoding checks them again and measures the entry.
        const o = (body as { request: Record<string, unknown> }).request;
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
        const refusal = await finalRefusal(ca, host.group.groupId, req);
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
      params: [{ name: 'id', in: 'path', description: 'hex SHA-256 of the canonical CA entry', schema: coded(hex(32), 'bad-id', 'a request id is 64 lower-case hex digits (SHA-256 of the canonical CA entry)') }],
      responses: {
        '200': {
          description: "not ordered yet; or ordered, with the CA's response, and once certified the receipt of its entry",
          schema: {
            oneOf: [
              exact({ id: REQUEST_ID, status: { type: 'string', enum: ['pending', 'decrypting', 'skipped'] } }),
              exact({
                id: REQUEST_ID,
                status: { type: 'string', enum: ['ordered', 'certified'] },
                index: NAT,
                epoch: NAT,
                response: CA_RESPONSE_SCHEMA,
                checkpoint: nullable(CHECKPOINT_SCHEMA),
                receipt: nullable(RECEIPT_SCHEMA),
              }),
            ],
          },
        },
        '400': 'bad id',
        '404': 'unknown request, or the entry is not a CA request',
      },
      handler: async (c, input) => {
        const id = input.str('id')!;
        const ca = await caOf(c, host);
        if (ca instanceof Response) return ca;
        const down = await unavailable(c, host);
        if (down) return down;
        const s = await host.status(id);
        if (!s) return fail(c, 404, 'unknown-request', `request ${id} is neither pending here nor in the log`);
        if (!('index' in s)) return c.json({ id, status: s.status });
        // Ordered, and its epoch not executed yet (execution follows delivery within moments): no answer yet.
        if (s.index >= (host.executedSize() ?? 0)) return c.json({ id, status: 'pending' });
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
        '200': { description: 'the directory statement', schema: DIRECTORY_STATEMENT_SCHEMA },
        '400': 'bad name',
        '404': 'CA not run here',
        '409': 'not-certified: no signed checkpoint yet',
        '503': "unavailable: the checkpoint's state is no longer retained, or the replica is reloading",
      },
      handler: async (c, input) => {
        const name = input.str('name')!;
        const ca = await caOf(c, host);
        if (ca instanceof Response) return ca;
        const cp = host.latestCheckpoint();
        if (!cp) return fail(c, 409, 'not-certified', 'no checkpoint has been signed yet');
        const digests = host.appDigestsAt(cp.epoch);
        let statement: DirectoryStatementJson | null = null;
        try {
          statement = digests ? await ca.statement(name, cp, digests) : null;
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
