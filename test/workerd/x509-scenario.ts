/**
 * The group certificates (shared/crypto/x509.ts, @peculiar/asn1-x509) and a threshold RSA signature in one
 * deterministic scenario, run unchanged in Node (test/unit/group-rsa.test.ts), inside workerd
 * (crypto.workerd.test.ts) and in a plain worker without compatibility flags (plain-worker.ts); all must
 * give the bytes of vectors.ts X509. A 1024-bit test key from test/fixtures/threshold-rsa-primes.json.
 *
 * Only shared/crypto is imported here: no Node or Workers API.
 */
import fixture from '../fixtures/threshold-rsa-primes.json';
import { toHex, utf8ToBytes } from '../../shared/crypto/bytes.ts';
import { derToPem, pemToDer } from '../../shared/crypto/pem.ts';
import { seededRandom } from '../../shared/crypto/random.ts';
import { rsaVerify } from '../../shared/crypto/rsa.ts';
import { sha256 } from '../../shared/crypto/sha256.ts';
import { combineShares, dealThresholdRsa, signShare } from '../../shared/crypto/threshold-rsa.ts';
import { certificateSerial, checkGroupCertificates, issueGroupCertificates } from '../../shared/crypto/x509.ts';
import type { GroupCertificates } from '../../shared/crypto/x509.ts';
import type { Timer } from './scenario.ts';

const untimed: Timer = (_label, f) => f();

export interface X509ScenarioResult {
  /** SHA-256 of each certificate's DER. */
  readonly root: string;
  readonly tsa: string;
  readonly keyIdentifier: string;
  /** Combined from the shares of replicas 2 and 0. */
  readonly signature: string;
  readonly verified: boolean;
}

export function x509Scenario(time: Timer = untimed): X509ScenarioResult {
  const pair = fixture.modulus1024[0]!;
  const rng = seededRandom('sintra-edge/workerd-parity/x509');
  const groupId = sha256(utf8ToBytes('x509 scenario group'));
  let certs: GroupCertificates | undefined;
  const { publicKey: pk, shares } = time('threshold RSA dealing (1024 bits, 4 players)', () =>
    dealThresholdRsa({ p: BigInt(`0x${pair.p}`), q: BigInt(`0x${pair.q}`), group: { players: 4, threshold: 2 }, testOnly: true }, rng, (sign, publicKey) => {
      certs = time('issue root CA and TSA certificates', () =>
        issueGroupCertificates(
          {
            publicKey,
            groupId,
            label: 'workerd parity',
            notBefore: new Date(Date.UTC(2026, 0, 1)),
            notAfter: new Date(Date.UTC(2036, 0, 1)),
            rootSerial: certificateSerial(rng),
            tsaSerial: certificateSerial(rng),
          },
          sign,
        ),
      );
    }),
  );
  const { root, tsa } = certs!;
  const info = time('check certificates', () => checkGroupCertificates(pk, groupId, pemToDer(derToPem(root)), pemToDer(derToPem(tsa))));
  const message = utf8ToBytes('time-stamp token signed attributes');
  const digest = sha256(message);
  const { signature } = time('2 signature shares and combine', () =>
    combineShares(pk, digest, [signShare(pk, shares[2]!, digest, rng), signShare(pk, shares[0]!, digest, rng)]),
  );
  return { root: toHex(sha256(root)), tsa: toHex(sha256(tsa)), keyIdentifier: info.keyIdentifier, signature: toHex(signature), verified: rsaVerify(pk, message, signature) };
}
