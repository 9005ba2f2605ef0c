/**
 * HTTP routes of the signing service (shared/app/signer.ts, workers/core/signer.ts; docs/signer.md,
 * docs/api.md). They translate HTTP into signer entries and into reads of the signer's replicated state;
 * the ordering, the policy decision and the release of shares are the engine's, the application's and
 * the SignService's.
 *
 *   POST /v1/sign                 a client's signed request: ordered, then checked against the policy
 *   GET  /v1/sign/{id}            the group's signature with the receipt of its log entry (sintra-edge/signature@1)
 *   GET  /v1/sign/requests/{id}   the recorded outcome of a sign request or policy change
 *   GET  /v1/sign/shares/{id}     this replica's share, only for a request its state accepted (peers gather these)
 *   GET  /v1/sign/policy          the policy at the latest signed checkpoint, as a statement the SDK verifies
 *   POST /v1/sign/policy          a policy change signed by administrators: ordered, then checked
 */
import type { Context, MiddlewareHandler } from 'hono';
import { SIGNER_APP, SignerRequestError, encodePolicyEntry, encodeSignEntry, signRefusal } from '../../shared/app/signer.ts';
import type { SignerApp } from '../../shared/app/signer.ts';
import { RSA_PSS_SCHEME, RSA_SIGN_SCHEME, SignerPolicyError, decodeSignerPolicy } from '../../shared/app/signer-policy.ts';
import { rsaPublicKeyPem } from '../../shared/crypto/x509.ts';
import type { SignerPolicy } from '../../shared/app/signer-policy.ts';
import { toHex } from '../../shared/crypto/bytes.ts';
import { sha256 } from '../../shared/crypto/sha256.ts';
import { checkpointToJson, receiptToJson } from '../../shared/log/checkpoint.ts';
import { POLICY_STATEMENT_FORMAT, SIGNATURE_FORMAT, signatureDocument } from '../../shared/client/signer.ts';
import type { ReplicaHost } from './host.ts';
import { base64ToBytes, fail } from './http.ts';
import type { RouteSpec } from './openapi.ts';
import type { SignService, SignerLedger } from './signer.ts';
import { coded, component } from './schema.ts';
import type { Schema } from './schema.ts';
import { BASE64, CHECKPOINT_SCHEMA, NAT, RECEIPT_SCHEMA, REPLICA_ID, REQUEST_ID, SUBMIT_STATUS, TEXT, WRITE_ERRORS, exact, hex, nullable } from './api-schemas.ts';
import { logLine } from './log.ts';

export interface SignerRouteDeps {
  readonly clientLimit: MiddlewareHandler;
  readonly rateLimited: (c: Context) => Response | null;
  readonly afterChange: () => void;
  readonly service: SignService | null;
}

const NAME: Schema = { type: 'string', pattern: '^[a-z0-9][a-z0-9._-]{0,63}$', description: "1-64 of a-z, 0-9, '.', '_', '-'" };
const SIGN_BODY = coded(
  exact(
    {
      client: NAME,
      purpose: NAME,
      message: { ...BASE64, description: 'the message to sign, standard padded base64' },
      nonce: { type: 'string', pattern: '^([0-9a-f]{2}){1,64}$', description: '1 to 64 bytes of lower-case hex' },
      sig: hex(64, "the client's Ed25519 signature of frame('sintra-edge/signer/sign@1', group id, client, purpose, message, nonce)"),
    },
    ['nonce'],
  ),
  'bad-request',
  'expected {"client", "purpose", "message": base64, "nonce"?: hex, "sig": hex}',
);
const POLICY_BODY = coded(
  exact({ policy: { type: 'object', description: 'the new policy (docs/signer.md)' }, sigs: { type: 'object', description: 'administrator name -> Ed25519 signature (hex)' } }),
  'bad-request',
  'expected {"policy": {...}, "sigs": {"admin": hex, ...}}',
);
const SUBMITTED = exact({ id: REQUEST_ID, status: SUBMIT_STATUS, index: NAT, replica: REPLICA_ID }, ['index']);
const SIGNATURE_SCHEMA = component(
  'SignatureDocument',
  exact({
    format: { type: 'string', const: SIGNATURE_FORMAT },
    groupId: hex(32),
    id: REQUEST_ID,
    purpose: NAME,
    client: NAME,
    message: BASE64,
    scheme: { type: 'string', enum: ['bls', RSA_SIGN_SCHEME, RSA_PSS_SCHEME] },
    signature: { type: 'string', pattern: '^([0-9a-f]{2})+$', description: 'bls: 48 bytes (compressed G1) under keys.kernel.groupKey; rsa-pkcs1-sha256: the modulus length, under keys.signerRsa' },
    dst: nullable({ type: 'string', description: 'bls: the RFC 9380 DST the message was hashed under' }),
    receipt: nullable(RECEIPT_SCHEMA),
  }),
);
const SHARE_SCHEMA = exact({ id: REQUEST_ID, replica: NAT, share: { type: 'string', pattern: '^([0-9a-f]{2})+$' } });
const POLICY_STATEMENT_SCHEMA = component(
  'SignerPolicyStatement',
  exact({
    format: { type: 'string', const: POLICY_STATEMENT_FORMAT },
    groupId: hex(32),
    policy: { type: 'object' },
    apps: { type: 'array', items: exact({ name: { type: 'string' }, digest: hex(32) }) },
    checkpoint: CHECKPOINT_SCHEMA,
  }),
);
const OUTCOME_SCHEMA = component(
  'SignerOutcome',
  exact(
    {
      id: REQUEST_ID,
      op: { type: 'string', enum: ['sign', 'policy', 'audit', 'reveal'] },
      ok: { type: 'boolean' },
      index: NAT,
      epoch: NAT,
      client: NAME,
      purpose: NAME,
      version: NAT,
      count: NAT,
      round: NAT,
      population: { ...NAT, description: 'audit: the accepted sign requests when it was scheduled' },
      sample: { type: 'array', items: REQUEST_ID, description: 'audit, once revealed: the sampled sign requests' },
      audit: { ...REQUEST_ID, description: 'reveal: the audit it reveals' },
      scheme: { type: 'string', enum: [RSA_SIGN_SCHEME, RSA_PSS_SCHEME], description: 'an accepted sign request of an RSA purpose' },
      code: { type: 'string', description: 'why it was refused (ok false)' },
      message: { type: 'string' },
    },
    ['client', 'purpose', 'version', 'count', 'round', 'population', 'sample', 'audit', 'scheme', 'code', 'message'],
  ),
);
const ID_PARAM = { name: 'id', in: 'path' as const, description: 'the request id (hex SHA-256 of the sign entry)', schema: coded({ ...REQUEST_ID }, 'bad-id', 'a request id is 64 lower-case hex digits') };

/** The signer's state here, for queries and the SignService (host.readApp and the log). */
export function hostSignerLedger(host: ReplicaHost): SignerLedger {
  return {
    outcome: async (id) => (await host.readApp(SIGNER_APP, (state, app) => (app as SignerApp).outcome(state, id))) ?? undefined,
    entry: async (index) => (await host.entryAt(index))?.entry,
  };
}

async function ready(c: Context, host: ReplicaHost): Promise<Response | null> {
  if (host.group.signer === undefined || !host.appNames().includes(SIGNER_APP)) return fail(c, 404, 'no-signer', 'this group has no signing service (group.json has no signer policy)');
  if (!host.loaded) await host.init();
  return null;
}

async function currentPolicy(host: ReplicaHost): Promise<SignerPolicy> {
  return (await host.readApp(SIGNER_APP, (state, app) => (app as SignerApp).policy(state)))!;
}

export function signerRoutes(host: ReplicaHost, deps: SignerRouteDeps): RouteSpec[] {
  const submit = async (c: Context, entry: Uint8Array): Promise<Response> => {
    const r = await host.submit(entry);
    if (!r.ok) return fail(c, r.error.status, r.error.code, r.error.message);
    deps.afterChange();
    return c.json({ id: r.id, status: r.status, ...(r.index !== undefined ? { index: r.index } : {}), replica: host.secrets.id }, r.status === 'pending' ? 202 : 200);
  };
  const service = (c: Context): SignService | Response => deps.service ?? fail(c, 503, 'signer-unavailable', 'this replica cannot reach its peers to gather signature shares');
  return [
    {
      method: 'post',
      path: '/v1/sign',
      operationId: 'signRequest',
      tag: 'signer',
      summary: "Ask the group to sign a message: ordered, then checked against the replicated policy",
      description:
        'The body is a client-signed request (docs/signer.md); the replica orders its canonical entry {"app":"signer",...}. ' +
        'A request that the policy in force here already refuses (unknown client, bad signature, purpose not allowed, size, prefix) is answered 403 and not ordered. ' +
        'Poll GET /v1/sign/{id} for the signature.',
      body: { 'application/json': SIGN_BODY },
      bodyHint: '{"client", "purpose", "message", "nonce"?, "sig"}',
      apiKey: true,
      responses: {
        '200': { description: 'already ordered', schema: SUBMITTED },
        '202': { description: 'submitted: status "pending"', schema: SUBMITTED },
        '400': 'bad input',
        '403': 'refused: the policy in force refuses this request (code and reason in the message)',
        '404': 'no-signer: the group has no signing service',
        '415': 'not JSON',
        ...WRITE_ERRORS,
      },
      middleware: [deps.clientLimit],
      handler: async (c, input) => {
        const limited = deps.rateLimited(c);
        if (limited) return limited;
        const body = await input.json();
        if (body instanceof Response) return body;
        const off = await ready(c, host);
        if (off) return off;
        const o = body as { client: string; purpose: string; message: string; nonce?: string; sig: string };
        const message = base64ToBytes(o.message);
        if (message === null) return fail(c, 400, 'bad-message', '"message" is standard padded base64');
        let entry: Uint8Array;
        try {
          entry = encodeSignEntry({ client: o.client, purpose: o.purpose, message, sig: o.sig, ...(o.nonce !== undefined ? { nonce: o.nonce } : {}) });
        } catch (e) {
          if (e instanceof SignerRequestError) return fail(c, 400, e.code, e.message);
          throw e;
        }
        const id = toHex(sha256(entry));
        const known = await hostSignerLedger(host).outcome(id);
        if (known) return c.json({ id, status: 'ordered', index: known.index, replica: host.secrets.id }, 200);
        // Refused by the policy in force here: not worth a place in the log. The application decides again
        // at the request's place in the order (the policy may change before it).
        const policy = await currentPolicy(host);
        const why = signRefusal(host.group.groupId, policy, { client: o.client, purpose: o.purpose, message, sig: o.sig, ...(o.nonce !== undefined ? { nonce: o.nonce } : {}) });
        if (why !== null) return fail(c, 403, 'refused', `${why.code}: ${why.message}`);
        return submit(c, entry);
      },
    },
    {
      method: 'get',
      path: '/v1/sign/policy',
      operationId: 'signerPolicy',
      tag: 'signer',
      summary: "The signing policy in force at this replica's latest signed checkpoint, as a statement (sintra-edge/signer-policy@1)",
      description: 'verifyPolicyStatement(group, statement) checks it offline: the checkpoint, the app digests and the signer digest of this policy.',
      responses: {
        '200': { description: 'the policy statement', schema: POLICY_STATEMENT_SCHEMA },
        '404': 'no-signer',
        '409': 'not-certified: no signed checkpoint yet',
        '503': "unavailable: the checkpoint's app digests are no longer retained here",
      },
      handler: async (c) => {
        const off = await ready(c, host);
        if (off) return off;
        const cp = host.latestCheckpoint();
        if (!cp) return fail(c, 409, 'not-certified', 'no checkpoint has been signed yet');
        const digests = host.appDigestsAt(cp.epoch);
        if (!digests) return fail(c, 503, 'unavailable', `the state of checkpoint epoch ${cp.epoch} is not retained here; retry after the next checkpoint`);
        let policy: SignerPolicy;
        try {
          const bytes = (await host.readApp(SIGNER_APP, (state, app) => (app as SignerApp).policyBytesAt(state, cp.epoch)))!;
          policy = decodeSignerPolicy(bytes);
        } catch (e) {
          if (!(e instanceof SignerPolicyError) && !(e instanceof RangeError)) throw e;
          console.error(logLine('error', host.secrets.id, 'signer-policy-corrupt', `signer policy at epoch ${cp.epoch}: ${e.message}`, { epoch: cp.epoch }));
          return fail(c, 503, 'unavailable', `the signing policy at epoch ${cp.epoch} cannot be read here`);
        }
        return c.json({
          format: POLICY_STATEMENT_FORMAT,
          groupId: toHex(host.group.groupId),
          policy,
          apps: digests.map((d) => ({ name: d.name, digest: toHex(d.digest) })),
          checkpoint: checkpointToJson(cp),
        });
      },
    },
    {
      method: 'post',
      path: '/v1/sign/policy',
      operationId: 'signerPolicyChange',
      tag: 'signer',
      summary: 'Change the signing policy: the new policy (version + 1) with the signatures of enough administrators of the policy in force',
      description: 'Ordered like any request; the signing application checks the version and the administrator signatures at its place in the order. GET /v1/sign/requests/{id} shows its outcome.',
      body: { 'application/json': POLICY_BODY },
      bodyHint: '{"policy": {...}, "sigs": {...}}',
      apiKey: true,
      responses: {
        '200': { description: 'already ordered', schema: SUBMITTED },
        '202': { description: 'submitted: status "pending"', schema: SUBMITTED },
        '400': 'bad policy or signatures',
        '404': 'no-signer',
        '409': 'bad-version: the new policy is not the version after the one in force here',
        '415': 'not JSON',
        ...WRITE_ERRORS,
      },
      middleware: [deps.clientLimit],
      handler: async (c, input) => {
        const limited = deps.rateLimited(c);
        if (limited) return limited;
        const body = await input.json();
        if (body instanceof Response) return body;
        const off = await ready(c, host);
        if (off) return off;
        const o = body as { policy: unknown; sigs: Record<string, string> };
        let entry: Uint8Array;
        try {
          entry = encodePolicyEntry({ policy: o.policy as SignerPolicy, sigs: o.sigs });
        } catch (e) {
          if (e instanceof SignerPolicyError) return fail(c, 400, 'bad-policy', e.message);
          if (e instanceof SignerRequestError) return fail(c, 400, e.code, e.message);
          throw e;
        }
        const current = await currentPolicy(host);
        const version = (o.policy as { version: number }).version;
        if (version !== current.version + 1) return fail(c, 409, 'bad-version', `the policy in force here is version ${current.version}; a change must be version ${current.version + 1}`);
        return submit(c, entry);
      },
    },
    {
      method: 'get',
      path: '/v1/sign/rsa.pem',
      operationId: 'signerRsaKey',
      tag: 'signer',
      summary: "The signing service's RSA public key (PEM SubjectPublicKeyInfo, keys.signerRsa), for openssl dgst -sha256 -verify",
      responses: {
        '200': { description: 'the public key', type: 'application/x-pem-file', schema: TEXT },
        '404': 'no-signer, or no-signer-rsa: the group has no signing RSA key',
      },
      cache: 'public, max-age=3600',
      handler: async (c) => {
        const off = await ready(c, host);
        if (off) return off;
        const pk = host.group.signerRsa;
        if (pk === undefined) return fail(c, 404, 'no-signer-rsa', 'this group has no signing RSA key (sintra deal --signer-rsa)');
        return c.body(rsaPublicKeyPem(pk), 200, { 'content-type': 'application/x-pem-file' });
      },
    },
    {
      method: 'get',
      path: '/v1/sign/requests/{id}',
      operationId: 'signerOutcome',
      tag: 'signer',
      summary: 'The recorded outcome of a sign request, policy change, audit or reveal: accepted (an audit with its sample once revealed), or refused with the reason',
      params: [ID_PARAM],
      responses: {
        '200': { description: 'the outcome as this replica executed it', schema: OUTCOME_SCHEMA },
        '400': 'bad id',
        '404': 'no-signer, or not-ordered: not executed here (yet)',
      },
      handler: async (c, input) => {
        const off = await ready(c, host);
        if (off) return off;
        const id = input.str('id')!;
        const o = await hostSignerLedger(host).outcome(id);
        if (!o) return fail(c, 404, 'not-ordered', `request ${id} is not ordered and executed here (yet)`);
        return c.json({ id, ...o });
      },
    },
    {
      method: 'get',
      path: '/v1/sign/shares/{id}',
      operationId: 'signShare',
      tag: 'peers',
      summary: "This replica's share of the group signature for an accepted request (replicas gather these)",
      description: 'Released only once this replica executed the request and its policy accepted it. Publicly verifiable against keys.kernel.rowKeys, so no link MAC.',
      params: [ID_PARAM],
      responses: {
        '200': { description: 'the share', schema: SHARE_SCHEMA },
        '400': 'bad id',
        '403': 'refused: the policy refused the request',
        '404': 'no-signer, or not-ordered: not executed here (yet)',
        '503': 'the log entry cannot be read here',
      },
      handler: async (c, input) => {
        const off = await ready(c, host);
        if (off) return off;
        const s = service(c);
        if (s instanceof Response) return s;
        const r = await s.ownShare(input.str('id')!);
        if (!r.ok) return fail(c, r.status, r.code, r.message);
        return c.json(r.share, 200, { 'cache-control': 'no-store' });
      },
    },
    {
      method: 'get',
      path: '/v1/sign/{id}',
      operationId: 'signature',
      tag: 'signer',
      summary: "The group's signature for an accepted request, with the receipt of its log entry once certified",
      description: 'A sintra-edge/signature@1 document (docs/signer.md): verifySignatureDocument(group, document) checks it offline. Made from a qualified set of shares on first request.',
      params: [ID_PARAM],
      responses: {
        '200': { description: 'the signature document', schema: SIGNATURE_SCHEMA },
        '400': 'bad id',
        '403': 'refused: the policy refused the request (the reason in the message)',
        '404': 'no-signer, or not-ordered: not ordered and executed here (yet)',
        '503': 'signature-unavailable: no qualified set of valid shares yet',
      },
      handler: async (c, input) => {
        const off = await ready(c, host);
        if (off) return off;
        const s = service(c);
        if (s instanceof Response) return s;
        const a = await s.signature(input.str('id')!);
        if (!a.ok) return fail(c, a.status, a.code, a.message);
        const receipt = await host.receiptAt(a.request.outcome.index);
        const doc = signatureDocument(host.group.groupId, {
          id: a.request.id,
          purpose: a.request.purpose,
          client: a.request.client,
          message: a.request.message,
          scheme: a.request.scheme,
          signature: a.signature,
          receipt: receipt ? receiptToJson(host.group.groupId, receipt) : null,
        });
        return c.json(doc, 200, { 'cache-control': receipt ? 'public, max-age=31536000, immutable' : 'no-store' });
      },
    },
  ];
}
