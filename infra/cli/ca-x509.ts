/**
 * X.509 certificates under the group's root CA from the command line (docs/ca.md, "X.509 certificates"):
 *
 *   sintra ca export-key --key KEYFILE --out KEY.pem     the directory key as PKCS #8 PEM, for openssl req
 *   sintra ca issue --csr REQ.pem --cluster URL ... (--group G | --trust-served-group) --out CERT.pem
 *
 * `issue` POSTs the CSR to the replicas in turn (one nonce for all, so a retry is the same log entry) and
 * takes the first certificate answered, after checking it offline against the pinned group: signed by the
 * root CA of group.json's keys.rsa, for the CSR's key and name. The root is what `openssl verify -CAfile`
 * needs (root-ca.pem, or `GET /v1/ca/root.pem`).
 */
import { X509Certificate, createPrivateKey, randomBytes } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
import { parseCsr } from '../../shared/crypto/csr.ts';
import { CryptoError } from '../../shared/crypto/errors.ts';
import { toHex } from '../../shared/crypto/bytes.ts';
import { UsageError } from './deal.ts';
import type { Io } from './deal.ts';
import { baseUrl } from './client.ts';
import { checkOutOption, writeOutFile } from './out-file.ts';
import { trustedGroup } from './trust.ts';
import { fsReason } from './verify.ts';
import { servedGroup } from './client.ts';
import { loadKeyFile } from './ca.ts';

export interface X509CommandOptions {
  csr?: string;
  key?: string;
  name?: string;
  cluster?: string[];
  group?: string;
  trustServedGroup?: boolean;
  out?: string;
  force?: boolean;
  json?: boolean;
  timeout?: number;
}

/** RFC 8410 PKCS #8 prefix of an Ed25519 private key: then the 32-byte seed. */
const ED25519_PKCS8_PREFIX = Buffer.from('302e020100300506032b657004220420', 'hex');

export async function exportKey(opts: X509CommandOptions, io: Io): Promise<number> {
  if (!opts.key || !opts.out) throw new UsageError('give --key KEYFILE and --out KEY.pem');
  const secret = await loadKeyFile(opts.key);
  const pem = createPrivateKey({ key: Buffer.concat([ED25519_PKCS8_PREFIX, Buffer.from(secret)]), format: 'der', type: 'pkcs8' }).export({ type: 'pkcs8', format: 'pem' }) as string;
  try {
    await writeFile(opts.out, pem, { mode: 0o600, flag: 'wx' });
  } catch (e) {
    if ((e as { code?: unknown }).code === 'EEXIST') throw new Error(`${opts.out} exists; a key file is never overwritten: give another --out`);
    throw new Error(`cannot write ${opts.out}: ${fsReason(e)}`);
  }
  io.out(opts.json ? `${JSON.stringify({ out: opts.out })}\n` : `wrote the Ed25519 key of ${opts.key} to ${opts.out} as PKCS #8 PEM (mode 0600), e.g. for: openssl req -new -key ${opts.out} -subj /CN=NAME -out NAME.csr\n`);
  return 0;
}

export async function issue(opts: X509CommandOptions, io: Io): Promise<number> {
  const log = (line: string) => io.err(`${line}\n`);
  if (!opts.csr) throw new UsageError('give --csr FILE (a PKCS #10 request, PEM: openssl req -new -key KEY.pem -subj /CN=NAME)');
  if (!opts.out) throw new UsageError('give --out CERT.pem (the certificate is written there)');
  const urls = [...new Set((opts.cluster ?? []).map(baseUrl))];
  if (urls.length === 0) throw new UsageError('give at least one --cluster URL');
  await checkOutOption(opts);
  let csrText: string;
  try {
    csrText = await readFile(opts.csr, 'utf8');
  } catch (e) {
    throw new Error(`cannot read ${opts.csr}: ${fsReason(e)}`);
  }
  let csr;
  try {
    csr = parseCsr(csrText);
  } catch (e) {
    if (e instanceof CryptoError) throw new Error(`${opts.csr}: ${e.message}`);
    throw e;
  }
  const name = opts.name ?? csr.name;
  const group = await trustedGroup(opts, () => servedGroup(urls, log));
  if (group.rsa === undefined) throw new Error('the group has no threshold RSA key (sintra deal --rsa), so no root CA issues X.509 certificates');
  const root = new X509Certificate(group.rsa.rootCertificate);
  const nonce = toHex(new Uint8Array(randomBytes(16)));
  const deadline = Date.now() + (opts.timeout ?? 120) * 1000;
  const reasons: string[] = [];
  for (let round = 0; Date.now() < deadline; round++) {
    for (const url of urls) {
      let res: Response;
      try {
        res = await fetch(`${url}/v1/ca/x509`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ csr: csrText, name, nonce }), signal: AbortSignal.timeout(60_000) });
      } catch (e) {
        reasons.push(`${url}: ${e instanceof Error ? e.message : String(e)}`);
        continue;
      }
      const text = await res.text();
      if (res.status === 400 || res.status === 409 || res.status === 404) {
        const err = (() => {
          try {
            return (JSON.parse(text) as { error?: { code?: string; message?: string } }).error;
          } catch {
            return undefined;
          }
        })();
        throw new Error(`the CA refused the certificate for ${name}: ${err?.code ?? res.status}: ${err?.message ?? text.slice(0, 200)}`);
      }
      if (res.status !== 200) {
        reasons.push(`${url}: HTTP ${res.status}`);
        continue;
      }
      // Checked offline before it is kept: the root signed it, for this CSR's key and name.
      let cert: X509Certificate;
      try {
        cert = new X509Certificate(text);
      } catch {
        reasons.push(`${url}: the answer is not a certificate`);
        continue;
      }
      const spki = new Uint8Array(cert.publicKey.export({ type: 'spki', format: 'der' }));
      if (!cert.verify(root.publicKey) || !cert.checkIssued(root) || toHex(spki) !== toHex(csr.publicKeyInfo) || !/^CN=/.test(cert.subject) || cert.subject !== `CN=${name}`) {
        reasons.push(`${url}: served a certificate that is not the root CA's for this CSR (recorded as a liar)`);
        continue;
      }
      await writeOutFile(opts.out, text, opts.force);
      const index = res.headers.get('sintra-log-index');
      if (opts.json) io.out(`${JSON.stringify({ ok: true, name, serial: cert.serialNumber, validFrom: cert.validFrom, validTo: cert.validTo, index: index === null ? null : Number(index), from: url, out: opts.out })}\n`);
      else io.out(`issued an X.509 certificate for ${name}: serial 0x${cert.serialNumber}, valid ${cert.validFrom} to ${cert.validTo} (request at log index ${index}); verified under the group's root CA; saved to ${opts.out}\n`);
      return 0;
    }
    if (round === 0) log(`no certificate yet (${reasons.slice(-urls.length).join('; ')}); retrying`);
    await new Promise((r) => setTimeout(r, 1000));
  }
  throw new Error(`no replica answered a valid certificate for ${name} in time: ${reasons.slice(-urls.length).join('; ')}`);
}
