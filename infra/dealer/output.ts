/**
 * Writing the dealer's output: all or nothing. Files go to a fresh private temporary directory next to the
 * target and are fsynced; the directory is then renamed onto the target in one step (rename(2) also
 * replaces an empty directory). An existing non-empty target is refused before any work, and again by the
 * rename itself if something appeared there meanwhile. On any error the temporary directory is removed.
 */
import { lstat, mkdtemp, open, readdir, rename, rm } from 'node:fs/promises';
import path from 'node:path';

export class DealerError extends Error {
  override readonly name = 'DealerError';
}

export interface OutputFile {
  /** A plain file name (no directories). */
  readonly name: string;
  readonly content: string;
  /** 0o600 for secrets, 0o644 for public files. */
  readonly mode: number;
}

function errno(e: unknown): string | undefined {
  return (e as NodeJS.ErrnoException | undefined)?.code;
}

/** Throws DealerError unless `dir` is absent or an empty directory, and its parent exists. */
export async function checkOutputDir(dir: string): Promise<void> {
  const target = path.resolve(dir);
  let st;
  try {
    st = await lstat(target);
  } catch (e) {
    if (errno(e) !== 'ENOENT') throw new DealerError(`cannot inspect ${dir}: ${(e as Error).message}`);
  }
  if (st) {
    if (!st.isDirectory()) throw new DealerError(`${dir} exists and is not a directory; refusing to overwrite it`);
    const entries = await readdir(target);
    if (entries.length > 0) throw new DealerError(`${dir} is not empty (it holds ${entries.sort()[0]}); refusing to overwrite existing output`);
  }
  const parent = path.dirname(target);
  try {
    if (!(await lstat(parent)).isDirectory()) throw new DealerError(`${path.dirname(dir)} is not a directory`);
  } catch (e) {
    if (e instanceof DealerError) throw e;
    throw new DealerError(`parent directory ${path.dirname(dir)} does not exist`);
  }
}

async function writeFileSynced(file: string, content: string, mode: number): Promise<void> {
  const handle = await open(file, 'wx', mode);
  try {
    await handle.writeFile(content, 'utf8');
    await handle.chmod(mode); // exact mode whatever the umask
    await handle.sync();
  } finally {
    await handle.close();
  }
}

async function syncDir(dir: string): Promise<void> {
  try {
    const h = await open(dir, 'r');
    try {
      await h.sync();
    } finally {
      await h.close();
    }
  } catch {
    // Best effort: not every platform can fsync a directory.
  }
}

/** Writes `files` into `dir` (created with mode 0700) atomically. */
export async function writeOutputDir(dir: string, files: readonly OutputFile[]): Promise<string[]> {
  await checkOutputDir(dir);
  const names = new Set<string>();
  for (const f of files) {
    if (f.name !== path.basename(f.name) || f.name.startsWith('.') || names.has(f.name)) throw new DealerError(`bad output file name ${JSON.stringify(f.name)}`);
    names.add(f.name);
  }
  const target = path.resolve(dir);
  const tmp = await mkdtemp(path.join(path.dirname(target), `.${path.basename(target)}.tmp-`));
  try {
    for (const f of files) await writeFileSynced(path.join(tmp, f.name), f.content, f.mode);
    await syncDir(tmp);
    try {
      await rename(tmp, target);
    } catch (e) {
      const code = errno(e);
      if (code === 'ENOTEMPTY' || code === 'EEXIST' || code === 'ENOTDIR') throw new DealerError(`${dir} appeared or changed while dealing; refusing to overwrite it`);
      throw e;
    }
  } catch (e) {
    await rm(tmp, { recursive: true, force: true });
    throw e;
  }
  await syncDir(path.dirname(target));
  return files.map((f) => path.join(dir, f.name));
}
