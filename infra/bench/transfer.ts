/**
 * State transfer and restart against log length (issue 14: "state-transfer rate", "restart time"): four
 * replica hosts (workers/core/host.ts, the standard applications) on SQLite stores in temp folders, with
 * real keys (a seeded test deal: the checkpoint routes carry real BLS signatures). Replica 3 is cut
 * off while the others order `total` plain requests of 100 bytes; their outboxes drop what is behind
 * their checkpoints (bounded outboxes), so replica 3 comes back by state transfer: it asks a peer over the
 * public log routes (Hono apps called in process: JSON and base64 as on the wire, no sockets) and takes the
 * entries in chunks. Measured: the transfer's wall time and rate, the outbox bytes the others held for
 * replica 3, and the time a replica with that log takes to load (restore the snapshot, replay the journal;
 * nothing of the log or the applications' state is read). Requests are plain (100 random bytes) or notary
 * stamps of random digests (`notary`: each one a registration in the notary's state in storage, executed by
 * every replica, and by replica 3 after its transfer).
 *
 *   node --import tsx infra/bench/transfer.ts [total=100000] [perRound=1000] [plain|notary]
 *
 * SINTRA_BENCH_PROFILE=FILE writes a V8 CPU profile of the catch-up (open it in Chrome DevTools).
 *
 * One JSON line per measurement on stdout, progress on stderr.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { thresholdStructure } from '../../shared/quorum/structure-file.ts';
import { deal } from '../../shared/config/deal.ts';
import { parseGroup, parseReplicaSecrets } from '../../shared/config/group.ts';
import { seededRandom } from '../../shared/crypto/random.ts';
import { replicaApp } from '../../workers/core/app.ts';
import { ReplicaHost } from '../../workers/core/host.ts';
import type { HostOptions, PeerTransport } from '../../workers/core/host.ts';
import { SqliteStore } from '../../workers/node/sqlite-store.ts';
import { encodeStampEntry } from '../../shared/app/notary.ts';
import { Session } from 'node:inspector/promises';

/** A V8 CPU profile of this process (SINTRA_BENCH_PROFILE=file.cpuprofile: the catch-up only, for DevTools). */
async function startProfile(): Promise<{ stopInto(path: string): Promise<void> }> {
  const session = new Session();
  session.connect();
  await session.post('Profiler.enable');
  await session.post('Profiler.start');
  return {
    async stopInto(path: string) {
      const { profile } = await session.post('Profiler.stop');
      writeFileSync(path, JSON.stringify(profile));
      session.disconnect();
      process.stderr.write(`  CPU profile of the catch-up written to ${path}\n`);
    },
  };
}

const total = Number(process.argv[2] ?? 100_000);
const perRound = Number(process.argv[3] ?? 1000);
const kind = process.argv[4] ?? 'plain';
if (kind !== 'plain' && kind !== 'notary') throw new Error(`kind must be plain or notary, not ${kind}`);
const request = (): Uint8Array => (kind === 'notary' ? encodeStampEntry({ digest: randomBytes(32).toString('hex') }) : new Uint8Array(randomBytes(100)));

const dealt = deal(thresholdStructure(4, 1), seededRandom('bench-transfer'), { testOnly: true });
const group = parseGroup(JSON.parse(JSON.stringify(dealt.group)));
const sim = { group, secrets: dealt.secrets.map((x) => parseReplicaSecrets(x, group)) };
const dirs = sim.secrets.map(() => mkdtempSync(join(tmpdir(), 'sintra-transfer-')));
const stores = await Promise.all(dirs.map((d) => SqliteStore.open(d)));
let clock = 1_000_000;
const down = new Set<number>([3]);
const hosts: ReplicaHost[] = [];
const options = (): HostOptions => ({ bootstrap: true, retryMinMs: 1, retryMaxMs: 10, deferRetryMs: 1 });
const transport = (i: number): PeerTransport => ({
  post: async (to, frame) => {
    if (down.has(to) || down.has(i)) throw new Error('connection refused');
    const r = await hosts[to]!.receiveFrame(frame);
    return { status: r.status, body: r.body };
  },
  get: async (to, path) => {
    if (down.has(to) || down.has(i)) throw new Error('connection refused');
    const res = await replicaApp(hosts[to]!, { now: () => clock, afterChange: () => undefined }).request(path);
    return { status: res.status, body: (await res.json()) as unknown };
  },
});
let transferred = 0;
let chunks = 0;
const log = (line: string) => {
  const l = JSON.parse(line) as { event: string; entries?: number };
  if (l.event === 'state-transfer') {
    transferred += l.entries ?? 0;
    chunks++;
  }
};
for (let i = 0; i < 4; i++) hosts.push(new ReplicaHost(sim.group, sim.secrets[i]!, stores[i]!, transport(i), () => clock, { ...options(), log }));
for (const h of hosts) await h.init();
const up = () => hosts.filter((_, i) => !down.has(i));
const settle = async (): Promise<void> => {
  for (let round = 0; round < 100_000; round++) {
    await Promise.all(up().map((h) => h.flush()));
    if (!hosts.some((h, i) => !down.has(i) && h.outboxSizes().some((x, j) => x > 0 && !down.has(j)))) return;
    clock += 20;
  }
  throw new Error('did not settle');
};
const outboxFor3 = () => Math.max(...[0, 1, 2].map((i) => (hosts[i]!.metrics().outbox[3] ?? 0)));

const t0 = performance.now();
let submitted = 0;
let maxOutbox = 0;
while (submitted < total) {
  for (let i = 0; i < 3 && submitted < total; i++) {
    const k = Math.min(perRound, total - submitted);
    await hosts[i]!.submitMany(Array.from({ length: k }, () => ({ bytes: request(), encrypted: false })));
    submitted += k;
  }
  await settle();
  maxOutbox = Math.max(maxOutbox, outboxFor3());
  process.stderr.write(`  ${hosts[0]!.logSize} of ${total} ordered without replica 3 (${Math.round((performance.now() - t0) / 1000)} s)\n`);
}
const size = hosts[0]!.logSize;
const trimmed = hosts[0]!.metrics().trimmedMessages;
console.log(JSON.stringify({ what: 'ordered-without-3', kind, entries: size, epochs: hosts[0]!.metrics().engine.epoch, seconds: Math.round((performance.now() - t0) / 1000), outboxMessagesFor3Max: maxOutbox, trimmedByReplica0: trimmed }));

// Replica 3 comes back: it sees the gaps in the peers' frames, asks a peer and transfers.
down.delete(3);
const profile = process.env['SINTRA_BENCH_PROFILE'] ? await startProfile() : null;
const t1 = performance.now();
for (let k = 0; k < 100_000 && hosts[3]!.logSize < size; k++) {
  clock += 1000;
  await Promise.all(hosts.map((h) => h.flush()));
}
const transferMs = performance.now() - t1;
if (profile) await profile.stopInto(process.env['SINTRA_BENCH_PROFILE']!);
if (hosts[3]!.logSize !== size) throw new Error(`replica 3 has ${hosts[3]!.logSize} entries of ${size}`);
// `transferred`: entries taken by state transfer (the rest came as protocol messages from the outboxes).
console.log(
  JSON.stringify({ what: 'catch-up', kind, entries: size, transferred, transfers: chunks, ms: Math.round(transferMs), entriesPerSecond: Math.round(size / (transferMs / 1000)), entryMBPerSecond: Math.round(((size * 100) / 2 ** 20 / (transferMs / 1000)) * 10) / 10 }),
);

// Restart time: a new host on replica 0's storage (its own folder), as a process restart does.
for (const s of stores) await s.close();
{
  const t = performance.now();
  const store = await SqliteStore.open(dirs[0]!);
  const h = new ReplicaHost(sim.group, sim.secrets[0]!, store, transport(0), () => clock, options());
  await h.init();
  console.log(JSON.stringify({ what: 'restart', kind, entries: h.logSize, ms: Math.round(performance.now() - t), replayedEvents: h.metrics().replayedEvents }));
  await store.close();
}
for (const d of dirs) rmSync(d, { recursive: true, force: true });
