/**
 * X.509 certificates from the group's root CA over HTTP (docs/api.md "X.509"; x509.ts):
 *
 *   POST /v1/ca/x509                    {"csr": PEM or base64 DER, "name"?, "nonce"?} -> the certificate (PEM)
 *   GET  /v1/ca/x509/{index}            the certificate of the x509 request at a log position
 *   GET  /v1/ca/x509/shares/{index}     replica to replica: this replica's RSA share of it
 *
 * POST orders the CA request {op: x509} (as POST /v1/ca/requests would), waits for the CA's answer at its
 * place in the order, then answers the certificate that t + 1 replicas' shares make, or the CA's refusal.
 */
import type { Context, MiddlewareHandler } from 'hono';
import { CA_APP_NAME, CaRequestError, decodeResponse, encodeCaRequest } from '../../shared/app/ca.ts';
import type { X509Request } from '../../shared/app/ca.ts';
import { toBase64, toHex } from '../../shared/crypto/bytes.ts';
import { CSR_PEM_LABEL, MAX_CSR_PEM_CHARS, parseCsr } from '../../shared/crypto/csr.ts';
import { CryptoError } from '../../shared/crypto/errors.ts';
import { pemToDer } from '../../shared/crypto/pem.ts';
import { fromBase64 } from '../../shared/crypto/bytes.ts';
import type { ReplicaHost } from './host.ts';
import { fail, pollUntil } from './http.ts';
import type { RouteSpec } from './openapi.ts';
import { IMMUTABLE } from './openapi.ts';
import { coded } from './schema.ts';
import type { Schema } from './schema.ts';
import { NAT, TEXT, WRITE_ERRORS, exact } from './api-schemas.ts';
import { PEM_CERTIFICATE_TYPE } from './pki-routes.ts';
import type { X509Service } from './x509.ts';

/** How long POST /v1/ca/x509 waits for the CA's answer before 503 (POST the same body again: same nonce, same entry). */
export const X509_ORDER_WAIT_MS = 20_000;
const POLL_MS = 50;

export interface X509RouteDeps {
  readonly clientLimit: MiddlewareHandler;
  readonly rateLimited: (c: Context) => Response | null;
  readonly afterChange: () => void;
  readonly service: X509Service | null;
  readonly now: () => number;
  /** Fresh random bytes for a request without a nonce. */
  readonly randomBytes?: (n: number) => Uint8Array;
}

const INDEX_PARAM = { name: 'index', in: 'path' as const, description: 'the log position of the x509 request', schema: coded({ ...NAT }, 'bad-range', 'an index is a non-negative integer') };

const X509_BODY = exact(
  {
    csr: coded({ type: 'string', minLength: 1, maxLength: MAX_CSR_PEM_CHARS } satisfies Schema, 'bad-csr', 'csr: a PKCS #10 request, PEM or standard base64 DER'),
    name: coded({ type: 'string', pattern: '^[a-z0-9][a-z0-9._@-]{0,127}$' } satisfies Schema, 'bad-name', 'a name is 1 to 128 characters of a-z 0-9 . _ @ -'),
    nonce: coded({ type: 'string', pattern: '^(?:[0-9a-f]{2}){1,32}$' } satisfies Schema, 'bad-request', 'nonce must be 1 to 32 bytes of lower-case hex'),
  },
  ['name', 'nonce'],
);

function pem(c: Context, text: string, index: number): Response {
  return c.body(text, 200, { 'content-type': PEM_CERTIFICATE_TYPE, 'sintra-log-index': String(index) });
}

/** The CSR's DER from PEM or base64, or null. */
function csrDer(text: string): Uint8Array | null {
  if (text.includes('-----BEGIN')) {
    try {
      return pemToDer(text, CSR_PEM_LABEL);
    } catch {
      return null;
    }
  }
  return fromBase64(text.trim());
}

export function x509Routes(host: ReplicaHost, deps: X509RouteDeps): RouteSpec[] {
  const service = (c: Context): X509Service | Response => {
    if (host.group.rsa === undefined) return fail(c, 404, 'no-rsa-key', 'this group was dealt without a threshold RSA key (sintra deal --rsa), so it has no root CA');
    return deps.service ?? fail(c, 503, 'x509-unavailable', 'this replica cannot reach its peers to gather signature shares, or has no RSA key share');
  };
  return [
    {
      method: 'post',
      path: '/v1/ca/x509',
      operationId: 'caIssueX509',
      tag: 'ca',
      summary: "An X.509 certificate under the group's root CA for a registered name (CSR key = the name's Ed25519 directory key)",
      description:
        "The CSR's subject must be CN=name and its key the name's current Ed25519 key: its self-signature is the authorization. The request is ordered; at its place the CA accepts it while the name's certificate is valid, and the answer is the X.509 certificate (serial = log position + 1, valid from the agreed time to the end of the name's validity) made from t + 1 replicas' threshold RSA shares.",
      body: { 'application/json': X509_BODY },
      bodyHint: '{"csr": PEM, "name"?: string, "nonce"?: hex}',
      apiKey: true,
      responses: {
        '200': { description: 'the certificate (PEM); header sintra-log-index: its request\'s log position', type: PEM_CERTIFICATE_TYPE, schema: TEXT },
        '400': 'bad-csr, bad-name, bad-request (nothing ordered)',
        '404': 'no-rsa-key',
        '409': "refused by the CA at the request's place in the order: not-found, revoked, expired, bad-csr (the error code is the CA's)",
        '415': 'not JSON',
        ...WRITE_ERRORS,
        '503': 'not-ordered-yet (POST the same body again), signature-unavailable, x509-unavailable, or the write errors',
      },
      middleware: [deps.clientLimit],
      handler: async (c, input) => {
        const limited = deps.rateLimited(c);
        if (limited) return limited;
        const svc = service(c);
        if (svc instanceof Response) return svc;
        const body = await input.json();
        if (body instanceof Response) return body;
        const o = body as { csr: string; name?: string; nonce?: string };
        const der = csrDer(o.csr);
        if (der === null) return fail(c, 400, 'bad-csr', 'csr is neither a PEM CERTIFICATE REQUEST nor standard base64');
        let name: string;
        try {
          const csr = parseCsr(der);
          name = o.name ?? csr.name;
          if (csr.name !== name) return fail(c, 400, 'bad-csr', `the CSR's subject is CN=${csr.name}, not ${name}`);
          if (csr.keyAlgorithm !== 'ed25519') return fail(c, 400, 'bad-csr', `the CSR's key must be ${name}'s Ed25519 directory key, not ${csr.keyAlgorithm}`);
        } catch (e) {
          if (e instanceof CryptoError) return fail(c, 400, 'bad-csr', e.message);
          throw e;
        }
        const random = deps.randomBytes ?? ((n: number) => crypto.getRandomValues(new Uint8Array(n)));
        const req: X509Request = { op: 'x509', name, csr: toBase64(der), nonce: o.nonce ?? toHex(random(16)) };
        let entry: Uint8Array;
        try {
          entry = encodeCaRequest(req);
        } catch (e) {
          if (e instanceof CaRequestError) return fail(c, 400, e.code, e.message);
          throw e;
        }
        const r = await host.submit(entry);
        if (!r.ok) return fail(c, r.error.status, r.error.code, r.error.message);
        if (r.status === 'pending') deps.afterChange();
        let index = r.index;
        const answer = await pollUntil(deps.now, X509_ORDER_WAIT_MS, POLL_MS, async () => {
          index ??= await host.indexOf(r.id);
          return index === undefined ? undefined : host.responseAt(index, CA_APP_NAME);
        });
        if (index === undefined || answer === undefined) {
          c.header('retry-after', '1');
          return fail(c, 503, 'not-ordered-yet', `the x509 request ${r.id} is not decided after ${X509_ORDER_WAIT_MS / 1000} s; POST it again with nonce ${req.nonce} (the same entry)`);
        }
        const decided = decodeResponse(answer);
        if (!decided.ok) return fail(c, 409, decided.error.code, `the CA refused the x509 request at log position ${index}: ${decided.error.message}`);
        const cert = await svc.certificate(index);
        if (!cert.ok) {
          c.header('retry-after', '1');
          return fail(c, 503, cert.code === 'signature-unavailable' ? 'signature-unavailable' : 'not-ordered-yet', cert.message);
        }
        return pem(c, cert.pem, index);
      },
    },
    {
      method: 'get',
      path: '/v1/ca/x509/{index}',
      operationId: 'caX509Certificate',
      tag: 'ca',
      summary: 'The X.509 certificate of the accepted x509 request at a log position (PEM)',
      params: [INDEX_PARAM],
      responses: {
        '200': { description: 'the certificate (PEM)', type: PEM_CERTIFICATE_TYPE, schema: TEXT },
        '400': 'bad index',
        '404': 'no-rsa-key, not-ordered, not-issued (not an accepted x509 request)',
        '503': 'signature-unavailable, x509-unavailable',
      },
      cache: IMMUTABLE,
      handler: async (c, input) => {
        const svc = service(c);
        if (svc instanceof Response) return svc;
        const index = input.int('index')!;
        const r = await svc.certificate(index);
        if (!r.ok) return fail(c, r.status, r.code, r.message);
        return pem(c, r.pem, index);
      },
    },
    {
      method: 'get',
      path: '/v1/ca/x509/shares/{index}',
      operationId: 'caX509Share',
      tag: 'peers',
      summary: "Replica to replica: this replica's threshold RSA share of the certificate of the x509 request at a log position",
      description: "Released only for a request this replica's own CA accepted; the share carries its proof (verify it against keys.rsa.verificationKeys).",
      params: [INDEX_PARAM],
      responses: {
        '200': { description: 'the share', schema: exact({ index: NAT, replica: NAT, share: { type: 'string', pattern: '^(?:[0-9a-f]{2})+$', description: 'encodeSignatureShare (threshold-rsa.ts), hex' } }) },
        '400': 'bad index',
        '404': 'no-rsa-key, not-ordered, not-issued',
        '503': 'x509-unavailable',
      },
      handler: async (c, input) => {
        const svc = service(c);
        if (svc instanceof Response) return svc;
        const r = await svc.ownShare(input.int('index')!);
        if (!r.ok) return fail(c, r.status, r.code, r.message);
        return c.json(r.share);
      },
    },
  ];
}
