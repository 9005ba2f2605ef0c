/**
 * The log in the C2SP formats (docs/formats.md, section 5a): `GET /checkpoint`, the latest signed
 * checkpoint as a tlog-checkpoint signed note (shared/log/checkpoint-note.ts), and `GET /tile/...`, the
 * tlog-tiles resources (shared/log/tlog-tiles.ts) read from the stored Merkle nodes and entries, so that
 * tile clients, mirrors and CDNs can fetch and verify the whole log.
 */
import type { Context } from 'hono';
import { checkpointNote } from '../../shared/log/checkpoint-note.ts';
import { nodeKey } from '../../shared/log/merkle-nodes.ts';
import { encodeEntryBundle, parseTilePath, tileEnd, tileNodes } from '../../shared/log/tlog-tiles.ts';
import type { ReplicaHost } from './host.ts';
import { fail, unavailable } from './http.ts';
import { IMMUTABLE } from './openapi.ts';
import type { RouteSpec } from './openapi.ts';
import { BINARY, TEXT } from './api-schemas.ts';

function binary(c: Context, bytes: Uint8Array): Response {
  return c.body(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength) as ArrayBuffer, 200, { 'content-type': 'application/octet-stream' });
}

export function tileRoutes(host: ReplicaHost): RouteSpec[] {
  return [
    {
      method: 'get',
      path: '/checkpoint',
      operationId: 'checkpointNote',
      tag: 'log',
      summary: 'The latest signed checkpoint as a C2SP tlog-checkpoint signed note (text/plain)',
      responses: { '200': { description: 'the signed note (docs/formats.md, section 6a)', type: 'text/plain', schema: TEXT }, '404': 'nothing certified yet' },
      cache: 'public, max-age=1',
      handler: async (c) => {
        const down = await unavailable(c, host);
        if (down) return down;
        const cp = host.latestCheckpoint();
        if (!cp) return fail(c, 404, 'no-checkpoint', 'no checkpoint has been signed yet');
        c.header('content-type', 'text/plain; charset=utf-8');
        return c.body(checkpointNote(host.group.groupId, host.group.kernel.groupKey, cp));
      },
    },
    {
      method: 'get',
      path: '/tile/*',
      operationId: 'tile',
      tag: 'log',
      summary: 'C2SP tlog-tiles: tile/<L>/<N>[.p/<W>] (Merkle hashes) and tile/entries/<N>[.p/<W>] (entry bundles)',
      responses: {
        '200': { description: 'the tile: 32-byte hashes, or an entry bundle', type: 'application/octet-stream', schema: BINARY },
        '400': 'not a tile path',
        '404': 'the log is not that long yet',
        '422': 'an entry longer than 65,535 bytes (an entry bundle cannot carry it)',
      },
      cache: IMMUTABLE,
      handler: async (c) => {
        const path = c.req.path.slice(c.req.path.indexOf('/tile/') + '/tile/'.length);
        const t = parseTilePath(path);
        if (!t) return fail(c, 400, 'bad-tile-path', 'expected tile/<L>/<N>[.p/<W>] or tile/entries/<N>[.p/<W>] (c2sp.org/tlog-tiles)');
        const down = await unavailable(c, host);
        if (down) return down;
        const end = tileEnd(t);
        if (!Number.isSafeInteger(end) || end > host.logSize) return fail(c, 404, 'no-such-tile', `the tile needs ${Number.isSafeInteger(end) ? end : 'more'} entries; the log has ${host.logSize}`);
        if (t.kind === 'entries') {
          const start = t.index * 256;
          const entries = await host.entries(start, start + t.width);
          if (entries.length !== t.width) throw new Error(`storage holds ${entries.length} of entries ${start}..${start + t.width - 1}`);
          try {
            return binary(c, encodeEntryBundle(entries.map((e) => e.entry)));
          } catch (e) {
            if (e instanceof RangeError) return fail(c, 422, 'entry-too-long-for-bundle', e.message);
            throw e;
          }
        }
        const keys = tileNodes(t);
        const nodes = await host.readNodes(keys);
        const out = new Uint8Array(32 * keys.length);
        keys.forEach((k, i) => {
          const h = nodes.get(nodeKey(k.level, k.index));
          if (!h) throw new Error(`storage lacks Merkle node ${nodeKey(k.level, k.index)}`);
          out.set(h, 32 * i);
        });
        return binary(c, out);
      },
    },
  ];
}
