/**
 * One live process per folder: a lock file created exclusively, holding the owner's pid. A lock whose
 * owner is gone (crashed, killed) is taken over; a live owner is named in the error. Within one process a
 * folder is locked once (the pid cannot tell two holders in one process apart).
 */
import { closeSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { StoreLockedError } from './store-errors.ts';

const lockedHere = new Set<string>();

export class FolderLock {
  private released = false;
  /** A process that ends without release() (a signal's default exit, process.exit) still frees the folder. */
  private readonly onExit = () => this.release();

  private constructor(
    readonly dir: string,
    readonly path: string,
  ) {
    process.on('exit', this.onExit);
  }

  /**
   * Takes the lock `name` in `dir` (the folder must exist), or throws StoreLockedError saying who holds it.
   * `what` names the folder's use in that message ("one process per replica").
   */
  static take(dir: string, name: string, what: string): FolderLock {
    const path = join(dir, name);
    const key = resolve(path);
    if (lockedHere.has(key)) throw new StoreLockedError(`${dir} is already open in this process; ${what}`);
    for (let attempt = 0; attempt < 2; attempt++) {
      try {
        const fd = openSync(path, 'wx');
        try {
          writeFileSync(fd, `${process.pid}\n`);
        } finally {
          closeSync(fd);
        }
        lockedHere.add(key);
        return new FolderLock(dir, path);
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
        const owner = lockOwner(path);
        if (owner !== null && owner !== process.pid && pidAlive(owner)) throw new StoreLockedError(`${dir} is in use by process ${owner} (${path}); ${what}`);
        // The owner is gone (crashed or killed), or wrote nothing: take the folder over.
        rmSync(path, { force: true });
      }
    }
    throw new StoreLockedError(`could not lock ${path}`);
  }

  /** Releases the lock (once; a lock file another process took over meanwhile stays). */
  release(): void {
    if (this.released) return;
    this.released = true;
    process.off('exit', this.onExit);
    lockedHere.delete(resolve(this.path));
    if (lockOwner(this.path) === process.pid) rmSync(this.path, { force: true });
  }
}

function lockOwner(path: string): number | null {
  try {
    const pid = Number(readFileSync(path, 'utf8').trim());
    return Number.isSafeInteger(pid) && pid > 0 ? pid : null;
  } catch {
    return null;
  }
}

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}
