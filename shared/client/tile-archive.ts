/**
 * A log archive in the C2SP tlog-tiles layout (the `checkpoint` note and `tile/...` files a replica serves,
 * shared/log/tlog-tiles.ts), checked against the group: the note's signature, every entry bundle against
 * its level-0 tile, every higher tile against the full tiles below it, and the root of all leaves against
 * the signed root. Where the tiles come from (a replica, a folder, a CDN) is the caller's `read`.
 * Runtime-free.
 */
import type { Group } from '../config/group.ts';
import { bytesEqual } from '../crypto/bytes.ts';
import { verifyCheckpointNote } from '../log/checkpoint-note.ts';
import type { SignedCheckpoint } from '../log/checkpoint.ts';
import { leafHash, rootOf } from '../log/merkle.ts';
import { MerkleFrontier } from '../log/merkle-nodes.ts';
import { TILE_WIDTH, tilePath } from '../log/tlog-tiles.ts';
import type { TilePath } from '../log/tlog-tiles.ts';

/** Every tile of a tree of `size` entries, lowest level first, entry bundles with level 0. */
export function tilesOfSize(size: number): TilePath[] {
  const out: TilePath[] = [];
  for (let level = 0; Math.floor(size / TILE_WIDTH ** level) > 0; level++) {
    const count = Math.floor(size / TILE_WIDTH ** level);
    const tiles = Math.ceil(count / TILE_WIDTH);
    for (let index = 0; index < tiles; index++) {
      const width = Math.min(TILE_WIDTH, count - index * TILE_WIDTH);
      out.push({ kind: 'hashes', level, index, width });
      if (level === 0) out.push({ kind: 'entries', index, width });
    }
  }
  return out;
}

function splitBundle(bundle: Uint8Array): Uint8Array[] | null {
  const out: Uint8Array[] = [];
  for (let off = 0; off < bundle.length; ) {
    if (off + 2 > bundle.length) return null;
    const len = (bundle[off]! << 8) | bundle[off + 1]!;
    if (off + 2 + len > bundle.length) return null;
    out.push(bundle.subarray(off + 2, off + 2 + len));
    off += 2 + len;
  }
  return out;
}

const hashAt = (tile: Uint8Array, i: number) => tile.subarray(32 * i, 32 * i + 32);

export type ArchiveVerdict = { readonly ok: true; readonly checkpoint: SignedCheckpoint; readonly tiles: number } | { readonly ok: false; readonly reason: string };

/**
 * Checks the archive whose note is `note`; `read(path)` gives a file under `tile/` (a path of tilePath), or
 * null if absent. `onTile` sees every tile checked (progress, copying).
 */
export async function verifyTileArchive(group: Group, note: string, read: (path: string) => Promise<Uint8Array | null>, onTile?: (path: string, bytes: Uint8Array) => Promise<void> | void): Promise<ArchiveVerdict> {
  const v = verifyCheckpointNote(group.groupId, group.kernel.groupKey, note);
  if (!v.ok) return { ok: false, reason: `checkpoint: ${v.reason}` };
  const cp = v.checkpoint;
  const frontier = new MerkleFrontier();
  const tiles = tilesOfSize(cp.size);
  let hashes: Uint8Array | null = null;
  for (const t of tiles) {
    const path = tilePath(t);
    const bytes = await read(path);
    if (!bytes) return { ok: false, reason: `tile/${path} is missing` };
    if (t.kind === 'hashes') {
      if (bytes.length !== 32 * t.width) return { ok: false, reason: `tile/${path} holds ${bytes.length} bytes, not ${32 * t.width}` };
      if (t.level > 0) {
        // Each hash is the root of a full tile one level down.
        for (let i = 0; i < t.width; i++) {
          const below: TilePath = { kind: 'hashes', level: t.level - 1, index: t.index * TILE_WIDTH + i, width: TILE_WIDTH };
          const lower = await read(tilePath(below));
          if (!lower || lower.length !== 32 * TILE_WIDTH) return { ok: false, reason: `tile/${tilePath(below)} is missing or not full` };
          if (!bytesEqual(rootOf(Array.from({ length: TILE_WIDTH }, (_, k) => hashAt(lower, k))), hashAt(bytes, i))) return { ok: false, reason: `tile/${path}: hash ${i} is not the root of tile/${tilePath(below)}` };
        }
      }
      hashes = bytes;
    } else {
      const entries = splitBundle(bytes);
      if (!entries || entries.length !== t.width) return { ok: false, reason: `tile/${path} is not a bundle of ${t.width} entries` };
      for (let i = 0; i < entries.length; i++) {
        const leaf = leafHash(entries[i]!);
        if (!hashes || !bytesEqual(leaf, hashAt(hashes, i))) return { ok: false, reason: `tile/${path}: entry ${t.index * TILE_WIDTH + i} does not hash to its level-0 tile` };
        frontier.append(leaf);
      }
    }
    await onTile?.(path, bytes);
  }
  if (frontier.size !== cp.size || !bytesEqual(frontier.root(), cp.root)) return { ok: false, reason: `the entries give another root than the signed one for size ${cp.size}` };
  return { ok: true, checkpoint: cp, tiles: tiles.length };
}
