/**
 * A long outage on real backends (issue 14), twice: the stopped replica is a Node replica on the file store
 * (replica 3), then a Durable Object in Miniflare (replica 0, in a Miniflare instance of its own so it can
 * stop alone), while the others (one Durable Object, Node replicas on files) order EPOCHS epochs (1,000 by
 * default; SINTRA_LONG_EPOCHS to change; SINTRA_LONG_LAGGARDS=node or worker runs one). The peers' outboxes
 * for it stay bounded throughout (they drop the messages of epochs a signed checkpoint covers). Started
 * again, it catches up by state transfer and certifies new requests. The first peer it asks is reached
 * through a proxy that corrupts what it serves for state transfer (entries with one byte changed,
 * checkpoints with a broken signature, entries missing): every such bundle is refused and it takes the
 * state from another peer. Then its storage is wiped; started again without SINTRA_BOOTSTRAP it rejoins
 * (shared/replica/rejoin.ts) and certifies again.
 *
 * Slow (real threshold crypto for every epoch, minutes each): in `npm run test:soak`.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:http';
import type { Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { waitUntilReady } from '../../infra/cluster/local-cluster.ts';
import { startMixedCluster } from '../../infra/cluster/mixed-cluster.ts';
import type { MixedCluster } from '../../infra/cluster/mixed-cluster.ts';
import { parseGroup } from '../../shared/config/group.ts';
import { receiptFromJson, verifyReceipt } from '../../shared/log/checkpoint.ts';
import { getJson, http, sleep, waitFor } from '../helpers/http.ts';
import { freePortRange } from '../helpers/ports.ts';

const EPOCHS = Number(process.env['SINTRA_LONG_EPOCHS'] ?? 1000);
const WANTED = (process.env['SINTRA_LONG_LAGGARDS'] ?? 'node,worker').split(',');

/** Who stops (the laggard), who lies to it (the proxy), and which replicas are Node replicas. */
const CASES = [
  { kind: 'node', what: 'a Node replica on files', laggard: 3, liar: 0, nodeIndices: [1, 2, 3], separateWorkers: false },
  { kind: 'worker', what: 'a Durable Object in Miniflare', laggard: 0, liar: 1, nodeIndices: [1, 2, 3], separateWorkers: true },
].filter((c) => WANTED.includes(c.kind));

/** A proxy to `target` that corrupts, in turn, every state-transfer answer (GET /v1/log/entries, /v1/log/checkpoint). */
function corruptingProxy(port: number, target: () => string): { server: Server; served: { corrupted: number } } {
  const served = { corrupted: 0 };
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      void (async () => {
        try {
          const url = `${target()}${req.url}`;
          const body = chunks.length > 0 ? Buffer.concat(chunks) : undefined;
          const upstream = await fetch(url, { method: req.method, headers: { 'content-type': req.headers['content-type'] ?? 'application/octet-stream' }, ...(body ? { body } : {}) });
          let out = Buffer.from(await upstream.arrayBuffer());
          const path = (req.url ?? '').split('?')[0];
          if (req.method === 'GET' && upstream.status === 200 && (path === '/v1/log/entries' || path === '/v1/log/checkpoint')) {
            const json = JSON.parse(out.toString('utf8')) as { entries?: { data: string }[]; signature?: string };
            const how = served.corrupted++ % 3;
            if (json.entries && json.entries.length > 0) {
              if (how === 2) json.entries.pop();
              else {
                const e = json.entries[json.entries.length >> 1]!;
                e.data = (e.data[0] === 'A' ? 'B' : 'A') + e.data.slice(1);
              }
            } else if (json.signature) {
              json.signature = json.signature.slice(0, -2) + (json.signature.endsWith('00') ? '01' : '00');
            }
            out = Buffer.from(JSON.stringify(json));
          }
          res.writeHead(upstream.status, { 'content-type': upstream.headers.get('content-type') ?? 'application/json' });
          res.end(out);
        } catch (e) {
          res.writeHead(502);
          res.end(String(e));
        }
      })();
    });
  });
  server.listen(port, '127.0.0.1');
  return { server, served };
}

describe.each(CASES)('a long outage of $what: bounded outboxes, state transfer past a lying peer, rejoin after a wipe', ({ laggard: LAGGARD, liar: LIAR, nodeIndices, separateWorkers }) => {
  let dataDir: string;
  let cluster: MixedCluster;
  let proxy: ReturnType<typeof corruptingProxy>;

  beforeAll(async () => {
    dataDir = mkdtempSync(join(tmpdir(), 'sintra-long-'));
    const [base, proxyPort] = [await freePortRange(4), (await freePortRange(1))];
    let targetUrl = '';
    proxy = corruptingProxy(proxyPort, () => targetUrl);
    cluster = await startMixedCluster({
      dataDir,
      n: 4,
      basePort: base,
      nodeIndices,
      separateWorkers,
      peerUrl: (from, to, url) => (from === LAGGARD && to === LIAR ? `http://127.0.0.1:${proxyPort}` : url),
    });
    targetUrl = cluster.urls[LIAR]!;
    await waitUntilReady(cluster.urls, 90_000);
  }, 240_000);

  afterAll(async () => {
    await cluster?.dispose();
    proxy?.server.close();
    if (dataDir) rmSync(dataDir, { recursive: true, force: true });
  });

  it(`stopped while the others order ${EPOCHS} epochs, it comes back by transfer; wiped, it rejoins`, async () => {
    const group = parseGroup(JSON.parse(readFileSync(cluster.groupPath, 'utf8')));
    const urls = cluster.urls;
    const live = [0, 1, 2, 3].filter((i) => i !== LAGGARD);
    let sent = 0;
    let load = true;
    const clients = (async () => {
      while (load) {
        const res = await http(`${urls[live[sent % 3]!]}/v1/requests`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ text: `long ${sent}` }) }).catch(() => null);
        await res?.body?.cancel();
        if (res && res.status < 300) sent++;
        await sleep(20);
      }
    })();
    const checkpoint = async (i: number) => (await getJson(urls[i]!, '/v1/log/checkpoint')).json as { size: number; epoch: number };
    let maxOutbox = 0;
    try {
      const watch = live[0]!;
      await waitFor(async () => ((await checkpoint(watch).catch(() => null))?.size ?? 0) > 3 || null, 'a first checkpoint', 120_000, 500);
      await cluster.kill(LAGGARD);
      const from = (await checkpoint(watch)).epoch;
      const t0 = Date.now();
      for (;;) {
        const cp = await checkpoint(watch).catch(() => null);
        const m = await Promise.all(live.map(async (i) => ((await getJson(urls[i]!, '/v1/metrics')).json as { outbox: number[] }).outbox[LAGGARD] ?? 0)).catch(() => [0]);
        maxOutbox = Math.max(maxOutbox, ...m);
        if (cp && cp.epoch >= from + EPOCHS) break;
        if (Date.now() - t0 > 60 * 60_000) throw new Error(`only ${cp?.epoch ?? '?'} - ${from} epochs in 60 minutes`);
        await sleep(2000);
      }
      const ms = Date.now() - t0;
      process.stderr.write(`long-outage (replica ${LAGGARD} stopped): ${EPOCHS} epochs in ${Math.round(ms / 1000)} s, ${sent} requests, peers' outboxes for the stopped replica at most ${maxOutbox} messages\n`);
      // Bounded: what 32 epochs (transferAfterEpochs) of messages are, not what 1,000 would be.
      expect(maxOutbox).toBeLessThan(3000);

      await cluster.start(LAGGARD);
      const target = (await checkpoint(watch)).size;
      await waitFor(async () => ((await checkpoint(LAGGARD)).size >= target ? true : null), 'the stopped replica to catch up', 600_000, 1000);
      const log = cluster.logTail(LAGGARD).join('\n');
      expect(log).toContain('state-transfer-refused');
      expect(log).toMatch(/"event":"state-transfer"/);
      expect(proxy.served.corrupted).toBeGreaterThan(0);

      // Wiped: started again without SINTRA_BOOTSTRAP, it finds out and rejoins.
      await cluster.kill(LAGGARD);
      const stateDir = cluster.stateDir(LAGGARD);
      expect(stateDir).not.toBeNull();
      rmSync(stateDir!, { recursive: true, force: true });
      await cluster.start(LAGGARD, { bootstrap: false });
      await waitFor(async () => {
        const m = (await getJson(urls[LAGGARD]!, '/v1/metrics')).json as { mode: string; rejoins: number };
        return m.mode === 'active' && m.rejoins === 1 ? m : null;
      }, 'the wiped replica to rejoin', 600_000, 1000);
    } finally {
      load = false;
      await clients;
    }
    const last = await http(`${urls[LAGGARD]}/v1/requests`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ text: 'after the outage' }) });
    const id = ((await last.json()) as { id: string }).id;
    await waitFor(async () => ((await Promise.all(urls.map((u) => getJson(u, `/v1/requests/${id}`)))).every((s) => s.json.status === 'certified') ? true : null), 'certified everywhere', 180_000, 500);
    const rec = await getJson(urls[LAGGARD]!, `/v1/receipts/${id}`);
    expect(verifyReceipt(group.kernel.groupKey, group.groupId, receiptFromJson(rec.json).receipt)).toEqual({ ok: true });
  }, 100 * 60_000);
});
