/**
 * Output files that are a user's evidence (receipts, stamps, CA statements): never overwritten unless
 * --force, checked before anything is submitted (a refusal after the request was ordered would leave the
 * user without the file and the request spent), and written whole (a temporary file renamed or linked into
 * place), so a crash never leaves half a receipt.
 */
import { constants } from 'node:fs';
import { access, link, rename, rm, stat, writeFile } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { UsageError } from './deal.ts';
import { fsReason } from './verify.ts';

export class OutFileError extends Error {}

/** Throws OutFileError if `path` exists (without force) or cannot be written; changes nothing. */
export async function checkOutFile(path: string, force: boolean | undefined): Promise<void> {
  let exists = false;
  try {
    const s = await stat(path);
    if (s.isDirectory()) throw new OutFileError(`cannot write ${path}: is a directory`);
    exists = true;
  } catch (e) {
    if (e instanceof OutFileError) throw e;
    if ((e as { code?: string }).code !== 'ENOENT') throw new OutFileError(`cannot write ${path}: ${fsReason(e)}`);
  }
  if (exists && !force) throw new OutFileError(`${path} exists (it may be evidence you keep); give --force to overwrite it, or another --out`);
  try {
    await access(dirname(path), constants.W_OK);
    if (exists) await access(path, constants.W_OK);
  } catch (e) {
    throw new OutFileError(`cannot write ${path}: ${fsReason(e)}`);
  }
}

/** The --out / --force options of a command: usage first (--force alone), then checkOutFile. */
export async function checkOutOption(opts: { readonly out?: string | undefined; readonly force?: boolean | undefined }): Promise<void> {
  if (opts.force && opts.out === undefined) throw new UsageError('--force goes with --out');
  if (opts.out !== undefined) await checkOutFile(opts.out, opts.force);
}

/** Writes `text` (or bytes) to `path` whole; without force, fails if the file appeared meanwhile. */
export async function writeOutFile(path: string, text: string | Uint8Array, force: boolean | undefined): Promise<void> {
  const tmp = join(dirname(path), `.${basename(path)}.${process.pid}.tmp`);
  try {
    await writeFile(tmp, text, { flag: 'wx' });
    if (force) await rename(tmp, path);
    else await link(tmp, path);
  } catch (e) {
    const code = (e as { code?: string }).code;
    throw new OutFileError(code === 'EEXIST' ? `${path} appeared while this command ran; not overwritten (give --force to overwrite)` : `cannot write ${path}: ${fsReason(e)}`);
  } finally {
    await rm(tmp, { force: true });
  }
}
