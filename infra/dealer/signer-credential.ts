/**
 * Credential files of the signing service (docs/signer.md): a client's or an administrator's name and
 * Ed25519 key, JSON {"format": "sintra-edge/signer-credential@1", "name", "secretKey" (the 32-byte seed,
 * hex), "publicKey" (hex)}, written with mode 0600 and never overwritten. The public half goes into the
 * policy (clients.NAME.publicKey, admins.keys.NAME); the secret half never leaves the machine: requests
 * and approvals are signed locally.
 */
import { randomBytes } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
import { fromHex, toHex } from '../../shared/crypto/bytes.ts';
import { ed25519PublicKey } from '../../shared/crypto/ed25519.ts';
import { NAME_PATTERN } from '../../shared/app/signer-policy.ts';

export const CREDENTIAL_FORMAT = 'sintra-edge/signer-credential@1';

export interface SignerCredential {
  readonly name: string;
  readonly secretKey: Uint8Array;
  readonly publicKey: string;
}

export class CredentialError extends Error {
  override readonly name = 'CredentialError';
}

export function newCredential(name: string, seed: Uint8Array = new Uint8Array(randomBytes(32))): SignerCredential {
  if (!NAME_PATTERN.test(name)) throw new CredentialError(`name ${JSON.stringify(name)}: 1-64 of a-z, 0-9, '.', '_', '-', starting with a letter or digit`);
  return { name, secretKey: seed, publicKey: toHex(ed25519PublicKey(seed)) };
}

/** Writes a credential (mode 0600); refuses an existing file (it may be the only copy of a key). */
export async function writeCredential(path: string, c: SignerCredential): Promise<void> {
  const text = `${JSON.stringify({ format: CREDENTIAL_FORMAT, name: c.name, secretKey: toHex(c.secretKey), publicKey: c.publicKey }, null, 2)}\n`;
  try {
    await writeFile(path, text, { mode: 0o600, flag: 'wx' });
  } catch (e) {
    if ((e as { code?: unknown }).code === 'EEXIST') throw new CredentialError(`${path} exists (it may be the only copy of a key); credentials are never overwritten: give another --out`);
    throw new CredentialError(`cannot write ${path}: ${e instanceof Error ? e.message : String(e)}`);
  }
}

export async function readCredential(path: string): Promise<SignerCredential> {
  let o: unknown;
  try {
    o = JSON.parse(await readFile(path, 'utf8'));
  } catch (e) {
    throw new CredentialError(`cannot read credential ${path}: ${e instanceof SyntaxError ? 'not JSON' : e instanceof Error ? e.message : String(e)}`);
  }
  const c = o as { format?: unknown; name?: unknown; secretKey?: unknown; publicKey?: unknown } | null;
  if (c?.format !== CREDENTIAL_FORMAT || typeof c.name !== 'string' || !NAME_PATTERN.test(c.name) || typeof c.secretKey !== 'string' || !/^[0-9a-f]{64}$/.test(c.secretKey)) {
    throw new CredentialError(`${path} is not a ${CREDENTIAL_FORMAT} credential (make one with: sintra signer keygen --name NAME --out FILE)`);
  }
  const secretKey = fromHex(c.secretKey, 32);
  const publicKey = toHex(ed25519PublicKey(secretKey));
  if (c.publicKey !== publicKey) throw new CredentialError(`${path}: publicKey does not belong to secretKey`);
  return { name: c.name, secretKey, publicKey };
}
