/**
 * Memory of whole replicas against log length (issue 14: "heap flat after warm-up, measured, not
 * estimated"): four replica hosts (workers/core/host.ts: engine, host core, outboxes, the standard
 * applications) on SQLite stores in temp folders (the Node replica's store: history on disk), wired
 * directly to each other, with the fast insecure threshold crypto of the whole-replica simulator (same
 * control flow; real BLS would cost about half a second per epoch). `total` requests are submitted in
 * rounds of `perRound` per replica: plain requests of 100 bytes, notary stamps of random digests (`notary`:
 * each one a registration in the notary's state, in storage), or CA registrations of new names with real
 * Ed25519 proofs of possession (`ca`: each a record and a path of nodes in the CA's tree). After every
 * `every` ordered entries the heap is measured after full GCs (heap used + ArrayBuffers, all four replicas
 * in this one process, divided by four) with the process RSS and the bytes of replica 0's database per
 * entry, and refusals are counted (`memory-full` must never appear). At the end replica 0 is loaded again
 * from its database and the load is timed (snapshot, journal replay with the simulator's crypto).
 *
 *   node --expose-gc --import tsx infra/bench/memory-hosts.ts [total=1000000] [perRound=2000] [every=100000] [plain|notary|ca]
 *
 * One JSON line per measurement on stdout, progress on stderr.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { thresholdStructure } from '../../shared/quorum/structure-file.ts';
import { ReplicaHost } from '../../workers/core/host.ts';
import type { PeerTransport } from '../../workers/core/host.ts';
import { SqliteStore } from '../../workers/node/sqlite-store.ts';
import { simGroup } from '../sim/replica/group.ts';
import { encodeStampEntry } from '../../shared/app/notary.ts';
import { encodeCaRequest, registerRequest } from '../../shared/app/ca-codec.ts';

const gc = (globalThis as { gc?: () => void }).gc;
if (!gc) throw new Error('run with node --expose-gc');
const total = Number(process.argv[2] ?? 1_000_000);
const perRound = Number(process.argv[3] ?? 2000);
const every = Number(process.argv[4] ?? 100_000);
const kind = process.argv[5] ?? 'plain';
if (!['plain', 'notary', 'ca'].includes(kind)) throw new Error(`kind must be plain, notary or ca, not ${kind}`);
let made = 0;
const caKey = new Uint8Array(32).fill(7);
const request = (): Uint8Array => {
  made++;
  if (kind === 'notary') return encodeStampEntry({ digest: randomBytes(32).toString('hex') });
  if (kind === 'ca') return encodeCaRequest(registerRequest(sim.group.groupId, `n${made}-${randomBytes(4).toString('hex')}`, caKey, 1000));
  return new Uint8Array(randomBytes(100));
};

const sim = simGroup(thresholdStructure(4, 1), 4 << 20);
const dirs = sim.secrets.map(() => mkdtempSync(join(tmpdir(), 'sintra-memhosts-')));
const stores = await Promise.all(dirs.map((d) => SqliteStore.open(d)));
let clock = 1_000_000;
const hosts: ReplicaHost[] = [];
for (let i = 0; i < 4; i++) {
  const transport: PeerTransport = {
    post: async (to, frame) => {
      const r = await hosts[to]!.receiveFrame(frame);
      return { status: r.status, body: r.body };
    },
  };
  hosts.push(new ReplicaHost(sim.group, sim.secrets[i]!, stores[i]!, transport, () => clock, { bootstrap: true, context: sim.context(i), engine: { ab: { maxBatch: 4096 } }, retryMinMs: 1, retryMaxMs: 10, deferRetryMs: 1 }));
}
const settle = async (): Promise<void> => {
  for (let round = 0; round < 100_000; round++) {
    await Promise.all(hosts.map((h) => h.flush()));
    if (!hosts.some((h) => h.outboxSizes().some((x) => x > 0))) return;
    clock += 20;
  }
  throw new Error('did not settle');
};
const measure = (): { heapMb: number; rssMb: number } => {
  gc();
  gc();
  const m = process.memoryUsage();
  return { heapMb: Math.round(((m.heapUsed + m.arrayBuffers) / 4 / 2 ** 20) * 10) / 10, rssMb: Math.round(m.rss / 2 ** 20) };
};

const refusals = new Map<string, number>();
const t0 = performance.now();
let submitted = 0;
let next = every;
console.log(JSON.stringify({ entries: 0, ...measure(), refusals: {} }));
while (submitted < total) {
  for (let i = 0; i < 4 && submitted < total; i++) {
    const k = Math.min(perRound, total - submitted);
    const results = await hosts[i]!.submitMany(Array.from({ length: k }, () => ({ bytes: request(), encrypted: false })));
    for (const r of results) if (!r.ok) refusals.set(r.error.code, (refusals.get(r.error.code) ?? 0) + 1);
    submitted += k;
  }
  await settle();
  const size = hosts[0]!.logSize;
  if (size >= next || submitted >= total) {
    const m = measure();
    const est = hosts[0]!.metrics().engine.memory.estimatedBytes;
    const bytes = (await stores[0]!.sizeBytes()) ?? 0;
    console.log(JSON.stringify({ kind, entries: size, ...m, estimateMb: Math.round((est / 2 ** 20) * 10) / 10, dbBytesPerEntry: Math.round(bytes / size), seconds: Math.round((performance.now() - t0) / 1000), refusals: Object.fromEntries(refusals) }));
    next = size + every;
  }
  process.stderr.write(`  ${size} of ${total} ordered (${Math.round((performance.now() - t0) / 1000)} s)\n`);
}
// Restart: replica 0 loaded again from its database (what a process restart does).
const again = new ReplicaHost(sim.group, sim.secrets[0]!, stores[0]!, { post: async () => ({ status: 503, body: null }) }, () => clock, { context: sim.context(0), engine: { ab: { maxBatch: 4096 } } });
const r0 = performance.now();
await again.init();
const m = again.metrics();
console.log(JSON.stringify({ kind, restart: { entries: again.logSize, ms: Math.round(performance.now() - r0), replayedEvents: m.replayedEvents } }));
for (const s of stores) await s.close();
for (const d of dirs) rmSync(d, { recursive: true, force: true });
