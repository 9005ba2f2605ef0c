/**
 * The group's two X.509 certificates for its threshold RSA key (shared/crypto/x509.ts; docs/formats.md
 * section 4a), served as PEM: `GET /v1/ca/root.pem`, the self-signed root CA certificate, and
 * `GET /v1/tsa/cert.pem`, the TSA certificate (extendedKeyUsage timeStamping). They are the texts of
 * group.json's `keys.rsa` (the dealer's root-ca.pem and tsa.pem, byte for byte), which parseGroup checked
 * against the key when the replica loaded, so openssl and TLS stacks can fetch the trust anchor from any
 * replica. A user still pins it: the root's SHA-256 fingerprint is in `sintra deal`'s summary, and a
 * replica that serves another certificate is simply not the group's.
 *
 * The content type is RFC 8555 section 9.1's `application/pem-certificate-chain`: one or more PEM
 * certificates. A group dealt without `--rsa` has no such certificates: 404 `no-rsa-key`.
 */
import type { Context } from 'hono';
import type { ReplicaHost } from './host.ts';
import { fail } from './http.ts';
import type { RouteSpec } from './openapi.ts';
import { TEXT } from './api-schemas.ts';

export const PEM_CERTIFICATE_TYPE = 'application/pem-certificate-chain';

/** Fixed for the group's life, but a URL may serve a re-dealt group later: an hour, then revalidate by ETag. */
const CERTIFICATE_CACHE = 'public, max-age=3600';

function pem(c: Context, host: ReplicaHost, which: 'rootCertificate' | 'tsaCertificate'): Response {
  const rsa = host.group.rsa;
  if (rsa === undefined) return fail(c, 404, 'no-rsa-key', 'this group was dealt without a threshold RSA key (sintra deal --rsa), so it has no X.509 certificates');
  return c.body(rsa[which], 200, { 'content-type': PEM_CERTIFICATE_TYPE });
}

export function pkiRoutes(host: ReplicaHost): RouteSpec[] {
  const responses = (what: string) => ({
    '200': { description: `${what} (PEM; the same bytes as group.json's keys.rsa)`, type: PEM_CERTIFICATE_TYPE, schema: TEXT },
    '404': 'no-rsa-key: the group has no threshold RSA key',
  });
  return [
    {
      method: 'get',
      path: '/v1/ca/root.pem',
      operationId: 'caRootCertificate',
      tag: 'ca',
      summary: "The group's self-signed root CA certificate (PEM), for openssl verify -CAfile",
      responses: responses('the root CA certificate'),
      cache: CERTIFICATE_CACHE,
      handler: (c) => pem(c, host, 'rootCertificate'),
    },
    {
      method: 'get',
      path: '/v1/tsa/cert.pem',
      operationId: 'tsaCertificate',
      tag: 'notary',
      summary: "The group's time-stamping authority certificate (PEM), issued by the root, for openssl ts -verify -untrusted",
      responses: responses('the TSA certificate'),
      cache: CERTIFICATE_CACHE,
      handler: (c) => pem(c, host, 'tsaCertificate'),
    },
  ];
}
