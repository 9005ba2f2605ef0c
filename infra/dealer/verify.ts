/**
 * `sintra deal verify DIR`: group.json parses strictly (which includes Q3 and the schemes), its row keys
 * are consistent with the group keys, and every replica's secrets file parses and matches its row keys and
 * link key. Problems with one replica are reported per replica; an unusable group.json is a DealerError.
 * A group with a threshold RSA key: its certificates are checked completely (shared/crypto/x509.ts),
 * root-ca.pem and tsa.pem must be the same texts as group.json's, and every RSA share must match its
 * verification key.
 */
import { lstat, readFile, readdir } from 'node:fs/promises';
import path from 'node:path';
import { toHex } from '../../shared/crypto/bytes.ts';
import { CryptoError } from '../../shared/crypto/errors.ts';
import { pemToDer } from '../../shared/crypto/pem.ts';
import { checkGroupCertificates } from '../../shared/crypto/x509.ts';
import type { GroupCertificateInfo } from '../../shared/crypto/x509.ts';
import { ConfigError, parseGroup, parseReplicaSecrets, verifyGroupKeys, verifyReplicaSecrets } from '../../shared/config/group.ts';
import type { Group } from '../../shared/config/group.ts';
import { GROUP_FILE, ROOT_CA_FILE, TSA_FILE, secretsFileName } from './dealer.ts';
import { DealerError } from './output.ts';

export interface ReplicaReport {
  readonly index: number;
  readonly id: string;
  readonly file: string;
  readonly status: 'ok' | 'missing' | 'invalid';
  readonly error?: string;
  readonly rows?: { readonly kernel: number; readonly quorum: number; readonly encryption: number };
  /** True when the group has an RSA key and this replica's share matches its verification key. */
  readonly rsa?: boolean;
  readonly warnings: string[];
}

export interface VerifyReport {
  readonly ok: boolean;
  readonly dir: string;
  readonly groupId: string;
  readonly n: number;
  readonly testOnly: boolean;
  readonly q3: boolean;
  readonly keysConsistent: boolean;
  readonly keysError?: string;
  /** Present iff the group has a threshold RSA key. */
  readonly rsa?: RsaReport;
  readonly replicas: readonly ReplicaReport[];
  readonly warnings: readonly string[];
  /** The parsed group, for callers that print a summary (not serialized). */
  readonly group: Group;
}

export interface RsaReport {
  readonly ok: boolean;
  readonly bits: number;
  readonly certificates?: { readonly notBefore: string; readonly notAfter: string; readonly rootSerial: string; readonly tsaSerial: string };
  readonly error?: string;
}

export interface VerifyOptions {
  /** Only check the secrets files that are present (e.g. after distributing some of them). */
  readonly allowMissing?: boolean;
  readonly onProgress?: (message: string) => void;
}

async function readJson(file: string): Promise<unknown> {
  return JSON.parse(await readFile(file, 'utf8'));
}

function message(e: unknown): string {
  if (e instanceof ConfigError || e instanceof CryptoError) return e.message;
  if (e instanceof SyntaxError) return `invalid JSON: ${e.message}`;
  throw e;
}

async function checkReplica(dir: string, group: Group, index: number): Promise<ReplicaReport> {
  const replica = group.replicas[index]!;
  const file = path.join(dir, secretsFileName(replica.id));
  const base = { index, id: replica.id, file, warnings: [] as string[] };
  let raw: unknown;
  try {
    const st = await lstat(file);
    if (!st.isFile()) return { ...base, status: 'invalid', error: `${file} is not a regular file` };
    if (st.mode & 0o077) base.warnings.push(`${file} has mode 0${(st.mode & 0o777).toString(8)}; secrets files should be 0600`);
    raw = await readJson(file);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return { ...base, status: 'missing', error: `${file} is missing` };
    return { ...base, status: 'invalid', error: message(e) };
  }
  try {
    const secrets = parseReplicaSecrets(raw, group);
    if (secrets.index !== index) {
      return { ...base, status: 'invalid', error: `SINTRA_REPLICA_ID: holds the secrets of ${secrets.id} (index ${secrets.index}), not of ${replica.id}` };
    }
    verifyReplicaSecrets(group, secrets);
    const rows = { kernel: secrets.kernel.values.length, quorum: secrets.quorum.values.length, encryption: secrets.encryption.values.length };
    return { ...base, status: 'ok', rows, ...(secrets.rsa === undefined ? {} : { rsa: true }) };
  } catch (e) {
    return { ...base, status: 'invalid', error: message(e) };
  }
}

/** The certificates in group.json, and root-ca.pem / tsa.pem beside it: the same texts (a missing copy is a warning). */
async function checkRsa(dir: string, group: Group, warnings: string[]): Promise<RsaReport> {
  const rsa = group.rsa!;
  const bits = rsa.publicKey.n.toString(2).length;
  let info: GroupCertificateInfo;
  try {
    info = checkGroupCertificates(rsa.publicKey, group.groupId, pemToDer(rsa.rootCertificate), pemToDer(rsa.tsaCertificate));
  } catch (e) {
    return { ok: false, bits, error: `keys.rsa: ${message(e)}` };
  }
  const certificates = { notBefore: info.notBefore.toISOString(), notAfter: info.notAfter.toISOString(), rootSerial: info.rootSerial, tsaSerial: info.tsaSerial };
  for (const [file, text, field] of [[ROOT_CA_FILE, rsa.rootCertificate, 'rootCertificate'], [TSA_FILE, rsa.tsaCertificate, 'tsaCertificate']] as const) {
    const p = path.join(dir, file);
    let copy: string;
    try {
      copy = await readFile(p, 'utf8');
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') {
        warnings.push(`${p} is missing (it is a copy of keys.rsa.${field} in ${GROUP_FILE})`);
        continue;
      }
      return { ok: false, bits, certificates, error: `${p}: ${(e as Error).message}` };
    }
    if (copy !== text) return { ok: false, bits, certificates, error: `${p} differs from keys.rsa.${field} in ${GROUP_FILE}` };
  }
  return { ok: true, bits, certificates };
}

export async function verifyDealDir(dir: string, opts: VerifyOptions = {}): Promise<VerifyReport> {
  const progress = opts.onProgress ?? (() => {});
  const groupFile = path.join(dir, GROUP_FILE);
  let group: Group;
  try {
    group = parseGroup(await readJson(groupFile));
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') throw new DealerError(`${groupFile} not found`);
    if (e instanceof ConfigError || e instanceof SyntaxError) throw new DealerError(`${groupFile}: ${message(e)}`);
    throw e;
  }
  const warnings: string[] = [];
  progress('checking key consistency');
  let keysError: string | undefined;
  try {
    verifyGroupKeys(group);
  } catch (e) {
    keysError = message(e);
  }
  let rsa: RsaReport | undefined;
  if (group.rsa !== undefined) {
    progress('checking the RSA certificates');
    rsa = await checkRsa(dir, group, warnings);
  }
  const replicas: ReplicaReport[] = [];
  progress(`checking ${group.replicas.length} secrets files`);
  for (const r of group.replicas) replicas.push(await checkReplica(dir, group, r.index));
  const expected = new Set([GROUP_FILE, ...group.replicas.map((r) => secretsFileName(r.id)), ...(group.rsa === undefined ? [] : [ROOT_CA_FILE, TSA_FILE])]);
  warnings.push(...(await readdir(dir)).filter((f) => !expected.has(f)).map((f) => `unexpected file ${path.join(dir, f)}`));
  const replicasOk = replicas.every((r) => r.status === 'ok' || (r.status === 'missing' && opts.allowMissing));
  return {
    ok: keysError === undefined && replicasOk && (rsa?.ok ?? true),
    dir,
    groupId: toHex(group.groupId),
    n: group.replicas.length,
    testOnly: group.testOnly,
    q3: true, // parseGroup rejects structures that are not Q3
    keysConsistent: keysError === undefined,
    ...(keysError === undefined ? {} : { keysError }),
    ...(rsa === undefined ? {} : { rsa }),
    replicas,
    warnings,
    group,
  };
}
