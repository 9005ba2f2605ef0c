/**
 * Summarizes a V8 .cpuprofile (node --cpu-prof): top functions by self time and by inclusive time, and
 * self time by source file. Usage:
 *
 *   node --cpu-prof --cpu-prof-dir=/tmp/prof --import tsx infra/bench/inprocess.ts 4 16384 12 4096
 *   npx tsx infra/bench/profile-summary.ts /tmp/prof/CPU.*.cpuprofile [--top 25] [--callers sha256,combineCoin]
 *
 * --callers F: for each named function, the time spent in it (with its callees) split by its callers'
 * chains (3 frames up).
 */
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  hitCount?: number;
  children?: number[];
}

interface Profile {
  nodes: ProfileNode[];
  startTime: number;
  endTime: number;
  samples: number[];
  timeDeltas: number[];
}

export interface ProfileRow {
  name: string;
  ms: number;
  share: number;
}

export interface ProfileSummary {
  total_ms: number;
  self: ProfileRow[];
  inclusive: ProfileRow[];
  files: ProfileRow[];
}

function shortUrl(url: string): string {
  const u = url.replace(/^file:\/\//, '');
  const nm = u.lastIndexOf('node_modules/');
  if (nm >= 0) return u.slice(nm + 'node_modules/'.length);
  const repo = u.search(/\/(shared|workers|infra|test)\//);
  return repo >= 0 ? u.slice(repo + 1) : u || '(native)';
}

export function summarize(p: Profile, top = 25): ProfileSummary {
  const byId = new Map(p.nodes.map((n) => [n.id, n]));
  const parent = new Map<number, number>();
  for (const n of p.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const selfMs = new Map<number, number>();
  for (let i = 0; i < p.samples.length; i++) {
    const dt = (p.timeDeltas[i + 1] ?? 0) / 1000;
    selfMs.set(p.samples[i]!, (selfMs.get(p.samples[i]!) ?? 0) + dt);
  }
  const key = (n: ProfileNode) => `${n.callFrame.functionName || '(anonymous)'} ${shortUrl(n.callFrame.url)}:${n.callFrame.lineNumber + 1}`;
  const self = new Map<string, number>();
  const incl = new Map<string, number>();
  const files = new Map<string, number>();
  let total = 0;
  for (const [id, ms] of selfMs) {
    const n = byId.get(id)!;
    total += ms;
    const k = key(n);
    self.set(k, (self.get(k) ?? 0) + ms);
    const f = shortUrl(n.callFrame.url);
    files.set(f, (files.get(f) ?? 0) + ms);
    // Inclusive: charge every distinct function on the stack once.
    const seen = new Set<string>();
    for (let cur: number | undefined = id; cur !== undefined; cur = parent.get(cur)) {
      const kk = key(byId.get(cur)!);
      if (seen.has(kk)) continue;
      seen.add(kk);
      incl.set(kk, (incl.get(kk) ?? 0) + ms);
    }
  }
  const rows = (m: Map<string, number>) =>
    [...m]
      .sort((a, b) => b[1] - a[1])
      .slice(0, top)
      .map(([name, ms]) => ({ name, ms: Math.round(ms), share: Math.round((ms / total) * 1000) / 10 }));
  return { total_ms: Math.round(total), self: rows(self), inclusive: rows(incl), files: rows(files) };
}

/** Time inside function `name` (self + callees), split by the chain of its `depth` nearest callers. */
export function callers(p: Profile, name: string, depth = 3, top = 12): ProfileRow[] {
  const byId = new Map(p.nodes.map((n) => [n.id, n]));
  const parent = new Map<number, number>();
  for (const n of p.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const agg = new Map<string, number>();
  let total = 0;
  for (let i = 0; i < p.samples.length; i++) {
    const ms = (p.timeDeltas[i + 1] ?? 0) / 1000;
    total += ms;
    let cur: number | undefined = p.samples[i]!;
    while (cur !== undefined && byId.get(cur)!.callFrame.functionName !== name) cur = parent.get(cur);
    if (cur === undefined) continue;
    const chain: string[] = [];
    for (let c = parent.get(cur), d = 0; c !== undefined && d < depth; c = parent.get(c), d++) chain.push(byId.get(c)!.callFrame.functionName || '(anonymous)');
    const k = `${name} < ${chain.join(' < ')}`;
    agg.set(k, (agg.get(k) ?? 0) + ms);
  }
  return [...agg]
    .sort((a, b) => b[1] - a[1])
    .slice(0, top)
    .map(([k, ms]) => ({ name: k, ms: Math.round(ms), share: Math.round((ms / total) * 1000) / 10 }));
}

if (process.argv[1]?.endsWith('profile-summary.ts')) {
  const { values, positionals } = parseArgs({ allowPositionals: true, options: { top: { type: 'string', default: '25' }, json: { type: 'boolean', default: false }, callers: { type: 'string' } } });
  for (const file of positionals) {
    const prof = JSON.parse(readFileSync(file, 'utf8')) as Profile;
    if (values.callers) {
      for (const name of values.callers.split(',')) {
        console.log(`\n  callers of ${name}`);
        for (const r of callers(prof, name)) console.log(`  ${String(r.ms).padStart(8)} ms ${String(r.share).padStart(5)}%  ${r.name}`);
      }
      continue;
    }
    const s = summarize(prof, Number(values.top));
    if (values.json) {
      console.log(JSON.stringify(s, null, 2));
      continue;
    }
    console.log(`${file}: ${s.total_ms} ms sampled`);
    for (const [title, rows] of [
      ['self time', s.self],
      ['inclusive time', s.inclusive],
      ['self time by file', s.files],
    ] as const) {
      console.log(`\n  ${title}`);
      for (const r of rows) console.log(`  ${String(r.ms).padStart(8)} ms ${String(r.share).padStart(5)}%  ${r.name}`);
    }
  }
}
