/**
 * The execution stage (docs/design.md section 11): ordering appends an epoch's entries to the log, and
 * execution applies them to the replicated applications afterwards, against the applications' state in
 * storage (execute after order, as in BFT-SMaRt and Hyperledger Fabric; Cachin, "Distributing trust on the
 * Internet", DSN 2001, section 5 only needs every replica to apply the same entries in the same order).
 * The engine lists the epochs that wait (ReplicaEngine.awaitingExecution); an `Execution` runs the
 * first of them, and its outcome (the applications' digests) goes back to the engine as a journaled
 * `executed` event in the same storage write as the state changes, so state and journal never disagree.
 *
 * Storage is asynchronous on some runtimes while applications are synchronous. So an execution reads
 * through what has been loaded: a read of a key not loaded yet stops the run (AppStateMissing), the
 * caller loads the key and calls run() again, and the run resumes at the entry it stopped in, that
 * entry's writes dropped and the entry applied again from the start. Applications are deterministic, so
 * the result is the one a run with everything loaded gives. Each application's `reads` hint names most
 * keys before the first run (one storage read per epoch instead of one per entry).
 */
import { AppStateMissing } from '../app/types.ts';
import type { AppState, ReplicatedApp } from '../app/types.ts';
import type { AppDigest } from '../app/state.ts';
import type { AppStateWrite } from './storage.ts';
import { invariant } from '../invariant/index.ts';

/** An entry as execution needs it. */
export interface ExecutedEntry {
  readonly index: number;
  readonly epoch: number;
  readonly entry: Uint8Array;
}

/** One application's key, to load from storage. */
export interface AppKey {
  readonly app: string;
  readonly key: string;
}

/** A loaded value (null: storage has no value under the key). */
export interface LoadedValue extends AppKey {
  readonly value: Uint8Array | null;
}

export interface ExecutionResult {
  readonly epoch: number;
  readonly digests: AppDigest[];
  /** State changes, in order, for the storage write (kept responses included). */
  readonly writes: AppStateWrite[];
}

/** Where a kept response to the entry at `index` is stored in its application's state (the '~' keys are the replica's). */
export function responseKey(index: number): string {
  return `~r/${index}`;
}

/**
 * Estimated heap bytes of one cached value besides its key's and value's own bytes: the Map entry, the key
 * string's header and the Uint8Array object with its buffer (measured with node --expose-gc: 421 bytes per
 * item for a notary key of 66 characters and a 16-byte value).
 */
const CACHE_ITEM_BYTES = 330;

/** One string for an application's key (the maps of values below). */
export function appValueKey(app: string, key: string): string {
  return `${app}\u0000${key}`;
}

/** Values known to be in storage now, bounded: loaded reads and committed writes (LRU by bytes). */
export class AppValueCache {
  private readonly map = new Map<string, Uint8Array | null>();
  private bytes = 0;

  constructor(readonly budgetBytes = 4 * 1024 * 1024) {}

  get(app: string, key: string): Uint8Array | null | undefined {
    const k = appValueKey(app, key);
    const v = this.map.get(k);
    if (v === undefined) return undefined;
    this.map.delete(k); // most recently used last
    this.map.set(k, v);
    return v;
  }

  set(app: string, key: string, value: Uint8Array | null): void {
    const k = appValueKey(app, key);
    const old = this.map.get(k);
    if (old !== undefined) this.bytes -= k.length + (old?.length ?? 0) + CACHE_ITEM_BYTES;
    this.map.delete(k);
    this.map.set(k, value);
    this.bytes += k.length + (value?.length ?? 0) + CACHE_ITEM_BYTES;
    if (this.bytes <= this.budgetBytes) return;
    // Evict the least recently used down to 7/8 of the budget in one pass, not one item per set: an
    // iteration of a V8 Map starts by stepping over the slots of entries deleted at its front, so evicting
    // one item per set cost 7 us per set at 10,000 items (9% of a state transfer's CPU).
    const target = this.budgetBytes - (this.budgetBytes >> 3);
    for (const [first, v] of this.map) {
      if (this.bytes <= target) break;
      this.map.delete(first);
      this.bytes -= first.length + (v?.length ?? 0) + CACHE_ITEM_BYTES;
    }
  }

  get size(): number {
    return this.map.size;
  }
}

/** Writes made by one application, over what is loaded. */
class Overlay implements AppState {
  /** The epoch's writes so far (null: deleted). */
  readonly written = new Map<string, Uint8Array | null>();
  /** The current step's writes (one entry, or endEpoch), merged into `written` when it completes. */
  private scratch = new Map<string, Uint8Array | null>();

  constructor(
    private readonly app: string,
    private readonly loaded: (key: string) => Uint8Array | null | undefined,
  ) {}

  get(key: string): Uint8Array | undefined {
    if (this.scratch.has(key)) return this.scratch.get(key) ?? undefined;
    if (this.written.has(key)) return this.written.get(key) ?? undefined;
    const v = this.loaded(key);
    if (v === undefined) throw new AppStateMissing(key);
    return v ?? undefined;
  }

  put(key: string, value: Uint8Array): void {
    if (!(value instanceof Uint8Array)) throw new TypeError(`${this.app} put a non-byte value under ${key}`);
    this.scratch.set(key, value.slice());
  }

  delete(key: string): void {
    this.scratch.set(key, null);
  }

  keep(): void {
    for (const [k, v] of this.scratch) this.written.set(k, v);
    this.scratch.clear();
  }

  drop(): void {
    this.scratch.clear();
  }
}

export class Execution {
  private readonly loaded = new Map<string, Map<string, Uint8Array | null>>();
  private readonly overlays: Overlay[];
  /** Next entry to apply, and within it the next application (an entry's apps run in app order). */
  private next = 0;
  private nextApp = 0;
  private ended = 0;
  private result: ExecutionResult | null = null;

  constructor(
    private readonly apps: readonly ReplicatedApp[],
    readonly epoch: number,
    /** The epoch's agreed time (AppPosition.time). */
    readonly time: number,
    private readonly entries: readonly ExecutedEntry[],
    private readonly keepResponsesOf: readonly string[],
    private readonly cache: AppValueCache | null = null,
    /** Writes of earlier epochs executed and not in storage yet (HostCore.execute), by appValueKey: they win over storage. */
    private readonly unwritten: ReadonlyMap<string, AppStateWrite> | null = null,
  ) {
    entries.forEach((e, k) => invariant(e.epoch === epoch && (k === 0 || e.index === entries[k - 1]!.index + 1), () => `execution of epoch ${epoch}: entry ${e.index} of epoch ${e.epoch} out of place`));
    for (const a of apps) this.loaded.set(a.name, new Map());
    this.overlays = apps.map((a) => new Overlay(a.name, (key) => this.valueOf(a.name, key)));
  }

  private valueOf(app: string, key: string): Uint8Array | null | undefined {
    const v = this.loaded.get(app)!.get(key);
    if (v !== undefined) return v;
    const w = this.unwritten?.get(appValueKey(app, key));
    if (w) {
      this.loaded.get(app)!.set(key, w.value);
      return w.value;
    }
    const c = this.cache?.get(app, key);
    if (c !== undefined) this.loaded.get(app)!.set(key, c);
    return c;
  }

  /** Keys the applications' hints name that are not loaded yet (load them before the first run). */
  prefetch(): AppKey[] {
    const out: AppKey[] = [];
    const seen = new Set<string>();
    for (const a of this.apps) {
      if (!a.reads) continue;
      for (const e of this.entries) {
        let keys: readonly string[];
        try {
          keys = a.reads(e.entry);
        } catch {
          continue; // only a hint
        }
        for (const key of keys) {
          const id = `${a.name}\u0000${key}`;
          if (seen.has(id) || this.valueOf(a.name, key) !== undefined) continue;
          seen.add(id);
          out.push({ app: a.name, key });
        }
      }
    }
    return out;
  }

  /** Values read from storage for this execution. */
  supply(values: readonly LoadedValue[]): void {
    for (const v of values) {
      const m = this.loaded.get(v.app);
      if (!m) continue;
      m.set(v.key, v.value);
      this.cache?.set(v.app, v.key, v.value);
    }
  }

  /**
   * Runs on from where it stopped: the key that is missing (load it, supply it, run again), or the
   * result once every entry, every endEpoch and every digest ran.
   */
  run(): { readonly missing: AppKey } | { readonly done: ExecutionResult } {
    if (this.result) return { done: this.result };
    const step = (i: number, f: (state: AppState) => void): AppKey | null => {
      const o = this.overlays[i]!;
      try {
        f(o);
      } catch (e) {
        o.drop();
        if (e instanceof AppStateMissing) return { app: this.apps[i]!.name, key: e.key };
        throw e;
      }
      o.keep();
      return null;
    };
    for (; this.next < this.entries.length; this.next++, this.nextApp = 0) {
      const e = this.entries[this.next]!;
      for (; this.nextApp < this.apps.length; this.nextApp++) {
        const a = this.apps[this.nextApp]!;
        const missing = step(this.nextApp, (state) => {
          let r: Uint8Array | null;
          try {
            r = a.apply(e.entry, { index: e.index, epoch: e.epoch, time: this.time }, state);
          } catch (err) {
            if (err instanceof AppStateMissing) throw err;
            // A bug every honest replica hits identically (apply is deterministic): the entry counts as not
            // for this application rather than wedging the replica, which would hit it again forever.
            r = null;
          }
          if (r && this.keepResponsesOf.includes(a.name)) state.put(responseKey(e.index), r);
        });
        if (missing) return { missing };
      }
    }
    for (; this.ended < this.apps.length; this.ended++) {
      const a = this.apps[this.ended]!;
      if (!a.endEpoch) continue;
      const missing = step(this.ended, (state) => a.endEpoch!(this.epoch, state));
      if (missing) return { missing };
    }
    const digests: AppDigest[] = [];
    for (const [i, a] of this.apps.entries()) {
      let d: Uint8Array | null = null;
      const missing = step(i, (state) => {
        d = a.digest(state);
      });
      if (missing) return { missing };
      invariant(d !== null && (d as Uint8Array).length === 32, () => `${a.name}'s digest is not 32 bytes`);
      digests.push({ name: a.name, digest: d! });
    }
    const writes: AppStateWrite[] = [];
    this.apps.forEach((a, i) => {
      for (const [key, value] of this.overlays[i]!.written) writes.push({ app: a.name, key, value });
    });
    this.result = { epoch: this.epoch, digests, writes };
    return { done: this.result };
  }
}

/** Records committed writes in the cache (after the storage write that holds them succeeded). */
export function cacheWrites(cache: AppValueCache, writes: readonly AppStateWrite[]): void {
  for (const w of writes) if (!w.key.startsWith('~')) cache.set(w.app, w.key, w.value);
}
